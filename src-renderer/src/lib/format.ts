/** Display helpers for the console. Times are shown in local time; tooltips carry ISO. */

export function clockTime(iso: string | null): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleTimeString(undefined, { hour12: false });
}

/** `14:02:11` today, `Nov 27 14:02` before. */
export function shortTime(iso: string | null, now = Date.now()): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  if (now - d.getTime() < 20 * 3600_000 && new Date(now).getDate() === d.getDate()) return clockTime(iso);
  return `${d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })} ${d.toLocaleTimeString(undefined, { hour12: false, hour: '2-digit', minute: '2-digit' })}`;
}

export function ago(iso: string | null, now = Date.now()): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function latency(ms: number | null): string {
  if (ms === null) return '—';
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** `1 event`, `3 events`; `pluralWord` for the irregular ones (`delivery` → `deliveries`). */
export function plural(n: number, word: string, pluralWord = `${word}s`): string {
  return `${n} ${n === 1 ? word : pluralWord}`;
}

/** A `datetime-local` value (the analyst's local time) as ISO-8601 UTC; null when empty or invalid. */
export function localInputToIso(value: string): string | null {
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(value)) return null;
  // Without an offset, a date-time string is read as local time.
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** A time as a `datetime-local` value in local time, to the second. */
export function isoToLocalInput(time: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${time.getFullYear()}-${pad(time.getMonth() + 1)}-${pad(time.getDate())}T${pad(time.getHours())}:${pad(time.getMinutes())}:${pad(time.getSeconds())}`;
}

/**
 * A URL shortened to at most `maxChars` characters, cut in the middle so that what tells
 * two receivers apart survives: the scheme dropped (the table marks `http://` apart), the
 * host and port whole, then as much of the end of the path as fits. Where it is shown,
 * the full URL goes in the tooltip, and the detail views show it whole.
 */
export function middleEllipsis(url: string, maxChars: number): string {
  const rest = [...url.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')];
  if (rest.length <= maxChars) return rest.join('');
  const keep = Math.max(2, maxChars) - 1;
  const authority = rest.findIndex((c) => c === '/' || c === '?' || c === '#');
  // Host and port, then the path's tail (from a `/` when that costs little): at least a few
  // characters of it, else the middle is cut.
  if (authority > 0 && keep - authority >= 6) {
    let tail = rest.slice(rest.length - (keep - authority));
    const slash = tail.indexOf('/');
    if (slash > 0 && slash <= tail.length / 2) tail = tail.slice(slash);
    return `${rest.slice(0, authority).join('')}…${tail.join('')}`;
  }
  const head = Math.ceil(keep / 2);
  return `${rest.slice(0, head).join('')}…${rest.slice(rest.length - (keep - head)).join('')}`;
}

/** A shortened URL as host and port, then the rest (path or `…`): where a narrow cell may break it. */
export function hostAndRest(shortened: string): [string, string] {
  const cut = shortened.search(/[/?#…]/);
  return cut < 0 ? [shortened, ''] : [shortened.slice(0, cut), shortened.slice(cut)];
}

/**
 * A bus server URL shortened like {@link middleEllipsis}, but keeping its scheme: `ws://`
 * or `wss://` is whether the bus traffic is encrypted.
 */
export function shortServer(url: string, maxChars: number): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url.trim())?.[0] ?? '';
  return `${scheme}${middleEllipsis(url.trim(), maxChars)}`;
}

/** A bus URL list (`ws://a:4222, ws://b:4222`) shortened: the first server, and how many more. */
export function shortServers(list: string, maxChars: number): string {
  const servers = list.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (servers.length <= 1) return shortServer(list, maxChars);
  return `${shortServer(servers[0]!, maxChars)} +${servers.length - 1}`;
}
