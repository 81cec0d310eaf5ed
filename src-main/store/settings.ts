/** The settings table: one JSON value per key, defaults for the rest. */
import type { Settings } from '../contract/views';
import { DEFAULT_SETTINGS, SETTING_KEYS } from '../engine/settings';
import type { Store } from './database';

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
