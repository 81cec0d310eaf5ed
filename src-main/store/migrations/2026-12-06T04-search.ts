import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Finding a delivery by text in its event's body (store/search.ts): a full-text index
 * over `events.body` (FTS5, external content: the bodies are not stored twice) with the
 * trigram tokenizer, so any run of three or more characters is found, an IP or a
 * hyphenated decoy name included; and its watermark, the highest event seq indexed. The
 * index is filled in batches off the hot path (engine maintenance), never by a trigger.
 * Existing events are indexed by the first batches after the upgrade.
 */
export const search: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await sql`CREATE VIRTUAL TABLE events_text USING fts5(body, content='events', content_rowid='seq', tokenize='trigram')`.execute(db);
    await db.schema
      .createTable('events_text_watermark')
      .addColumn('id', 'integer', (c) => c.primaryKey().check(sql`id = 1`))
      .addColumn('indexed_seq', 'integer', (c) => c.notNull())
      .execute();
    await sql`INSERT INTO events_text_watermark (id, indexed_seq) VALUES (1, 0)`.execute(db);
  },

  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('events_text_watermark').execute();
    await sql`DROP TABLE events_text`.execute(db);
  },
};
