// Renders the tray icons from build/icon.svg with Debian's Chromium and writes them,
// as PNG data URLs, into src-main/app/tray-icons.ts (bundled with the main process, so
// packaging needs no extra resources). Run after changing the icon:
//   node build/tray-icons.mjs
// 'alert' is the icon with a red dot: the tray's "something tripped" variant, readable
// on Linux where a tray cannot draw a badge. 16 px and 32 px (the @2x representation).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const root = join(import.meta.dirname, '..');
const icon = readFileSync(join(root, 'build/icon.svg'), 'utf8');
const dot = '<circle cx="392" cy="120" r="120" fill="#f85149" stroke="#0b0f14" stroke-width="24"/>';
const variants = { normal: icon, alert: icon.replace('</svg>', `  ${dot}\n</svg>`) };
const sizes = { x1: 16, x2: 32 };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
const out = {};
try {
  const page = await browser.newPage();
  for (const [variant, svg] of Object.entries(variants)) {
    out[variant] = {};
    for (const [scale, px] of Object.entries(sizes)) {
      await page.setViewportSize({ width: px, height: px });
      const sized = svg.replace('<svg ', `<svg width="${px}" height="${px}" `);
      await page.setContent(`<!doctype html><html><body style="margin:0;background:transparent">${sized}</body></html>`);
      const png = await page.screenshot({ omitBackground: true, clip: { x: 0, y: 0, width: px, height: px } });
      out[variant][scale] = `data:image/png;base64,${png.toString('base64')}`;
    }
  }
} finally {
  await browser.close();
}

const lines = [
  '/**',
  ' * Tray icons, generated from build/icon.svg by build/tray-icons.mjs (do not edit):',
  " * PNG data URLs, 16 px and 32 px (@2x), plain and 'alert' (a red dot: something tripped).",
  ' */',
  "import type { TrayIconVariant } from '../engine/attention';",
  '',
  'export const TRAY_ICONS: Record<TrayIconVariant, { x1: string; x2: string }> = {',
  ...Object.entries(out).flatMap(([variant, reps]) => [
    `  ${variant}: {`,
    ...Object.entries(reps).map(([scale, url]) => `    ${scale}:\n      '${url}',`),
    '  },',
  ]),
  '};',
  '',
];
writeFileSync(join(root, 'src-main/app/tray-icons.ts'), lines.join('\n'));
console.log('wrote src-main/app/tray-icons.ts');
