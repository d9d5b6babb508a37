/** The PostgreSQL sink passes the sink conformance suite, each test in a table of its own in a database of the file's own. */
import { afterAll, beforeAll } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { pgTypeFor } from "../../../connectors/postgres/PostgresTypes.js"
import { postgresSink } from "../../../sinks/postgres/PostgresSink.js"
import { sinkConformance } from "../../conformance/index.js"
import type { TestDatabase } from "../../support/postgres.js"
import { createDatabase, readRows, snapshotOf, storeConfig, target } from "../../support/postgres.js"

let database: TestDatabase
beforeAll(async () => {
  database = await createDatabase("ferry_sink_conformance")
}, 30_000)
afterAll(() => database?.drop(), 30_000)

const SCHEMA = "Conformance Schema"
const tableOf = (name: string) => `"${SCHEMA}"."${name}"`

sinkConformance("postgres", {
  connector: postgresSink,
  store: Effect.sync(() => ({ config: storeConfig(database.url), context: { store: "pg", baseDir: "." } })),
  target: (_store, name) => target(tableOf(name)),
  published: (_store, config) => snapshotOf(database, config.table),
  readBack: (_store, config, columns) => readRows(database.url, config.table, columns),
  // PostgreSQL keeps microseconds: nanosecond values are refused rather than cut.
  carries: (type) => Either.match(pgTypeFor(type), { onLeft: () => false, onRight: (mapped) => mapped.exact })
})
