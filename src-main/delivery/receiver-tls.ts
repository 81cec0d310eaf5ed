/**
 * A subscription's own TLS material for its receiver: a CA bundle trusted instead of the
 * system CAs, and a client certificate with its key for receivers that require mutual
 * TLS. The files are checked when the subscription is saved (`checkReceiverTls`) and read
 * again by the delivery client whenever they change (`loadReceiverTls`), with the same
 * checks as the bus's TLS files (tls/pem-files.ts).
 */
import { TlsFileError, checkClientPair, readCaBundle, readClientCertificate, readClientKey } from '../tls/pem-files';

/** Absolute paths of PEM files; '' = not set. */
export interface ReceiverTls {
  caFile: string;
  clientCert: string;
  clientKey: string;
}

export type ReceiverTlsField = keyof ReceiverTls;

/** What the TLS connection to the receiver uses; an absent CA means the system CAs. */
export interface ReceiverTlsMaterial {
  ca?: string;
  cert?: string;
  key?: string;
}

/** A save-time problem with one of the files, naming the field it belongs to. */
export interface ReceiverTlsProblem {
  field: ReceiverTlsField;
  message: string;
}

/** True when any of the three is set. */
export function hasReceiverTls(tls: ReceiverTls | undefined): tls is ReceiverTls {
  return tls !== undefined && (tls.caFile !== '' || tls.clientCert !== '' || tls.clientKey !== '');
}

/** The first problem with the files, or null when they can be used. */
export function checkReceiverTls(tls: ReceiverTls): ReceiverTlsProblem | null {
  try {
    loadReceiverTls(tls);
    return null;
  } catch (error) {
    if (error instanceof ReceiverTlsError) return { field: error.field, message: error.message };
    throw error;
  }
}

/** A receiver TLS file that cannot be used; `field` says which setting of the subscription. */
export class ReceiverTlsError extends TlsFileError {
  constructor(
    readonly field: ReceiverTlsField,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ReceiverTlsError';
  }
}

/** Reads and checks the files; throws a ReceiverTlsError naming the field and the file. */
export function loadReceiverTls(tls: ReceiverTls): ReceiverTlsMaterial {
  const material: ReceiverTlsMaterial = {};
  if (tls.caFile !== '') material.ca = inField('caFile', () => readCaBundle(tls.caFile));
  // A certificate without its key (or the reverse) could never complete a handshake.
  if (tls.clientCert !== '' && tls.clientKey === '')
    throw new ReceiverTlsError('clientKey', `a client certificate needs its key: set the client key file for ${tls.clientCert}`);
  if (tls.clientKey !== '' && tls.clientCert === '')
    throw new ReceiverTlsError('clientCert', `a client key needs its certificate: set the client certificate file for ${tls.clientKey}`);
  if (tls.clientCert === '') return material;
  const cert = inField('clientCert', () => readClientCertificate(tls.clientCert));
  const key = inField('clientKey', () => readClientKey(tls.clientKey));
  inField('clientKey', () => checkClientPair(cert, key, tls.clientCert, tls.clientKey));
  material.cert = cert;
  material.key = key;
  return material;
}

function inField<T>(field: ReceiverTlsField, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof TlsFileError) throw new ReceiverTlsError(field, error.message, { cause: error });
    throw error;
  }
}
