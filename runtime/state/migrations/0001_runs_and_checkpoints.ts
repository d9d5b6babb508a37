/**
 * Runs, their datasets, the committed checkpoints and the commit intents of the
 * checkpoint protocol (docs/state.md). Portable DDL: it runs unchanged on SQLite and
 * PostgreSQL. Timestamps are ISO-8601 UTC text of fixed width (Date#toISOString), so
 * that they sort as text; watermarks are JSON text; counts are BIGINT because a
 * dataset can exceed 2^31 bytes.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE runs (
      run_id TEXT NOT NULL PRIMARY KEY,
      subscription TEXT NOT NULL,
      share TEXT NOT NULL,
      mode TEXT NOT NULL CHECK (mode IN ('full', 'incremental')),
      status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'canceled')),
      started_at TEXT NOT NULL,
      ended_at TEXT,
      message TEXT
    )`
  yield* sql`CREATE INDEX runs_by_start ON runs (started_at, run_id)`
  yield* sql`CREATE INDEX runs_by_subscription ON runs (subscription, started_at, run_id)`
  yield* sql`CREATE INDEX runs_by_status ON runs (status)`
  yield* sql`
    CREATE TABLE run_datasets (
      run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
      dataset TEXT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'canceled')),
      started_at TEXT NOT NULL,
      ended_at TEXT,
      row_count BIGINT NOT NULL,
      byte_count BIGINT NOT NULL,
      file_count BIGINT NOT NULL,
      message TEXT,
      watermark TEXT,
      PRIMARY KEY (run_id, dataset)
    )`
  yield* sql`
    CREATE TABLE checkpoints (
      subscription TEXT NOT NULL,
      dataset TEXT NOT NULL,
      watermark TEXT NOT NULL,
      run_id TEXT NOT NULL REFERENCES runs (run_id),
      committed_at TEXT NOT NULL,
      PRIMARY KEY (subscription, dataset)
    )`
  yield* sql`
    CREATE TABLE pending_commits (
      subscription TEXT NOT NULL,
      dataset TEXT NOT NULL,
      watermark TEXT NOT NULL,
      run_id TEXT NOT NULL REFERENCES runs (run_id),
      prepared_at TEXT NOT NULL,
      PRIMARY KEY (subscription, dataset)
    )`
})
