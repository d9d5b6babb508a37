/**
 * The databases the control store suites run against: the state store's matrix
 * (test/runtime/state/fixtures/Dialects.ts), each place opened with both stores on one client.
 */
import type * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Layers from "../../../runtime/control/Layers.js"
import type { StateError } from "../../../runtime/state/StateError.js"
import { type Dialect, makePostgres, makeSqlite } from "../state/fixtures/Dialects.js"

export interface ControlDialect extends Dialect {
  /** Both stores at the current place, as the service opens them. */
  readonly stores: () => Layer.Layer<Layers.Stores, StateError>
}

const withStores = (dialect: Dialect): ControlDialect => ({
  ...dialect,
  stores: () =>
    dialect.name === "SQLite"
      ? Layers.layerSqlite({ filename: dialect.place() })
      : Layers.layerPostgres({ url: Redacted.make(dialect.place()) })
})

export const dialects = (): ReadonlyArray<ControlDialect> => [withStores(makeSqlite()), withStores(makePostgres())]
