import { sql, type Kysely, type Migration } from 'kysely';

/** Due work by subscription, for claiming each subscription's share of memory on its own. */
export const dueBySubscription: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await sql`CREATE INDEX deliveries_due_by_subscription ON deliveries (subscription_id, next_attempt_at, id) WHERE next_attempt_at IS NOT NULL`.execute(db);
  },

  async down(db: Kysely<unknown>): Promise<void> {
    await sql`DROP INDEX deliveries_due_by_subscription`.execute(db);
  },
};
