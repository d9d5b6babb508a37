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
