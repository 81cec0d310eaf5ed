/**
 * Vitest setup file: each test file gets its own config folder (SLUICE_CONFIG_DIR) and
 * no OS key store (SLUICE_KEY_STORE=file), so a headless run a test starts finds its
 * default key there: never in the real ~/.config, never in the developer's keychain.
 * The key is there from the start, as on a machine where Sluice already ran, so no
 * command's output depends on being the file's first (test/integration/secrets.test.ts gives its
 * runs empty folders of their own to test the first run). Processes the tests start
 * inherit both variables.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'sluice-config-'));
writeFileSync(join(dir, 'secret.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
process.env['SLUICE_CONFIG_DIR'] = dir;
process.env['SLUICE_KEY_STORE'] = 'file';
afterAll(() => rmSync(dir, { recursive: true, force: true }));
