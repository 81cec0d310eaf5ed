/**
 * The preload: exposes `window.sluice` with one named function per contract call and
 * an `on(event)` for the batched events — never `ipcRenderer` itself, never a generic
 * invoke(channel). Channel names are derived from the contract map.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { CALL_NAMES, EVENT_NAMES, type EventName, type EventPayloads, type SluiceApi } from '../src-main/contract/bridge';

const api: Record<string, unknown> = {};
for (const name of CALL_NAMES) {
  api[name] = (...args: unknown[]) => ipcRenderer.invoke(`sluice:call:${name}`, ...args);
}
api['on'] = <E extends EventName>(event: E, listener: (payload: EventPayloads[E]) => void): (() => void) => {
  if (!EVENT_NAMES.includes(event)) throw new Error(`unknown event: ${String(event)}`);
  const channel = `sluice:event:${event}`;
  const wrapped = (_e: IpcRendererEvent, payload: EventPayloads[E]): void => listener(payload);
  ipcRenderer.on(channel, wrapped);
  return () => ipcRenderer.removeListener(channel, wrapped);
};

contextBridge.exposeInMainWorld('sluice', Object.freeze(api as SluiceApi));
