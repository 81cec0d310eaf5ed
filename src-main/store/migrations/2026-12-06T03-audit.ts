import { sql, type Kysely, type Migration } from 'kysely';

/**
 * The operator audit trail (store/audit.ts): one row per change an operator made, each
 * chained to the one before by a hash; and the chain's two ends, in one row: the anchor
 * (the last record retention removed: verification starts there) and the head (the
 * newest record appended: a record removed from the end shows).
 */
export const audit: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('audit')
      .addColumn('seq', 'integer', (c) => c.primaryKey())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('target', 'text', (c) => c.notNull())
      .addColumn('target_id', 'text')
      .addColumn('before', 'text')
      .addColumn('after', 'text')
      .addColumn('prev_hash', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('audit_by_at').on('audit').column('at').execute();
    await db.schema
      .createTable('audit_chain')
      .addColumn('id', 'integer', (c) => c.primaryKey().check(sql`id = 1`))
      .addColumn('anchor_seq', 'integer', (c) => c.notNull())
      .addColumn('anchor_hash', 'text', (c) => c.notNull())
      .addColumn('anchor_at', 'text')
      .addColumn('head_seq', 'integer', (c) => c.notNull())
      .addColumn('head_hash', 'text', (c) => c.notNull())
      .execute();
    // The genesis: 64 zeros (store/audit.ts GENESIS_HASH), the link of the very first record.
    await sql`INSERT INTO audit_chain (id, anchor_seq, anchor_hash, anchor_at, head_seq, head_hash) VALUES (1, 0, ${'0'.repeat(64)}, NULL, 0, ${'0'.repeat(64)})`.execute(db);
  },

  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('audit_chain').execute();
    await db.schema.dropTable('audit').execute();
  },
};
