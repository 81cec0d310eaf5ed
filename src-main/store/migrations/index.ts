/**
 * Migrations by timestamped name. A bundled main process has no migrations folder to
 * read at run time, so they are provided through this import map; add new ones here.
 */
import type { Migration, MigrationProvider } from 'kysely';
import { initial } from './2026-11-28T00-initial';
import { outbox } from './2026-11-28T01-outbox';
import { previousSecret } from './2026-11-29T00-previous-secret';
import { deliveryOptions } from './2026-12-06T00-delivery-options';
import { formats } from './2026-12-06T01-formats';
import { dueBySubscription } from './2026-12-06T02-due-by-subscription';
import { audit } from './2026-12-06T03-audit';
import { search } from './2026-12-06T04-search';

const migrations: Record<string, Migration> = {
  '2026-11-28T00-initial': initial,
  '2026-11-28T01-outbox': outbox,
  '2026-11-29T00-previous-secret': previousSecret,
  '2026-12-06T00-delivery-options': deliveryOptions,
  '2026-12-06T01-formats': formats,
  '2026-12-06T02-due-by-subscription': dueBySubscription,
  '2026-12-06T03-audit': audit,
  '2026-12-06T04-search': search,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
