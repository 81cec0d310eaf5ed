/**
 * The accessibility check of the browser tests: axe-core (Deque's rules for WCAG 2.x A/AA
 * and best practices) run in the console's page as it stands, and the violations that axe
 * rates serious or critical returned in a form a failing assertion can show.
 *
 * axe is evaluated through the DevTools protocol (page.evaluate), not added as a script
 * tag: the console's Content-Security-Policy allows only its own scripts, and that is the
 * policy under test, so it is not loosened for the check.
 */
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';

const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** The impacts a test fails on: serious and critical (minor and moderate are reported by axe's own tools). */
const FAILING_IMPACTS = new Set(['serious', 'critical']);

export interface AxeViolation {
  rule: string;
  impact: string;
  help: string;
  /** CSS selectors of the offending elements (at most five), with axe's summary of the first. */
  targets: string[];
  summary: string;
}

interface AxeRunResult {
  violations: {
    id: string;
    impact: string | null;
    help: string;
    nodes: { target: unknown[]; failureSummary?: string }[];
  }[];
}

/**
 * The serious and critical violations on the page now (or inside `scope`, a CSS selector).
 * An empty array is a pass: `expect(await seriousViolations(page)).toEqual([])` names
 * every rule, element and fix when it fails.
 */
export async function seriousViolations(page: Page, scope?: string): Promise<AxeViolation[]> {
  // The page's globals, typed here (this file compiles without the DOM's types).
  const loaded = await page.evaluate(() => typeof (globalThis as unknown as { axe?: unknown }).axe === 'object');
  if (!loaded) await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async (context) => {
    const page = globalThis as unknown as { axe: { run(context: unknown, options: unknown): Promise<unknown> }; document: unknown };
    return page.axe.run(context ?? page.document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
      resultTypes: ['violations'],
    });
  }, scope ?? null);
  return (result as AxeRunResult).violations
    .filter((v) => v.impact !== null && FAILING_IMPACTS.has(v.impact))
    .map((v) => ({
      rule: v.id,
      impact: v.impact ?? '',
      help: v.help,
      targets: v.nodes.slice(0, 5).map((node) => node.target.map(String).join(' ')),
      summary: v.nodes[0]?.failureSummary ?? '',
    }));
}
