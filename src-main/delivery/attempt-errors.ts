/**
 * Why an attempt failed, in one short line for the log: the connect-time refusals of the
 * guarded lookup, the attempt's deadline, proxy and receiver-TLS failures, and socket
 * errors by their code (`ECONNREFUSED connection refused (127.0.0.1:41234)`).
 */
import { isIP } from 'node:net';
import { ProxyError } from './proxy';
import { ReceiverTlsError } from './receiver-tls';

const MAX_ERROR_CHARS = 300;

export class ForbiddenDestinationError extends Error {
  readonly code = 'ERR_FORBIDDEN_DESTINATION';
  override readonly name = 'ForbiddenDestinationError';
}

export class UnresolvableDestinationError extends Error {
  readonly code = 'ERR_UNRESOLVABLE_DESTINATION';
  override readonly name = 'UnresolvableDestinationError';
}

export class AttemptTimeoutError extends Error {
  readonly code = 'ERR_ATTEMPT_TIMEOUT';
  override readonly name = 'AttemptTimeoutError';
}

export function rootCause(error: unknown): unknown {
  let current = error;
  for (let depth = 0; depth < 5; depth += 1) {
    if (
      current instanceof ForbiddenDestinationError ||
      current instanceof AttemptTimeoutError ||
      current instanceof ProxyError ||
      current instanceof ReceiverTlsError
    )
      return current;
    const next = (current as { cause?: unknown } | null)?.cause;
    if (next === undefined || next === null) return current;
    current = next;
  }
  return current;
}

export function isUndiciTimeout(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || error instanceof AttemptTimeoutError;
}

export function errorCode(error: unknown): string | null {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : null;
}

export function errorAddress(error: unknown): string | null {
  const address = (error as { address?: unknown } | null)?.address;
  return typeof address === 'string' && isIP(address) !== 0 ? address : null;
}

const ERROR_PHRASES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by peer',
  EPIPE: 'connection closed while sending',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EAI_AGAIN: 'temporary DNS failure',
  ENOTFOUND: 'host not found',
  UND_ERR_SOCKET: 'connection closed by the receiver',
  UND_ERR_CONNECT_TIMEOUT: 'connect timeout',
};

/** `ECONNREFUSED connection refused (127.0.0.1:41234)`, `CERT_HAS_EXPIRED certificate has expired`, … */
export function networkErrorText(error: unknown): string {
  if (error instanceof UnresolvableDestinationError) return error.message.slice(0, MAX_ERROR_CHARS);
  if (error instanceof ReceiverTlsError) return `receiver TLS: ${error.message}`.slice(0, MAX_ERROR_CHARS);
  if (error instanceof ProxyError) {
    const cause = error.cause === undefined ? '' : `: ${networkErrorText(error.cause)}`;
    return `${error.message}${cause}`.slice(0, MAX_ERROR_CHARS);
  }
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  const phrase = code === null ? message : `${code} ${ERROR_PHRASES[code] ?? message}`;
  const address = errorAddress(error);
  const port = (error as { port?: unknown } | null)?.port;
  const host = address !== null && isIP(address) === 6 ? `[${address}]` : address;
  const where = host === null ? '' : ` (${host}${typeof port === 'number' ? `:${port}` : ''})`;
  return `${phrase}${where}`.slice(0, MAX_ERROR_CHARS);
}
