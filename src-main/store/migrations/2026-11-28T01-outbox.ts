import { sql, type Kysely, type Migration } from 'kysely';

/**
 * The deliveries table becomes the outbox: a delivery waiting for its first attempt or
 * for a retry keeps its due time in the store (`next_attempt_at`, epoch ms; NULL while
 * an attempt is under way or once it has ended), replays point at what they resend,
 * and subscriptions may carry their own retry schedule.
 */
export const outbox: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('deliveries').addColumn('next_attempt_at', 'integer').execute();
    await db.schema.alterTable('deliveries').addColumn('replay_of', 'integer').execute();
    await db.schema.alterTable('deliveries').addColumn('is_replay', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    await db.schema.alterTable('subscriptions').addColumn('retry_schedule', 'text').execute();
    await sql`CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE next_attempt_at IS NOT NULL`.execute(db);
    await db.schema.createIndex('deliveries_by_subscription_outcome').on('deliveries').columns(['subscription_id', 'outcome']).execute();
    await db.schema.createIndex('deliveries_by_event').on('deliveries').column('event_seq').execute();
    await db.schema.createIndex('events_by_received_at').on('events').column('received_at').execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    for (const index of ['events_by_received_at', 'deliveries_by_event', 'deliveries_by_subscription_outcome', 'deliveries_due'])
      await db.schema.dropIndex(index).execute();
    await db.schema.alterTable('subscriptions').dropColumn('retry_schedule').execute();
    for (const column of ['is_replay', 'replay_of', 'next_attempt_at']) await db.schema.alterTable('deliveries').dropColumn(column).execute();
  },
};
