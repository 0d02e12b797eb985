/**
 * The store's schema, versioned. A migration is appended, never edited: version N's
 * SQL is what every store at version N ran. PRAGMA user_version holds the version and
 * PRAGMA application_id marks the file as a zmesh store.
 */
export const APPLICATION_ID = 0x7a6d7368; // "zmsh"

export const MIGRATIONS: readonly string[] = [
  // 1: reliable commands (outbox, dead letters, per-sender inbox watermarks).
  `
  CREATE TABLE zmesh_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE zmesh_outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              BLOB    NOT NULL UNIQUE,
    service         TEXT    NOT NULL,
    method          TEXT    NOT NULL,
    stream_seq      INTEGER NOT NULL,
    headers         TEXT,
    payload         BLOB    NOT NULL,
    created_ms      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    UNIQUE (service, stream_seq)
  );
  CREATE TABLE zmesh_streams (service TEXT PRIMARY KEY, next_seq INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE zmesh_dead_letters (
    seq             INTEGER PRIMARY KEY,
    id              BLOB    NOT NULL,
    service         TEXT    NOT NULL,
    method          TEXT    NOT NULL,
    stream_seq      INTEGER NOT NULL,
    headers         TEXT,
    payload         BLOB    NOT NULL,
    created_ms      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    last_error      TEXT,
    dead_ms         INTEGER NOT NULL
  );
  CREATE INDEX zmesh_dead_stream ON zmesh_dead_letters (service, stream_seq);
  CREATE TABLE zmesh_inbox (
    sender          TEXT    PRIMARY KEY,
    last_seq        INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  // 2: reliable events (per-publisher log), durable subscription progress, and the
  // progress durable subscribers acknowledged (for pruning).
  `
  CREATE TABLE zmesh_events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              BLOB    NOT NULL,
    topic           TEXT    NOT NULL,
    headers         TEXT,
    payload         BLOB    NOT NULL,
    created_ms      INTEGER NOT NULL
  );
  CREATE TABLE zmesh_event_acks (
    subscriber      TEXT    PRIMARY KEY,
    seq             INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE zmesh_durable (
    name            TEXT    NOT NULL,
    stream          TEXT    NOT NULL,
    last_seq        INTEGER NOT NULL,
    PRIMARY KEY (name, stream)
  ) WITHOUT ROWID;
  `,
  // 3: events and commands whose payload is spilled to a segment file beside the
  // store (spill.ts): their payload column is empty and these say where the bytes are.
  // The partial indexes find the oldest segment still referenced without reading
  // other rows.
  `
  ALTER TABLE zmesh_events ADD COLUMN spill_segment INTEGER;
  ALTER TABLE zmesh_events ADD COLUMN spill_offset INTEGER;
  ALTER TABLE zmesh_events ADD COLUMN spill_length INTEGER;
  ALTER TABLE zmesh_events ADD COLUMN spill_crc INTEGER;
  CREATE INDEX zmesh_events_spill ON zmesh_events (spill_segment) WHERE spill_segment IS NOT NULL;
  ALTER TABLE zmesh_outbox ADD COLUMN spill_segment INTEGER;
  ALTER TABLE zmesh_outbox ADD COLUMN spill_offset INTEGER;
  ALTER TABLE zmesh_outbox ADD COLUMN spill_length INTEGER;
  ALTER TABLE zmesh_outbox ADD COLUMN spill_crc INTEGER;
  CREATE INDEX zmesh_outbox_spill ON zmesh_outbox (spill_segment) WHERE spill_segment IS NOT NULL;
  ALTER TABLE zmesh_dead_letters ADD COLUMN spill_segment INTEGER;
  ALTER TABLE zmesh_dead_letters ADD COLUMN spill_offset INTEGER;
  ALTER TABLE zmesh_dead_letters ADD COLUMN spill_length INTEGER;
  ALTER TABLE zmesh_dead_letters ADD COLUMN spill_crc INTEGER;
  CREATE INDEX zmesh_dead_letters_spill ON zmesh_dead_letters (spill_segment) WHERE spill_segment IS NOT NULL;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

