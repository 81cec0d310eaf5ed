/**
 * A strict reader of the Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format), for
 * tests of what `/metrics` serves. prom-client only writes the format; this reads it back
 * and throws on anything the specification does not allow, naming the line:
 *
 * - lines end with `\n` (the last one too); empty lines are ignored; `#` lines other
 *   than HELP and TYPE are comments;
 * - `# HELP name text` (text escapes: `\\` and `\n`), `# TYPE name type` with type one of
 *   counter, gauge, histogram, summary, untyped; at most one of each per metric, before
 *   its first sample;
 * - samples `name{label="value",…} value [timestamp]`: names `[a-zA-Z_:][a-zA-Z0-9_:]*`,
 *   label names `[a-zA-Z_][a-zA-Z0-9_]*` not starting `__`, no label twice, label values
 *   escaped (`\\`, `\"`, `\n`), values as Go's ParseFloat reads them (`NaN`, `+Inf`,
 *   `-Inf` in any case),
 *   timestamps integers;
 * - every line of a metric in one group; no sample twice; a histogram's buckets carry
 *   `le`, are cumulative, and end with `le="+Inf"` equal to its `_count`.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
  timestamp: number | null;
}

export interface Family {
  name: string;
  help: string | null;
  type: MetricType;
  samples: Sample[];
}

export interface Exposition {
  families: Map<string, Family>;
  /** The value of the sample with exactly these labels, or undefined when there is none. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** Every sample of this name (any labels). */
  samples(name: string): Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
/** The suffixes a histogram's or summary's samples take after the family's name. */
const SUFFIXES: Record<MetricType, string[]> = {
  counter: [''],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

export class ExpositionError extends Error {
  override readonly name = 'ExpositionError';
}

export function parseExposition(text: string): Exposition {
  if (text.length > 0 && !text.endsWith('\n')) throw new ExpositionError('the last line does not end with \\n');
  const families = new Map<string, Family>();
  const declared = new Map<string, { help: string | null; type: MetricType | null }>();
  /** Families whose group has ended (another metric's line came after it). */
  const closed = new Set<string>();
  let current: string | null = null;
  const seen = new Set<string>();
  const lines = text.split('\n').slice(0, -1);

  const enter = (family: string, lineNo: number): void => {
    if (current === family) return;
    if (closed.has(family)) throw new ExpositionError(`line ${lineNo}: ${family} continues after another metric's lines (one group per metric)`);
    if (current !== null) closed.add(current);
    current = family;
  };

  lines.forEach((line, i) => {
    const lineNo = i + 1;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(line);
      if (!m) return; // a comment
      const [, keyword, name = '', rest = ''] = m;
      if (!METRIC_NAME.test(name)) throw new ExpositionError(`line ${lineNo}: "${name}" is not a metric name`);
      enter(name, lineNo);
      const d = declared.get(name) ?? { help: null, type: null };
      if (families.has(name)) throw new ExpositionError(`line ${lineNo}: # ${keyword} ${name} after its samples`);
      if (keyword === 'HELP') {
        if (d.help !== null) throw new ExpositionError(`line ${lineNo}: a second # HELP for ${name}`);
        d.help = unescapeHelp(rest, lineNo);
      } else {
        if (d.type !== null) throw new ExpositionError(`line ${lineNo}: a second # TYPE for ${name}`);
        if (!TYPES.has(rest as MetricType)) throw new ExpositionError(`line ${lineNo}: "${rest}" is not a metric type`);
        d.type = rest as MetricType;
      }
      declared.set(name, d);
      return;
    }
    const sample = parseSample(line, lineNo);
    const family = familyOf(sample.name, declared);
    enter(family, lineNo);
    const key = `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort())}`;
    if (seen.has(key)) throw new ExpositionError(`line ${lineNo}: the same sample twice`);
    seen.add(key);
    let f = families.get(family);
    if (!f) {
      const d = declared.get(family);
      f = { name: family, help: d?.help ?? null, type: d?.type ?? 'untyped', samples: [] };
      families.set(family, f);
    }
    f.samples.push(sample);
  });

  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);

  const all = [...families.values()].flatMap((f) => f.samples);
  return {
    families,
    value(name, labels = {}) {
      const want = JSON.stringify(Object.entries(labels).sort());
      return all.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want)?.value;
    },
    samples(name) {
      return all.filter((s) => s.name === name);
    },
  };
}

/** The family a sample belongs to: its own name, or a histogram's or summary's with the suffix taken off. */
function familyOf(sampleName: string, declared: Map<string, { type: MetricType | null }>): string {
  for (const [name, d] of declared) {
    if (d.type === null) continue;
    for (const suffix of SUFFIXES[d.type]) if (sampleName === name + suffix) return name;
  }
  return sampleName;
}

function parseSample(line: string, lineNo: number): Sample {
  const fail = (why: string): never => {
    throw new ExpositionError(`line ${lineNo}: ${why}: ${JSON.stringify(line)}`);
  };
  let pos = 0;
  const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (!nameMatch) fail('no metric name');
  const name = (nameMatch as RegExpExecArray)[0];
  pos = name.length;
  const labels: Record<string, string> = {};
  if (line[pos] === '{') {
    pos++;
    for (;;) {
      if (line[pos] === '}') {
        pos++;
        break;
      }
      const labelMatch = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(pos));
      if (!labelMatch) fail('a label name was expected');
      const label = (labelMatch as RegExpExecArray)[0];
      if (!LABEL_NAME.test(label) || label.startsWith('__')) fail(`"${label}" is not a label name`);
      if (Object.hasOwn(labels, label)) fail(`label ${label} given twice`);
      pos += label.length;
      if (line[pos] !== '=' || line[pos + 1] !== '"') fail('=" was expected after a label name');
      pos += 2;
      let value = '';
      for (;;) {
        const c = line[pos];
        if (c === undefined) fail('a label value does not end');
        if (c === '"') break;
        if (c === '\\') {
          const next = line[pos + 1];
          if (next === '\\') value += '\\';
          else if (next === '"') value += '"';
          else if (next === 'n') value += '\n';
          else fail('a label value has an unknown escape');
          pos += 2;
          continue;
        }
        value += c;
        pos++;
      }
      pos++;
      labels[label] = value;
      if (line[pos] === ',') pos++;
      else if (line[pos] !== '}') fail('"," or "}" was expected after a label value');
    }
  }
  const rest = line.slice(pos);
  const m = /^[ \t]+(\S+)(?:[ \t]+(\S+))?[ \t]*$/.exec(rest);
  if (!m) fail('a value was expected after the name and labels');
  const [, valueText = '', timestampText] = m as RegExpExecArray;
  const value = parseFloatValue(valueText);
  if (value === null) fail(`"${valueText}" is not a float value`);
  let timestamp: number | null = null;
  if (timestampText !== undefined) {
    if (!/^-?\d+$/.test(timestampText)) fail(`"${timestampText}" is not a timestamp`);
    timestamp = Number(timestampText);
  }
  return { name, labels, value: value as number, timestamp };
}

/**
 * A value as Go's strconv.ParseFloat reads it: decimal or exponent notation, and, in any
 * case, NaN and an optionally signed Inf or Infinity (prom-client writes `Nan`).
 */
function parseFloatValue(text: string): number | null {
  if (/^nan$/i.test(text)) return NaN;
  const inf = /^([+-]?)inf(inity)?$/i.exec(text);
  if (inf) return inf[1] === '-' ? -Infinity : Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return null;
  return Number(text);
}

function unescapeHelp(text: string, lineNo: number): string {
  return text.replace(/\\(.?)/g, (_m, c: string) => {
    if (c === '\\') return '\\';
    if (c === 'n') return '\n';
    throw new ExpositionError(`line ${lineNo}: HELP text has an unknown escape \\${c}`);
  });
}

function checkHistogram(f: Family): void {
  const series = new Map<string, { buckets: { le: number; value: number }[]; count?: number; sum?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const entry = series.get(key) ?? { buckets: [] };
    series.set(key, entry);
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new ExpositionError(`${f.name}_bucket without an le label`);
      const bound = parseFloatValue(le);
      if (bound === null) throw new ExpositionError(`${f.name}_bucket le="${le}" is not a float`);
      entry.buckets.push({ le: bound, value: s.value });
    } else if (s.name === `${f.name}_count`) entry.count = s.value;
    else if (s.name === `${f.name}_sum`) entry.sum = s.value;
  }
  for (const [key, entry] of series) {
    const last = entry.buckets[entry.buckets.length - 1];
    if (!last || last.le !== Infinity) throw new ExpositionError(`${f.name}${key}: no le="+Inf" bucket last`);
    for (let i = 1; i < entry.buckets.length; i++) {
      const a = entry.buckets[i - 1] as { le: number; value: number };
      const b = entry.buckets[i] as { le: number; value: number };
      if (!(a.le < b.le)) throw new ExpositionError(`${f.name}${key}: buckets not in increasing le order`);
      if (b.value < a.value) throw new ExpositionError(`${f.name}${key}: buckets not cumulative`);
    }
    if (entry.count === undefined || entry.sum === undefined) throw new ExpositionError(`${f.name}${key}: _count or _sum missing`);
    if (entry.count !== last.value) throw new ExpositionError(`${f.name}${key}: _count ${entry.count} is not the +Inf bucket's ${last.value}`);
  }
}
