/** The PostgreSQL source passes the source conformance suite, each table in a schema of this file's own. */
import { afterAll, beforeAll } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { postgresSource } from "../../../connectors/postgres/PostgresSource.js"
import { sourceConformance } from "../../conformance/index.js"
import { createTable, makeSchema, storeConfig } from "../../support/postgres.js"

let schema: Awaited<ReturnType<typeof makeSchema>>
let tables = 0

beforeAll(async () => {
  schema = await makeSchema("conformance")
})
afterAll(async () => {
  await schema.drop()
})

sourceConformance("postgres", {
  connector: postgresSource,
  table: (spec) =>
    Effect.promise(async () => {
      const table = `t${++tables}`
      await createTable(schema.client, schema.name, table, spec.columns, spec.rows)
      return {
        config: storeConfig(),
        context: { store: "pg", baseDir: "." },
        dataset: { table: `${schema.name}.${table}`, batch_rows: spec.pageRows }
      }
    }),
  // PostgreSQL has no one-byte integer and keeps timestamps in microseconds.
  carries: (type) => type.kind !== "int8" && (type.kind !== "timestamp" || type.unit === "us")
})
