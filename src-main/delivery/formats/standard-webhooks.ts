/**
 * Standard Webhooks signing (https://www.standardwebhooks.com, spec v1): the secret is
 * `whsec_` + base64 of the key bytes; the signed content is `<webhook-id>.<webhook-timestamp>.<body>`,
 * HMAC-SHA256 with the key bytes, sent as `webhook-signature: v1,<base64>` — two of them,
 * space-separated, during a secret rotation. `webhook-id` is the event id, so it is the
 * same across retries and replays and receivers de-duplicate on it.
 */
import { createHmac, randomBytes } from 'node:crypto';

export const SECRET_PREFIX = 'whsec_';
/** The spec asks for 24–64 bytes of key. */
const KEY_MIN_BYTES = 24;
const KEY_MAX_BYTES = 64;

/** A new secret in the spec's form (32 random bytes). */
export function generateWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

/** Why `secret` is not a Standard Webhooks secret, or null. */
export function webhookSecretError(secret: string): string | null {
  if (!secret.startsWith(SECRET_PREFIX)) return `a Standard Webhooks secret starts with ${SECRET_PREFIX} (leave it blank to generate one)`;
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) return `after ${SECRET_PREFIX}, a Standard Webhooks secret is base64`;
  const bytes = Buffer.from(encoded, 'base64').length;
  if (bytes < KEY_MIN_BYTES || bytes > KEY_MAX_BYTES) return `a Standard Webhooks key is ${KEY_MIN_BYTES}–${KEY_MAX_BYTES} bytes (this one is ${bytes})`;
  return null;
}

function keyOf(secret: string): Buffer {
  return Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
}

export function signature(secret: string, id: string, timestamp: number, body: Uint8Array): string {
  const mac = createHmac('sha256', keyOf(secret));
  mac.update(`${id}.${timestamp}.`);
  mac.update(body);
  return `v1,${mac.digest('base64')}`;
}

/** The three headers of the spec, for one attempt at `nowMs`. */
export function standardWebhookHeaders(options: {
  secret: string;
  previousSecret: string | null;
  id: string;
  body: Uint8Array;
  nowMs: number;
}): Record<string, string> {
  const timestamp = Math.floor(options.nowMs / 1000);
  const signatures = [signature(options.secret, options.id, timestamp, options.body)];
  if (options.previousSecret) signatures.push(signature(options.previousSecret, options.id, timestamp, options.body));
  return {
    'webhook-id': options.id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signatures.join(' '),
  };
}
