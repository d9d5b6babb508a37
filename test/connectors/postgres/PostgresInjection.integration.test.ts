/** No table name, column name or filter value can change the SQL the source runs. */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { PostgresDatasetConfig } from "../../../connectors/postgres/PostgresSource.js"
import { PostgresDatasetConfig as DatasetSchema, postgresSource } from "../../../connectors/postgres/PostgresSource.js"
import { parseFilter } from "../../../core/Filter.js"
import { collect, rowsOf, rowText } from "../../conformance/index.js"
import { makeSchema, storeConfig } from "../../support/postgres.js"

let schema: Awaited<ReturnType<typeof makeSchema>>
const WEIRD_TABLE = 'Order "Lines"; DROP TABLE victims; --'
const WEIRD_COLUMN = 'Region") OR TRUE; DROP TABLE victims; --'

beforeAll(async () => {
  schema = await makeSchema("injection")
  await schema.client.query(`
    SET search_path = ${schema.name};
    CREATE TABLE victims (id int);
    INSERT INTO victims VALUES (1);
    CREATE TABLE "Order ""Lines""; DROP TABLE victims; --" ("${WEIRD_COLUMN.replace(/"/g, '""')}" text, "select" int, note text);
    INSERT INTO "Order ""Lines""; DROP TABLE victims; --" VALUES ('EU', 1, 'it''s'), ('US', 2, 'a\\b'), ('x'' OR ''1''=''1', 3, NULL);
  `)
})
afterAll(async () => {
  await schema.drop()
})

const quoted = (name: string) => `"${name.replace(/"/g, '""')}"`
const dataset: () => PostgresDatasetConfig = () => ({ table: `${schema.name}.${quoted(WEIRD_TABLE)}` })

const read = (filter: string, columns?: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const session = yield* postgresSource.open(storeConfig(), { store: "pg", baseDir: "." })
    const description = yield* session.describe(dataset())
    const all = description.kind === "table" ? description.columns : []
    const pages = yield* collect(
      session.readTable!(dataset(), {
        dataset: "lines",
        mode: "full",
        after: Option.none(),
        columns: columns === undefined ? Option.none() : Option.some(columns),
        filter: Option.some(Either.getOrThrow(parseFilter(filter))),
        incremental: Option.none()
      })
    )
    if (pages.length === 0) return []
    const read = all.filter((column) => pages[0]!.batch.schema.fields.some((field) => field.name === column.name))
    return rowsOf(
      all,
      pages.map((page) => page.batch)
    ).map((row) => rowText(read, row).join("|"))
  })

const victimsRemain = Effect.promise(async () => {
  const result = await schema.client.query(`SELECT count(*)::int AS n FROM ${schema.name}.victims`)
  return result.rows[0].n as number
})

describe("PostgreSQL source against injection", () => {
  it.scopedLive("a table and column whose names hold quotes and SQL are read as names", () =>
    Effect.gen(function* () {
      const rows = yield* read(`${quoted(WEIRD_COLUMN)} = 'EU' and "select" = 1`)
      expect(rows).toEqual(["EU|1|it's"])
      expect(yield* victimsRemain).toBe(1)
    })
  )

  it.scopedLive("a filter literal holding quotes and SQL is compared as a value", () =>
    Effect.gen(function* () {
      expect(yield* read(`note = 'x'' OR ''1''=''1'`)).toEqual([])
      expect(yield* read(`${quoted(WEIRD_COLUMN)} = 'x'' OR ''1''=''1'`, ["select"])).toEqual(["3"])
      expect(yield* read(`note = 'a\\b'`, ["select"])).toEqual(["2"])
      expect(yield* read(`note = 'it''s''; DROP TABLE victims; --'`, ["select"])).toEqual([])
      expect(yield* read(`"select" in (1, 2) and note like 'it''%'`, ["select"])).toEqual(["1"])
      expect(yield* victimsRemain).toBe(1)
    })
  )

  it.scopedLive("a NUL in a filter value fails clearly instead of reaching the server", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(read("note = 'a\u0000b'"))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(JSON.stringify(exit)).toContain("NUL")
    })
  )

  it("a table name that would end the identifier is refused when the config is read", () => {
    const decode = Schema.decodeUnknownEither(DatasetSchema)
    expect(Either.isLeft(decode({ table: "sales; DROP TABLE victims" }))).toBe(true)
    expect(Either.isLeft(decode({ table: "sales", query: "SELECT 1" }))).toBe(true)
    expect(Either.isRight(decode({ table: '"My Schema"."Order Lines"' }))).toBe(true)
  })
})
