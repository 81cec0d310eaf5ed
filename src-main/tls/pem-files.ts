/**
 * PEM files for TLS (a private CA bundle, a client certificate and its key), read and
 * checked synchronously: the `wss://` bus's settings and a receiver's TLS material
 * (delivery/receiver-tls.ts) both use them, so the same checks refuse a change before it
 * is saved and explain a failed connection when a file changed since. Each error names
 * the file and what is wrong with it.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';

/** Larger than any real CA bundle (the system one is ~220 KB); keeps a wrong path (a device, a log) from being slurped. */
const MAX_TLS_FILE_BYTES = 4 * 1024 * 1024;
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const PEM_PRIVATE_KEY = /-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----[\s\S]*?-----END \1-----/;

/** A TLS file (CA, client certificate or key) that cannot be used; the message names the file and what is wrong. */
export class TlsFileError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TlsFileError';
  }
}

/**
 * An absolute path to a readable regular file of a sane size, read as text. Synchronous
 * (a few KB), so a settings change can be refused before anything is saved.
 */
function readTlsFile(path: string, what: string): string {
  if (!isAbsolute(path)) throw new TlsFileError(`${what} "${path}" must be an absolute path`);
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new TlsFileError(`${what} ${path} is not a regular file`);
    if (stat.size > MAX_TLS_FILE_BYTES) throw new TlsFileError(`${what} ${path} is larger than 4 MiB: not a PEM file`);
    return readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof TlsFileError) throw error;
    throw new TlsFileError(`${what} ${path} ${fileProblem(error)}`, { cause: error });
  }
}

/** Every certificate of a PEM file, each checked to parse; at least one. */
function readCertificates(path: string, what: string): string {
  const blocks = readTlsFile(path, what).match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new TlsFileError(`${what} ${path} is not a PEM certificate file (no "-----BEGIN CERTIFICATE-----" block)`);
  blocks.forEach((block, index) => {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw new TlsFileError(`${what} ${path}: certificate ${index + 1} of ${blocks.length} is not a valid X.509 certificate (${errorMessage(error)})`, { cause: error });
    }
  });
  return blocks.join('\n');
}

/** A PEM bundle of CA certificates (`natsCaFile`, a receiver's CA file). */
export function readCaBundle(path: string): string {
  return readCertificates(path, 'CA file');
}

/** A PEM client certificate, its chain after it if any (`natsClientCertFile`, a receiver's client certificate). */
export function readClientCertificate(path: string): string {
  return readCertificates(path, 'client certificate file');
}

/** An unencrypted PEM private key (`natsClientKeyFile`, a receiver's client key): Sluice runs unattended, with no one to type a passphrase. */
export function readClientKey(path: string): string {
  const pem = PEM_PRIVATE_KEY.exec(readTlsFile(path, 'client key file'))?.[0];
  if (!pem) throw new TlsFileError(`client key file ${path} is not a PEM private key (no "-----BEGIN PRIVATE KEY-----" block)`);
  try {
    createPrivateKey(pem);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_MISSING_PASSPHRASE' || pem.includes('ENCRYPTED'))
      throw new TlsFileError(`client key file ${path} is encrypted; Sluice needs it without a passphrase (protect it by file permissions)`);
    throw new TlsFileError(`client key file ${path} is not a valid private key (${errorMessage(error)})`, { cause: error });
  }
  return pem;
}

/** The key must be the certificate's own, or every handshake would fail. */
export function checkClientPair(certPem: string, keyPem: string, certPath: string, keyPath: string): void {
  // The first certificate of the file is the client's own; any after it are its chain.
  const leaf = new X509Certificate(certPem.match(PEM_CERTIFICATE)?.[0] ?? certPem);
  if (!leaf.checkPrivateKey(createPrivateKey(keyPem)))
    throw new TlsFileError(`client key file ${keyPath} is not the key of the client certificate ${certPath}`);
}

function fileProblem(error: unknown): string {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return 'does not exist';
    case 'EACCES':
    case 'EPERM':
      return 'cannot be read (permission denied)';
    case 'ENOTDIR':
      return 'does not exist (a folder on its path is a file)';
    case 'EISDIR':
      return 'is a folder, not a file';
    default:
      return `cannot be read (${errorMessage(error)})`;
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
