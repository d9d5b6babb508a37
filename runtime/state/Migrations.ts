/**
 * The state store's schema, as migrations applied in id order at start by the
 * dialect's layer. A migration, once released, is never edited: a change is a new one.
 */
import * as Migrator from "@effect/sql/Migrator"
import runsAndCheckpoints from "./migrations/0001_runs_and_checkpoints.js"
import controlPlane from "./migrations/0002_control_plane.js"

export const migrations = {
  "0001_runs_and_checkpoints": runsAndCheckpoints,
  "0002_control_plane": controlPlane
}

export const loader = Migrator.fromRecord(migrations)

/** Where the applied migrations are recorded. */
export const migrationsTable = "ferry_state_migrations"

/**
 * Runs the migrations not yet applied. @effect/sql's SQLite and PostgreSQL migrators are
 * this one plus a schema dump through the sqlite3 or pg_dump command, which Ferry does
 * not ask for; without them no process-spawning service is needed to open a store.
 */
export const runMigrations = Migrator.make({})
