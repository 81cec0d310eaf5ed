/**
 * The signing vectors from the reference implementation (test/fixtures/signing-vectors.json,
 * a byte-for-byte copy): the events, their canonical bodies and signatures. Read as they are.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { WireEvent } from '../../src-main/delivery/wire';

export interface SigningVector {
  name: string;
  secret: string;
  event: WireEvent;
  body_utf8: string;
  body_base64: string;
  signature: string;
}

export const SIGNING_VECTORS = JSON.parse(readFileSync(resolve(__dirname, '../fixtures/signing-vectors.json'), 'utf8')) as SigningVector[];
