import { type Kysely, type Migration } from 'kysely';

/**
 * Formats and filters: how many events a subscription's filter kept out of its outbox,
 * and a delivery's request body when it is not the event's stored body (a product's
 * format, a transform, a batch), so the detail shows the bytes that were signed and sent;
 * a batch's body is kept once, with its first delivery, which the others name (`batch_of`).
 */
export const formats: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('subscriptions').addColumn('filtered_count', 'integer', (col) => col.notNull().defaultTo(0)).execute();
    await db.schema.alterTable('deliveries').addColumn('request_body', 'text').execute();
    await db.schema.alterTable('deliveries').addColumn('batch_of', 'integer').execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('deliveries').dropColumn('batch_of').execute();
    await db.schema.alterTable('deliveries').dropColumn('request_body').execute();
    await db.schema.alterTable('subscriptions').dropColumn('filtered_count').execute();
  },
};
