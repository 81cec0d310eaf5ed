/**
 * Why a dial to the bus failed, in words that name the fix (docs/design.md#bus-connection).
 *
 * nats-core reports every failed WebSocket dial as "connection refused", whether nothing
 * listens, a plain NATS port or some other HTTP server answered, TLS was expected on one
 * side only, or the host does not exist. The socket itself knew which: `NatsBus` keeps
 * what each socket of a dial saw (its error, or the HTTP answer that was not an upgrade)
 * and these pure functions turn that into the bus status's `lastError`. Each message
 * starts with the server and says what to change: the URL, the `websocket {}` block of
 * nats-server's config (the README's `nats.conf`), the TLS settings, the credentials, or
 * `npm run demo` when there is no bus at all.
 */

/** What one socket of a failed dial saw. */
export type SocketObservation =
  | {
      url: string;
      /** The socket's own error: `code` as Node sets it, `rawPacket` the bytes an HTTP parse error stopped at. */
      error: { code?: string | undefined; message: string; rawPacket?: Uint8Array | undefined };
    }
  | {
      url: string;
      /** An HTTP answer that is not a WebSocket upgrade: its status and the start of its body. */
      response: { status: number; body: string };
    };

/** The settings a diagnosis names in its fix. */
interface DiagnosisOptions {
  caFile?: string | undefined;
  clientCertFile?: string | undefined;
  token?: string | undefined;
  user?: string | undefined;
  credsFile?: string | undefined;
}

/** A dial that failed before NATS spoke: the message names the server, the cause and the fix. */
export class BusDialError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BusDialError';
  }
}

/** A TLS handshake with a bus server that failed. */
export class BusTlsError extends BusDialError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BusTlsError';
  }
}

/** The server refused Sluice's credentials (or asked for some and got none). */
export class BusAuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BusAuthError';
  }
}

/** The port the README's `nats.conf` gives the WebSocket listener. */
const README_WS_PORT = 9222;
const WEBSOCKET_BLOCK = `the port of the server's \`websocket { listen: … }\` block (${README_WS_PORT} in the README's nats.conf)`;
/** What Go's TLS listener (nats-server's) answers to plain HTTP. */
const HTTPS_SERVER_ANSWER = /HTTP request to an HTTPS server/i;

// The chain does not lead to a trusted CA: what a private CA looks like to the system store.
const UNTRUSTED_CHAIN = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
]);

// The server's alert about the certificate Sluice presented (or did not present).
const CLIENT_CERT_REFUSED = /ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED)$/;

/** A TLS record where plain bytes were expected, or the reverse: one side speaks TLS, the other does not. */
const WRONG_VERSION = /wrong version number|WRONG_VERSION_NUMBER|packet length too long|http request/i;

/** Whether a socket error is about TLS (the handshake, the certificates, or TLS against a plain listener). */
export function isTlsError(error: { code?: string | undefined; message: string }): boolean {
  const code = error.code ?? '';
  if (/^ERR_(SSL|TLS)_|CERT|SELF_SIGNED|^UNABLE_TO_|^HOSTNAME_MISMATCH$/.test(code)) return true;
  return code === 'EPROTO' && /SSL routines|wrong version number/i.test(error.message);
}

/** `host:port` of a bus URL, with the scheme's default port when it has none. */
function hostPort(url: string): { host: string; hostname: string; secure: boolean } {
  try {
    const parsed = new URL(url);
    const secure = parsed.protocol === 'wss:';
    const port = parsed.port || (secure ? '443' : '80');
    return { host: `${parsed.hostname}:${port}`, hostname: parsed.hostname.replace(/^\[|\]$/g, ''), secure };
  } catch {
    return { host: url, hostname: url, secure: url.startsWith('wss:') };
  }
}

/** The diagnosis of one socket's failure; a TLS failure is a {@link BusTlsError}. */
export function diagnoseSocketFailure(seen: SocketObservation, options: DiagnosisOptions = {}): BusDialError {
  const server = seen.url.replace(/\/$/, '');
  const { host, hostname, secure } = hostPort(seen.url);
  if ('response' in seen) {
    const { status, body } = seen.response;
    if (HTTPS_SERVER_ANSWER.test(body))
      return new BusTlsError(
        `TLS: ${server}: the listener at ${host} expects TLS (it answered "${body.trim().slice(0, 80)}"): ` +
          `use wss://${host}${options.caFile ? '' : ', with natsCaFile if a private CA signed its certificate'}`,
      );
    return new BusDialError(
      `${server}: an HTTP server answered at ${host} (HTTP ${status}) but it is not a NATS WebSocket listener: ` +
        `point the URL at ${WEBSOCKET_BLOCK}`,
    );
  }
  const { error } = seen;
  const code = error.code ?? '';
  if (isTlsError(error)) return describeTlsFailure(server, host, error, options, secure);
  if (code.startsWith('HPE_')) {
    const first = error.rawPacket ? Buffer.from(error.rawPacket).subarray(0, 5).toString('latin1') : '';
    if (first === 'INFO ')
      return new BusDialError(
        `${server}: ${host} answers with the NATS client protocol: it is nats-server's plain client port, not its WebSocket ` +
          `listener. Point the URL at ${WEBSOCKET_BLOCK}; if its config has no such block, add one`,
        { cause: error },
      );
    return new BusDialError(
      `${server}: ${host} answers, but not with HTTP (${code}): it is not a NATS WebSocket listener. ` +
        `Point the URL at ${WEBSOCKET_BLOCK}`,
      { cause: error },
    );
  }
  switch (code) {
    case 'ECONNREFUSED':
      return new BusDialError(
        `${server}: nothing is listening at ${host} (connection refused). Start nats-server with a WebSocket listener ` +
          `there: a \`websocket { listen: "${host}", ${secure ? 'tls { cert_file: …, key_file: … }' : 'no_tls: true'} }\` block ` +
          'in its config, as in the README\'s nats.conf (`nats-server -c nats.conf`); or try `npm run demo`, which runs its own bus',
        { cause: error },
      );
    case 'ENOTFOUND':
      return new BusDialError(`${server}: the host "${hostname}" was not found (ENOTFOUND): check the host name in the bus URL`, { cause: error });
    case 'EAI_AGAIN':
      return new BusDialError(
        `${server}: the host name "${hostname}" could not be resolved now (EAI_AGAIN: the DNS did not answer): ` +
          "check the name and this machine's DNS",
        { cause: error },
      );
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ETIMEDOUT':
      return new BusDialError(`${server}: ${host} cannot be reached (${code}): check the address in the bus URL and the network to it`, { cause: error });
    case 'ECONNRESET':
      return new BusDialError(
        `${server}: ${host} closed the connection during the WebSocket handshake (ECONNRESET): it is not a NATS WebSocket ` +
          `listener, or it refused this client. Point the URL at ${WEBSOCKET_BLOCK}`,
        { cause: error },
      );
    default:
      return new BusDialError(`${server}: ${error.message.split('\n', 1)[0] ?? error.message}`, { cause: error });
  }
}

function describeTlsFailure(
  server: string,
  host: string,
  error: { code?: string | undefined; message: string },
  options: DiagnosisOptions,
  secure: boolean,
): BusTlsError {
  const code = error.code ?? '';
  // OpenSSL's own text ("8010…:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:…") cut to its reason.
  const reason = /^[^:]*?[0-9A-F]+:error:[0-9A-F]+:[^:]*:[^:]*:([^:\n]+)/.exec(error.message)?.[1] ?? error.message.split('\n', 1)[0] ?? '';
  const why = `${reason}${code && !reason.includes(code) ? ` (${code})` : ''}`;
  if (secure && WRONG_VERSION.test(`${code} ${reason}`))
    return new BusTlsError(
      `TLS: ${server}: the server at ${host} does not speak TLS (${why}): it is a WebSocket listener with no_tls, or not a ` +
        `WebSocket listener at all. Use ws://${host}, or give the listener a \`tls { cert_file: …, key_file: … }\` block`,
      { cause: error },
    );
  if (UNTRUSTED_CHAIN.has(code)) {
    const hint = options.caFile
      ? `the CA file ${options.caFile} (natsCaFile) does not hold the CA that signed it`
      : `if a private CA signed it, set natsCaFile to that CA's PEM file`;
    return new BusTlsError(`TLS: ${server}: server certificate not trusted: ${why}; ${hint}`, { cause: error });
  }
  if (CLIENT_CERT_REFUSED.test(code)) {
    const hint = options.clientCertFile
      ? `the server does not accept the client certificate ${options.clientCertFile} (natsClientCertFile)`
      : 'the server asks for a client certificate: set natsClientCertFile and natsClientKeyFile';
    return new BusTlsError(`TLS: ${server}: client certificate refused by the server: ${why}; ${hint}`, { cause: error });
  }
  return new BusTlsError(`TLS: ${server}: ${why}`, { cause: error });
}

/**
 * The server refused the connection at NATS level (`-ERR 'Authorization Violation'`):
 * what Sluice sent, and which settings to change.
 */
export function diagnoseAuthRefusal(serverMessage: string, options: DiagnosisOptions = {}): BusAuthError {
  const said = serverMessage.replace(/^'|'$/g, '').trim() || 'authorization refused';
  const sent = [
    options.token ? 'the token (natsToken)' : null,
    options.user ? `user "${options.user}" and its password (natsUser, natsPassword)` : null,
    options.credsFile ? `the credentials in ${options.credsFile} (natsCredsFile)` : null,
  ].filter((part): part is string => part !== null);
  const fix = 'natsToken, or natsUser and natsPassword, or natsCredsFile';
  if (sent.length === 0)
    return new BusAuthError(
      `the bus server requires authentication (${said}) and none is configured: set ${fix} to what the server's authorization block expects`,
    );
  return new BusAuthError(
    `the bus server refused ${sent.join(' and ')} (${said}): set ${fix} to what the server's authorization block expects`,
  );
}

/** One line for several servers' failures (each names its server), in the order they were tried. */
export function combineDiagnoses(errors: BusDialError[]): BusDialError {
  if (errors.length === 1) return errors[0] as BusDialError;
  const message = errors.map((e) => e.message).join(' | ');
  return errors.every((e) => e instanceof BusTlsError) ? new BusTlsError(message) : new BusDialError(message);
}
