/**
 * Where a delivery's time goes: the engine run under V8's CPU profiler (in this process,
 * where the bench runs it), each sample's time given to one stage of a delivery's path.
 * Used by the bench's `stages` phase.
 */
import { Session, type Profiler, type Runtime } from 'node:inspector';

/**
 * The attribution rules, one line each. A sample's call stack is read from the innermost
 * frame outwards; the first frame a rule matches decides its stage (a SQLite statement
 * run by `insertEvent` is the outbox's, the same statement under `updateDelivery` the
 * outcome's). `file` is matched against the frame's path from `src-main/` (or the package,
 * for a library); `fn`, when given, against its function name — a frame that matches the
 * file but not the function is passed over, so the store's generic `run`, `write` and the
 * native statements fall through to the caller that decides what they are for. Samples no
 * rule claims are "other" (the runtime, timers, the bench's own code); V8's garbage
 * collector is counted apart; idle time is not counted.
 */
const RULES: readonly { stage: Stage; file: RegExp; fn?: RegExp }[] = [
  { stage: 'canonical body', file: /^delivery\/json\.ts$/, fn: /^(canonicalJson|formatNumber|formatFloat|compareCodePoints)$/ },
  { stage: 'canonical body', file: /^delivery\/wire\.ts$/, fn: /^buildBody$/ },
  { stage: 'intake/parse', file: /^delivery\/json\.ts$/ },
  { stage: 'intake/parse', file: /^(bus\/(intake|nats-bus)\.ts|engine\/(intake-queue|bus-link)\.ts|@nats-io\/|ws\/)/ },
  { stage: 'match', file: /^(engine\/router\.ts|match\/)/ },
  { stage: 'outbox write', file: /^engine\/intake-stage\.ts$/, fn: /^recordEvent$/ },
  { stage: 'outbox write', file: /^store\/deliveries\.ts$/, fn: /^(insertEvent|insertDelivery)$/ },
  { stage: 'outbox write', file: /^store\/(outbox|claim)\.ts$/ },
  { stage: 'outbox write', file: /^store\/database\.ts$/, fn: /^transaction$/ },
  { stage: 'intake/parse', file: /^engine\/intake-stage\.ts$/ },
  { stage: 'commit', file: /^store\/database\.ts$/, fn: /^(commit|commitFromTimer|durable|beginGroup|beginImmediate|scheduleCommit|unscheduleCommit)$/ },
  { stage: 'sign', file: /^delivery\/wire\.ts$/, fn: /^(sign|buildHeaders)$/ },
  { stage: 'sign', file: /^delivery\/(request\.ts|formats\/)/ },
  { stage: 'HTTP', file: /^(delivery\/(http-client|response-body|ssrf|proxy|receiver-tls)\.ts|undici\/)/ },
  { stage: 'outcome write', file: /^store\/deliveries\.ts$/, fn: /^updateDelivery$/ },
  { stage: 'outcome write', file: /^engine\/(outcomes|breaker|health)\.ts$/ },
  { stage: 'console events', file: /^engine\/(delivery-feed|event-hub|records|in-process-client)\.ts$/ },
  { stage: 'dispatch', file: /^(delivery\/(dispatcher|semaphore|pacing|batches|cancellation|retry-policy|attempt-errors)\.ts|engine\/scheduler\.ts)$/ },
];

export const STAGES = ['intake/parse', 'canonical body', 'match', 'outbox write', 'commit', 'sign', 'dispatch', 'HTTP', 'outcome write', 'console events', 'GC', 'other'] as const;
export type Stage = (typeof STAGES)[number];

/** A frame's path from `src-main/`, or from its package in node_modules; null for the runtime's own. */
function place(url: string): string | null {
  const path = url.replace(/[?#].*$/, '');
  const source = /\/src-main\/(.+)$/.exec(path);
  if (source) return source[1] as string;
  const lib = /\/node_modules\/((?:@[^/]+\/)?[^/]+\/.*)$/.exec(path);
  return lib ? (lib[1] as string) : null;
}

function stageOf(frame: Runtime.CallFrame): Stage | null {
  const at = place(frame.url);
  if (at === null) return null;
  for (const rule of RULES) if (rule.file.test(at) && (!rule.fn || rule.fn.test(frame.functionName))) return rule.stage;
  return null;
}

/** Microseconds of CPU per stage (idle left out) in a profile. */
export function attribute(profile: Profiler.Profile): Record<Stage, number> {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const memo = new Map<number, Stage | 'idle'>();
  const resolve = (id: number): Stage | 'idle' => {
    const known = memo.get(id);
    if (known) return known;
    const node = byId.get(id) as Profiler.ProfileNode;
    let stage: Stage | 'idle';
    if (node.callFrame.functionName === '(idle)') stage = 'idle';
    else if (node.callFrame.functionName === '(garbage collector)') stage = 'GC';
    else {
      const own = stageOf(node.callFrame);
      const up = parent.get(id);
      stage = own ?? (up === undefined ? 'other' : resolve(up));
      if (stage === 'idle') stage = 'other';
    }
    memo.set(id, stage);
    return stage;
  };
  const micros = Object.fromEntries(STAGES.map((s) => [s, 0])) as Record<Stage, number>;
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  // A sample stands for the time until the next one (as DevTools counts it).
  for (let i = 0; i < samples.length - 1; i++) {
    const stage = resolve(samples[i] as number);
    if (stage !== 'idle') micros[stage] += deltas[i + 1] as number;
  }
  return micros;
}

/** Run `work` under the CPU profiler (sampling every `intervalUs`); its result and the profile. */
export async function profiled<T>(intervalUs: number, work: () => Promise<T>): Promise<{ value: T; profile: Profiler.Profile }> {
  const session = new Session();
  session.connect();
  const post = <R>(method: string, params?: object): Promise<R> =>
    new Promise((resolve, reject) => session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result as R))));
  try {
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: intervalUs });
    await post('Profiler.start');
    const stop = (): Promise<{ profile: Profiler.Profile }> => post('Profiler.stop');
    let value: T;
    try {
      value = await work();
    } catch (error) {
      await stop();
      throw error;
    }
    return { value, profile: (await stop()).profile };
  } finally {
    session.disconnect();
  }
}
