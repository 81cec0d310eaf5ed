/**
 * The Electron IPC registration, with a stand-in for `ipcMain` (Electron cannot run
 * here; this is the only stand-in the suite uses). Every call of the contract has a
 * handler, a foreign sender is refused, and arguments are validated.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callChannel, registerIpc, trustedSender, type AppContents as WebContents, type InvokeEvent as IpcMainInvokeEvent, type IpcMainLike } from '../../src-main/app/ipc';
import { CALL_NAMES, type Result } from '../../src-main/contract/bridge';
import { startTestEngine, type TestEngine } from '../harness/engine';

type Listener = (event: IpcMainInvokeEvent, ...args: unknown[]) => Promise<unknown>;

class FakeIpcMain implements IpcMainLike {
  readonly handlers = new Map<string, Listener>();
  handle(channel: string, listener: Listener): void {
    if (this.handlers.has(channel)) throw new Error(`second handler for ${channel}`);
    this.handlers.set(channel, listener);
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }
  invoke(channel: string, event: IpcMainInvokeEvent, ...args: unknown[]): Promise<Result<unknown>> {
    const listener = this.handlers.get(channel);
    if (!listener) throw new Error(`no handler for ${channel}`);
    return listener(event, ...args) as Promise<Result<unknown>>;
  }
}

const APP_URL = 'file:///opt/sluice/resources/app.asar/out/renderer/index.html';
const mainFrame = { url: APP_URL };
const appContents = { mainFrame } as unknown as WebContents;
const eventFrom = (sender: unknown, frame: unknown): IpcMainInvokeEvent =>
  ({ sender, senderFrame: frame }) as unknown as IpcMainInvokeEvent;

let t: TestEngine;
let ipc: FakeIpcMain;
let unregister: () => void;

beforeAll(async () => {
  t = await startTestEngine();
  ipc = new FakeIpcMain();
  const isTrusted = trustedSender((url) => url === APP_URL, () => appContents);
  unregister = registerIpc(ipc, t.engine.handlers, isTrusted, (err) => {
    throw err;
  });
});

afterAll(async () => {
  await t.cleanup();
});

describe('IPC registration', () => {
  it('registers exactly one handler per call of the contract', () => {
    expect([...ipc.handlers.keys()].sort()).toEqual(CALL_NAMES.map(callChannel).sort());
  });

  it('answers the app’s own main frame', async () => {
    const r = await ipc.invoke(callChannel('status.get'), eventFrom(appContents, mainFrame));
    expect(r.ok).toBe(true);
  });

  it.each([
    ['another web contents', () => eventFrom({ mainFrame }, mainFrame)],
    ['a subframe of the app', () => eventFrom(appContents, { url: APP_URL })],
    [
      'the app window navigated elsewhere',
      () => {
        mainFrame.url = 'https://evil.example/';
        return eventFrom(appContents, mainFrame);
      },
    ],
    ['no frame (destroyed)', () => eventFrom(appContents, null)],
  ])('refuses %s and runs nothing', async (_name, event) => {
    const before = (await ipc.invoke(callChannel('subscriptions.list'), eventFrom(appContents, mainFrame))) as Result<unknown[]>;
    const r = await ipc.invoke(callChannel('subscriptions.create'), event(), { name: 'x', url: 'http://127.0.0.1/', patterns: ['a.b'] });
    mainFrame.url = APP_URL;
    expect(r).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    const after = (await ipc.invoke(callChannel('subscriptions.list'), eventFrom(appContents, mainFrame))) as Result<unknown[]>;
    expect(after).toEqual(before);
  });

  it('validates arguments from the renderer', async () => {
    const r = await ipc.invoke(callChannel('subscriptions.setEnabled'), eventFrom(appContents, mainFrame), 'id', 'yes');
    expect(r).toMatchObject({ ok: false, error: { code: 'invalid_argument' } });
  });

  it('removes every handler on unregister', () => {
    unregister();
    expect(ipc.handlers.size).toBe(0);
  });
});
