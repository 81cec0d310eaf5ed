/**
 * The console's way to the engine. Under Electron the preload exposes `window.sluice`;
 * in a browser (the local web host, `npm run serve`) the same contract is spoken as
 * JSON-RPC 2.0 over a WebSocket at `/rpc`, authorised by the per-run token that the
 * printed URL carries in its fragment. Either way the app gets a {@link SluiceApi} whose
 * calls never throw, and a {@link ConnectionState} to show when the engine is out of
 * reach and to refetch when it comes back.
 */
import {
  CALL_NAMES,
  EVENT_NAMES,
  TOKEN_REFUSED_CLOSE_CODE,
  type BridgeError,
  type EventName,
  type EventPayloads,
  type Result,
  type SluiceApi,
} from '@contract/bridge';

export type LinkState = 'connecting' | 'open' | 'closed';

/**
 * Why the web host will not talk to this page, when that is the reason the link is
 * closed: the page has no token (opened without the printed URL's `#token=…`), or the
 * host refused it (not the running host's: it was restarted and made a new one).
 * Retrying cannot help; the analyst must open the URL the host printed.
 */
export type TokenRefusal = 'no_token' | 'token_refused';

export type ConnectionListener = (state: LinkState, error: string | null, refusal: TokenRefusal | null) => void;

export interface ConnectionState {
  readonly state: LinkState;
  /** Why the link is closed, in words for the analyst; null while connecting or open. */
  readonly error: string | null;
  /** Set while the link is closed because of the token; the page explains what to open. */
  readonly refusal: TokenRefusal | null;
  /** Called at once with the current state, then on every change. */
  subscribe(listener: ConnectionListener): () => void;
  /** Try again now instead of waiting for the next backoff step. */
  reconnect(): void;
}

export interface Bridge {
  api: SluiceApi;
  connection: ConnectionState;
}

/** Reconnect delays: 0.5 s, doubling, at most 5 s; reset once a connection opens. */
export const RECONNECT_MIN_MS = 500;
export const RECONNECT_MAX_MS = 5000;

const NO_TOKEN_MESSAGE =
  'This page has no access token. Open the exact URL printed by `npm run serve` ' +
  '(http://127.0.0.1:PORT/#token=…); the console refuses connections without it.';
const TOKEN_REFUSED_MESSAGE =
  "The engine refused this page's access token: Sluice was restarted and its URL changed. " +
  'Open the new URL printed by `npm run serve`; `--keep-token` keeps one URL across restarts.';

/** Call once at start-up: picks the preload's bridge when there is one, else the WebSocket. */
export function connectBridge(): Bridge {
  const preloaded = (window as Window & { sluice?: SluiceApi }).sluice;
  if (preloaded) return { api: preloaded, connection: alwaysOpen() };
  return connectWebSocket(window.location);
}

/** The preload's IPC needs no connection: it is there for as long as the window is. */
function alwaysOpen(): ConnectionState {
  return {
    state: 'open',
    error: null,
    refusal: null,
    subscribe(listener) {
      listener('open', null, null);
      return () => undefined;
    },
    reconnect: () => undefined,
  };
}

/** The token from a `#token=…` fragment, or null. */
export function tokenFromHash(hash: string): string | null {
  const token = new URLSearchParams(hash.replace(/^#/, '')).get('token');
  return token ? token : null;
}

type Pending = (result: Result<unknown>) => void;
type AnyListener = (payload: unknown) => void;

const unavailable = (message: string): Result<never> => ({ ok: false, error: { code: 'unavailable', message } });

function connectWebSocket(location: Location): Bridge {
  const token = tokenFromHash(location.hash);
  const url = token
    ? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/rpc?token=${encodeURIComponent(token)}`
    : null;

  let state: LinkState = 'closed';
  let error: string | null = url ? null : NO_TOKEN_MESSAGE;
  let refusal: TokenRefusal | null = url ? null : 'no_token';
  let socket: WebSocket | null = null;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;
  let delayMs = RECONNECT_MIN_MS;
  let nextId = 1;
  const pending = new Map<number, Pending>();
  /** Calls made while a connection attempt is under way; sent once it opens. */
  const waiting: { text: string; id: number }[] = [];
  const connectionListeners = new Set<ConnectionListener>();
  const eventListeners = new Map<EventName, Set<AnyListener>>();

  const setState = (next: LinkState, message: string | null, why: TokenRefusal | null = null): void => {
    if (next === state && message === error && why === refusal) return;
    state = next;
    error = message;
    refusal = why;
    for (const listener of [...connectionListeners]) {
      try {
        listener(state, error, refusal);
      } catch (err) {
        console.error('sluice: connection listener failed', err);
      }
    }
  };

  /** Every call still waiting for an answer gets `unavailable`: the socket is gone. */
  const failOutstanding = (message: string): void => {
    waiting.length = 0;
    const outstanding = [...pending.values()];
    pending.clear();
    for (const resolve of outstanding) resolve(unavailable(message));
  };

  const open = (): void => {
    if (!url || socket) return;
    if (retryTimer !== null) clearTimeout(retryTimer);
    retryTimer = null;
    let ws: WebSocket;
    try {
      ws = new WebSocket(url);
    } catch (err) {
      setState('closed', `Cannot open the connection to the engine: ${err instanceof Error ? err.message : String(err)}`);
      scheduleRetry();
      return;
    }
    socket = ws;
    setState('connecting', null);
    ws.onopen = () => {
      if (socket !== ws) return;
      delayMs = RECONNECT_MIN_MS;
      for (const { text, id } of waiting.splice(0)) {
        if (pending.has(id)) ws.send(text);
      }
      setState('open', null);
    };
    ws.onmessage = (event: MessageEvent) => {
      if (socket === ws && typeof event.data === 'string') receive(event.data);
    };
    ws.onclose = (event: CloseEvent) => {
      if (socket !== ws) return;
      socket = null;
      failOutstanding('The console is disconnected from the engine; the call did not complete.');
      if (event.code === TOKEN_REFUSED_CLOSE_CODE) {
        // The same token would be refused again: wait for the analyst (a new URL, or Try again).
        setState('closed', TOKEN_REFUSED_MESSAGE, 'token_refused');
        return;
      }
      const seconds = delayMs / 1000;
      setState(
        'closed',
        `Console disconnected from the engine; reconnecting (next try in ${seconds} s). ` +
          // A restart that changed the token is told apart when the host answers again (TOKEN_REFUSED_CLOSE_CODE).
          'Is `npm run serve` still running? Once it is back this page reconnects by itself.',
      );
      scheduleRetry();
    };
    // A failed connection is followed by a close event, which does the bookkeeping.
    ws.onerror = () => undefined;
  };

  const scheduleRetry = (): void => {
    if (retryTimer !== null) return;
    retryTimer = setTimeout(() => {
      retryTimer = null;
      open();
    }, delayMs);
    delayMs = Math.min(delayMs * 2, RECONNECT_MAX_MS);
  };

  const receive = (text: string): void => {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof message !== 'object' || message === null) return;
    const m = message as Record<string, unknown>;
    if (typeof m['id'] === 'number') {
      const resolve = pending.get(m['id']);
      if (!resolve) return;
      pending.delete(m['id']);
      resolve(toResult(m));
    } else if (m['id'] === undefined && typeof m['method'] === 'string' && Array.isArray(m['params'])) {
      const listeners = eventListeners.get(m['method'] as EventName);
      if (!listeners) return;
      const payload: unknown = m['params'][0];
      for (const listener of [...listeners]) {
        try {
          listener(payload);
        } catch (err) {
          console.error(`sluice: ${m['method']} listener failed`, err);
        }
      }
    }
  };

  const call = (name: string, args: unknown[]): Promise<Result<unknown>> => {
    if (!url) return Promise.resolve(unavailable(NO_TOKEN_MESSAGE));
    if (state === 'closed' || !socket) {
      return Promise.resolve(unavailable(error ?? 'The console is disconnected from the engine.'));
    }
    const id = nextId++;
    let text: string;
    try {
      // As in-process: the arguments travel as JSON, so `undefined` in a list is null.
      text = JSON.stringify({ jsonrpc: '2.0', id, method: name, params: args });
    } catch {
      return Promise.resolve({
        ok: false,
        error: { code: 'invalid_argument', message: 'arguments cannot be sent (not JSON, or nested too deeply)' },
      });
    }
    return new Promise<Result<unknown>>((resolve) => {
      pending.set(id, resolve);
      if (state === 'open' && socket?.readyState === WebSocket.OPEN) socket.send(text);
      else waiting.push({ text, id });
    });
  };

  const api: Record<string, unknown> = {};
  for (const name of CALL_NAMES) api[name] = (...args: unknown[]) => call(name, args);
  api['on'] = <E extends EventName>(event: E, listener: (payload: EventPayloads[E]) => void): (() => void) => {
    if (!EVENT_NAMES.includes(event)) throw new Error(`unknown event: ${String(event)}`);
    let listeners = eventListeners.get(event);
    if (!listeners) eventListeners.set(event, (listeners = new Set()));
    const wrapped: AnyListener = (payload) => listener(payload as EventPayloads[E]);
    listeners.add(wrapped);
    return () => listeners.delete(wrapped);
  };

  const connection: ConnectionState = {
    get state() {
      return state;
    },
    get error() {
      return error;
    },
    get refusal() {
      return refusal;
    },
    subscribe(listener) {
      connectionListeners.add(listener);
      listener(state, error, refusal);
      return () => connectionListeners.delete(listener);
    },
    reconnect() {
      if (socket || !url) return;
      delayMs = RECONNECT_MIN_MS;
      open();
    },
  };

  open();
  return { api: api as SluiceApi, connection };
}

/** A JSON-RPC response as the contract's result; protocol faults become bridge errors. */
function toResult(response: Record<string, unknown>): Result<unknown> {
  const result = response['result'];
  if (typeof result === 'object' && result !== null && typeof (result as { ok?: unknown }).ok === 'boolean') {
    return result as Result<unknown>;
  }
  const fault = response['error'];
  const message =
    typeof fault === 'object' && fault !== null && typeof (fault as { message?: unknown }).message === 'string'
      ? (fault as { message: string }).message
      : 'malformed answer from the engine';
  const code = typeof fault === 'object' && fault !== null ? (fault as { code?: unknown }).code : undefined;
  const error: BridgeError = {
    code: code === -32601 || code === -32602 || code === -32600 ? 'invalid_argument' : 'internal',
    message,
  };
  return { ok: false, error };
}
