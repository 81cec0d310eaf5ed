/**
 * The bridge over Electron IPC, main side. Every call of the contract map gets a
 * handler; each checks that the message comes from the app's own main frame before
 * validating its arguments (the renderer is untrusted input) and answers with data.
 * Only types are imported from Electron, so this runs under Node in tests with a
 * stand-in for `ipcMain`.
 */
import type { IpcMainInvokeEvent, WebContents } from 'electron';
import { CALL_NAMES, dispatchCall, type EventName, type EventPayloads, type Handlers, type Result } from '../contract/bridge';

/** Electron's types, re-exported so tests can name them without importing Electron. */
export type InvokeEvent = IpcMainInvokeEvent;
export type AppContents = WebContents;

export const callChannel = (name: string): string => `sluice:call:${name}`;
const eventChannel = (name: string): string => `sluice:event:${name}`;

export interface IpcMainLike {
  handle(channel: string, listener: (event: IpcMainInvokeEvent, ...args: unknown[]) => Promise<unknown>): void;
  removeHandler(channel: string): void;
}

/**
 * Is this the app's own top-level frame showing the app's own page? A page that got
 * navigated elsewhere, or an embedded frame, gets nothing.
 */
type SenderCheck = (event: IpcMainInvokeEvent) => boolean;

export function trustedSender(isAppUrl: (url: string) => boolean, appContents: () => WebContents | null): SenderCheck {
  return (event) => {
    const frame = event.senderFrame;
    const contents = appContents();
    if (!frame || !contents || event.sender !== contents) return false;
    if (frame !== contents.mainFrame) return false;
    return isAppUrl(frame.url);
  };
}

export function registerIpc(
  ipcMain: IpcMainLike,
  handlers: Handlers,
  isTrusted: SenderCheck,
  onInternalError: (err: unknown, call: string) => void,
): () => void {
  for (const name of CALL_NAMES) {
    ipcMain.handle(callChannel(name), async (event, ...args): Promise<Result<unknown>> => {
      if (!isTrusted(event)) return { ok: false, error: { code: 'forbidden', message: 'refused: not the Sluice window' } };
      return dispatchCall(handlers, name, args, onInternalError);
    });
  }
  return () => {
    for (const name of CALL_NAMES) ipcMain.removeHandler(callChannel(name));
  };
}

/** Send a batched engine event to the window (events are already ≤ ~10/s). */
export function forwardEvent<E extends EventName>(contents: WebContents | null, event: E, payload: EventPayloads[E]): void {
  if (contents && !contents.isDestroyed()) contents.send(eventChannel(event), payload);
}
