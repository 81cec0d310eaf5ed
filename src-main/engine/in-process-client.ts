/**
 * The bridge served in-process (docs/design.md#three-transports): the same contract the
 * console uses, for the CLI and for tests of the engine. Arguments and results are
 * copied through JSON, as they would be across a process boundary, so a test cannot
 * pass or receive anything the real transports could not.
 */
import { CALL_NAMES, dispatchCall, type EventName, type EventPayloads, type SluiceApi } from '../contract/bridge';
import type { Engine } from './engine';

const copy = <T>(value: T): T => (value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T));

/** Over the engine's own handlers, or over others it made (`{ handlers: engine.handlersFor(source), hub: engine.hub }`). */
export function createInProcessClient(engine: Pick<Engine, 'handlers' | 'hub'>, onInternalError?: (err: unknown, call: string) => void): SluiceApi {
  const api: Record<string, unknown> = {};
  for (const name of CALL_NAMES) {
    api[name] = async (...args: unknown[]) => {
      let copied: unknown[];
      try {
        copied = copy(args);
      } catch {
        return { ok: false, error: { code: 'invalid_argument', message: 'arguments cannot be sent (not JSON, or nested too deeply)' } };
      }
      return copy(await dispatchCall(engine.handlers, name, copied, onInternalError));
    };
  }
  api['on'] = <E extends EventName>(event: E, listener: (payload: EventPayloads[E]) => void) =>
    engine.hub.subscribe((name, payload) => {
      if ((name as EventName) === event) listener(copy(payload) as unknown as EventPayloads[E]);
    });
  return api as SluiceApi;
}
