/**
 * Waiting for a status that something announces (the bus, the JetStream consumer): resolves
 * with the first status that matches, the current one included; rejects with the last one
 * seen after `timeoutMs`. Event-driven: no polling.
 */
export interface StatusSource<S> {
  readonly status: S;
  onStatus(listener: (status: S) => void): () => void;
}

export function waitForStatus<S>(target: StatusSource<S>, predicate: (status: S) => boolean, timeoutMs: number): Promise<S> {
  if (predicate(target.status)) return Promise.resolve(target.status);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`status not reached within ${timeoutMs} ms; last: ${JSON.stringify(target.status)}`));
    }, timeoutMs);
    const off = target.onStatus((status) => {
      if (!predicate(status)) return;
      clearTimeout(timer);
      off();
      resolve(status);
    });
  });
}
