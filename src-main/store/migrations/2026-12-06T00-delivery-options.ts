import { sql, type Kysely, type Migration } from 'kysely';

/**
 * A subscription's delivery options (extra headers, TLS files, proxy bypass, pacing) as
 * one JSON object, so a new option is an entry in contract/subscription-options.ts and
 * not a migration; and its secret headers, sealed like `secret`.
 */
export const deliveryOptions: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .alterTable('subscriptions')
      .addColumn('options', 'text', (col) => col.notNull().defaultTo(sql`'{}'`))
      .execute();
    await db.schema.alterTable('subscriptions').addColumn('secret_headers', 'text').execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    for (const column of ['secret_headers', 'options']) await db.schema.alterTable('subscriptions').dropColumn(column).execute();
  },
};
