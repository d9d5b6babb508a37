/**
 * The service's storage: the state store (runs, checkpoints) and the control store
 * (accounts, shares, subscriptions…) on one client of the database a config's `state:`
 * names, migrated on open. One client means one SQLite connection, or one PostgreSQL
 * pool, for both.
 */
import * as Layer from "effect/Layer"
import type { StateLocation } from "../../config/FerryConfig.js"
import * as Postgres from "../state/internal/Postgres.js"
import * as Sqlite from "../state/internal/Sqlite.js"
import type { PostgresOptions, SqliteOptions } from "../state/StateStore.js"
import * as StateStore from "../state/StateStore.js"
import type { StateError } from "../state/StateError.js"
import * as ControlStore from "./ControlStore.js"

export type Stores = StateStore.StateStore | ControlStore.ControlStore

const both = Layer.merge(StateStore.layer, ControlStore.layer)

export const layerSqlite = (options: SqliteOptions): Layer.Layer<Stores, StateError> =>
  Layer.provide(both, Sqlite.layerClient(options))

export const layerPostgres = (options: PostgresOptions): Layer.Layer<Stores, StateError> =>
  Layer.provide(both, Postgres.layerClient(options))

/** Fresh in-memory stores per build, for tests. */
export const layerMemory: Layer.Layer<Stores> = Layer.orDie(layerSqlite({ filename: ":memory:" }))

/** Both stores where a config's `state:` says. */
export const layerFor = (location: StateLocation): Layer.Layer<Stores, StateError> =>
  location.kind === "sqlite" ? layerSqlite({ filename: location.file }) : layerPostgres({ url: location.url })
