/**
 * The settings table: one JSON value per key, the defaults for the rest
 * (docs/design.md#reference-numbers); and the install id with the durable it names.
 */
import { randomUUID } from 'node:crypto';
import type { Settings } from '../contract/views';
import { DEFAULT_SETTINGS, SETTING_KEYS } from '../contract/settings-descriptor';
import type { Store } from './database';

/** The defaults and the keys live with each setting's descriptor (docs/design.md#reference-numbers). */
export { DEFAULT_SETTINGS, SETTING_KEYS };

/** The one durable name every installation used before each had its own (see `ensureInstallId`). */
const LEGACY_DURABLE = 'sluice';

/**
 * An installation's own durable: `sluice-` and 12 hex digits of its install id (48 random
 * bits), so two Sluices on one stream never share a consumer (which would split the
 * events between them) unless they are told to.
 */
export function defaultDurableName(installId: string): string {
  return `sluice-${installId.replace(/-/g, '').slice(0, 12)}`;
}

/** The durable consumer JetStream mode uses: the one set, else this installation's own. */
export function durableNameFrom(settings: Settings, installId: string): string {
  return settings.jetstreamDurable || defaultDurableName(installId);
}

/** Kept in the settings table, but not a setting: nobody sets it, and readSettings skips it. */
const INSTALL_ID_KEY = 'installId';
const INSTALL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * This installation's id: made (at random) at the first start of a database and kept in
 * it, so it stays the same across restarts and differs from any other database's. It
 * names the JetStream durable by default (see `defaultDurableName`).
 *
 * Before it existed every installation used the durable `sluice`. A database that was
 * consuming a stream when it is first opened by this version keeps that name (stored as
 * its `jetstreamDurable`): a new durable starts at the beginning of the stream
 * (DeliverPolicy.All), so switching would deliver everything the stream still holds a
 * second time, and leave `sluice` behind on the server. `settings unset jetstreamDurable`
 * moves such an installation to its own name when that is wanted.
 */
export function ensureInstallId(store: Store): string {
  const row = store.first(store.kysely.selectFrom('settings').select('value').where('key', '=', INSTALL_ID_KEY));
  const stored = row ? parseJson(row.value) : undefined;
  if (typeof stored === 'string' && INSTALL_ID.test(stored)) return stored;
  const id = randomUUID();
  store.transaction(() => {
    // A row that is there but unusable (edited by hand) is replaced; only a database
    // that never had one is one from before the install id.
    if (!row && readSettings(store).jetstreamStream !== '') writeSettings(store, { jetstreamDurable: LEGACY_DURABLE });
    store.run(
      store.kysely
        .insertInto('settings')
        .values({ key: INSTALL_ID_KEY, value: JSON.stringify(id) })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value: JSON.stringify(id) })),
    );
  });
  return id;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function readSettings(store: Store): Settings {
  const rows = store.all(store.kysely.selectFrom('settings').selectAll());
  const settings: Settings = structuredClone(DEFAULT_SETTINGS);
  const target = settings as unknown as Record<string, unknown>;
  for (const row of rows) {
    if (!(SETTING_KEYS as string[]).includes(row.key)) continue;
    try {
      const value: unknown = JSON.parse(row.value);
      // A value of the wrong type (hand-edited database) falls back to the default.
      if (typeof value === typeof target[row.key] && Array.isArray(value) === Array.isArray(target[row.key]))
        target[row.key] = value;
    } catch {
      /* keep the default */
    }
  }
  return settings;
}

export function writeSettings(store: Store, patch: Partial<Settings>): void {
  store.transaction(() => {
    for (const [key, value] of Object.entries(patch)) {
      if (value === undefined) continue;
      store.run(
        store.kysely
          .insertInto('settings')
          .values({ key, value: JSON.stringify(value) })
          .onConflict((oc) => oc.column('key').doUpdateSet({ value: JSON.stringify(value) })),
      );
    }
  });
}
