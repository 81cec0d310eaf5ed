/**
 * A receiver's answer read as the attempt records it: the first characters of the decoded
 * body (bounded, and never inflated whole: a compression bomb stays small), the status as
 * an error text, and Retry-After.
 */
import { pipeline, type Readable, type Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

const EXCERPT_CHARS = 1024;
// UTF-8 needs at most 4 bytes per character.
const EXCERPT_BYTES = EXCERPT_CHARS * 4;

/**
 * Reads at most `maxBytes` of the decoded body and returns its first characters.
 * A body that decodes beyond the cap is destroyed (the connection is dropped); the
 * decoder is streamed with backpressure, so a compression bomb never inflates in memory.
 * A body that cannot be decoded yields what was decoded so far: the status still counts.
 */
export async function readExcerpt(body: Readable, contentEncoding: string | null, maxBytes: number): Promise<string> {
  return cutExcerpt(await readAnswer(body, contentEncoding, maxBytes, EXCERPT_BYTES));
}

/**
 * Reads at most `maxBytes` of the decoded body and keeps its first `keepBytes` as text
 * (a bulk API's per-item answer is read whole, up to the client's cap). Same bounds as
 * {@link readExcerpt}.
 */
export async function readAnswer(body: Readable, contentEncoding: string | null, maxBytes: number, keepBytes: number): Promise<string> {
  // A failure spreads through the whole pipeline; the stream that failed first says why.
  let firstFailure: 'transport' | 'decoding' | null = null;
  body.once('error', () => (firstFailure ??= 'transport'));
  const decoders = decodersFor(contentEncoding);
  for (const decoder of decoders) decoder.once('error', () => (firstFailure ??= 'decoding'));
  const decoded = decoders.reduce<Readable>((stream, decoder) => pipeline(stream, decoder, () => undefined), body);
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let total = 0;
  try {
    for await (const chunk of decoded) {
      const buffer = chunk as Buffer;
      total += buffer.length;
      if (keptBytes < keepBytes) {
        const slice = buffer.subarray(0, keepBytes - keptBytes);
        kept.push(slice);
        keptBytes += slice.length;
      }
      if (total > maxBytes) break;
    }
  } catch (error) {
    if (firstFailure !== 'decoding') throw error;
  } finally {
    if (!body.readableEnded) body.destroy();
    if (!decoded.destroyed) decoded.destroy();
  }
  return new TextDecoder('utf-8', { fatal: false }).decode(Buffer.concat(kept));
}

function decodersFor(contentEncoding: string | null): Transform[] {
  if (contentEncoding === null) return [];
  const codings = contentEncoding
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
  // Codings are listed in the order they were applied, so they are undone in reverse.
  const decoders: Transform[] = [];
  for (const coding of codings.reverse()) {
    const decoder = decoderFor(coding);
    if (decoder === null) return [];
    decoders.push(decoder);
  }
  return decoders;
}

function decoderFor(coding: string): Transform | null {
  switch (coding) {
    case 'gzip':
    case 'x-gzip':
      return createGunzip();
    case 'deflate':
      return createInflate();
    case 'br':
      return createBrotliDecompress();
    default:
      return null;
  }
}

/** The first characters of an answer, as recorded. */
export function cutExcerpt(text: string): string {
  if (text.length <= EXCERPT_CHARS) return text;
  // Cut on a code point boundary, never between the halves of a surrogate pair.
  let excerpt = '';
  for (const char of text) {
    if (excerpt.length + char.length > EXCERPT_CHARS) break;
    excerpt += char;
  }
  return excerpt;
}

export function statusError(statusCode: number): string | null {
  if (statusCode >= 200 && statusCode < 300) return null;
  // Redirects are never followed: a receiver that moved must be updated by the analyst.
  if (statusCode >= 300 && statusCode < 400) return `redirect ${statusCode} not followed`;
  return `http ${statusCode}`;
}

/** Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3); null when absent or malformed. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  if (value === null) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at) || !/[a-z]/i.test(trimmed)) return null;
  return Math.max(0, at - now);
}
