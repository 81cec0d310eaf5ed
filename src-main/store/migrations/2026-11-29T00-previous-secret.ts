import type { Kysely, Migration } from 'kysely';

/**
 * Dual-secret rotation: the secret a rotation replaced stays valid until a time the
 * analyst chose, and deliveries carry a second signature made with it meanwhile.
 * Stored like `secret` (encrypted when a key is configured).
 */
export const previousSecret: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('subscriptions').addColumn('previous_secret', 'text').execute();
    await db.schema.alterTable('subscriptions').addColumn('previous_secret_until', 'text').execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    for (const column of ['previous_secret_until', 'previous_secret']) await db.schema.alterTable('subscriptions').dropColumn(column).execute();
  },
};
