/**
 * Reading a Splunk HEC body as the collector does: event objects back to back in one
 * request body ("{…}{…}", or one per line), which is how HEC takes a batch
 * (https://docs.splunk.com/Documentation/Splunk/latest/Data/FormateventsforHTTPEventCollector).
 */

/** One JSON object, or null when the bytes are not one. */
export function parseObject(body: Buffer): Record<string, unknown> | null {
  try {
    const value = JSON.parse(body.toString('utf8')) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** JSON objects back to back ("{…}{…}" or one per line), as HEC's event endpoint takes a batch; null when not that. */
export function concatenatedObjects(text: string): Record<string, unknown>[] | null {
  const out: Record<string, unknown>[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{') {
      if (depth++ === 0) start = i;
    } else if (c === '}') {
      if (--depth === 0) {
        const value = parseObject(Buffer.from(text.slice(start, i + 1)));
        if (value === null) return null;
        out.push(value);
      }
      if (depth < 0) return null;
    } else if (depth === 0 && !/\s/.test(c as string)) return null;
  }
  return depth === 0 && out.length > 0 ? out : null;
}
