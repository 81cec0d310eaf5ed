/** The README's "At the keyboard" table lists the console's keymap, entry for entry. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..');

interface Keymap {
  SHORTCUTS: readonly { keys: readonly string[]; description: string }[];
  shortcutLabel(shortcut: { keys: readonly string[] }): string;
}

describe('README: At the keyboard', () => {
  it('lists every entry of the keymap, in its order, with its description', async () => {
    // By path: the renderer's sources compile in their own project (DOM types, no Node).
    const { SHORTCUTS, shortcutLabel } = (await import(join(root, 'src-renderer/src/lib/shortcuts.ts'))) as Keymap;
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const section = readme.split('\n## ').find((s) => s.startsWith('At the keyboard'));
    expect(section, 'README has an “At the keyboard” section').toBeDefined();
    const rows = [...section!.matchAll(/^\| `([^`]+)` \| (.+) \|$/gm)].map((m) => [m[1], m[2]]);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows).toEqual(SHORTCUTS.map((s) => [shortcutLabel(s), s.description]));
  });
});
