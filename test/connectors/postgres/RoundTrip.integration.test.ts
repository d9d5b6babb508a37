/**
 * Every exactly-mapped type, PostgreSQL → Parquet → PostgreSQL through `ferry run`'s
 * code: the table that arrives holds the same values as the one read, at their
 * extremes (bigint and numeric(38,10) at their limits, timestamps before 1970 and far
 * ahead, year 1, NaN and infinities in floats, empty text against NULL, non-ASCII text).
 * The sink keeps its bookkeeping in the database it writes to, so the test has a
 * database of its own, dropped at the end.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { quoteIdentifier } from "../../../connectors/postgres/Identifiers.js"
import { runOnce, shareConfig, workspace } from "../../runtime/RunSupport.js"
import type { TestDatabase } from "../../support/postgres.js"
import { createDatabase } from "../../support/postgres.js"

const SCHEMA = "round_trip"
let database: TestDatabase

const COLUMNS: ReadonlyArray<readonly [string, string, ReadonlyArray<string>]> = [
  ["id", "integer", ["1", "2", "3", "4"]],
  ["small", "smallint", ["-32768", "32767", "0", "NULL"]],
  ["big", "bigint", ["-9223372036854775808", "9223372036854775807", "9007199254740993", "NULL"]],
  ["ratio", "real", ["'NaN'", "'-Infinity'", "3.4028235e38", "NULL"]],
  ["score", "double precision", ["'Infinity'", "5e-324", "-0.1", "NULL"]],
  [
    "price",
    "numeric(38,10)",
    ["9999999999999999999999999999.9999999999", "-9999999999999999999999999999.9999999999", "0.0000000001", "NULL"]
  ],
  ["cents", "numeric(12,2)", ["-0.01", "9999999999.99", "0", "NULL"]],
  ["flag", "boolean", ["true", "false", "NULL", "true"]],
  ["label", "text", ["''", "'héllo ✓ 日本語 🚀'", "'a,b\"c''d\\e\n f'", "NULL"]],
  ["code", "varchar(8)", ["'x'", "''", "NULL", "'ü'"]],
  ["blob", "bytea", ["'\\x00ff10'", "''", "NULL", "'\\x2c22'"]],
  [
    "ref",
    "uuid",
    ["'123e4567-e89b-12d3-a456-426614174000'", "'00000000-0000-0000-0000-000000000000'", "NULL", "gen_random_uuid()"]
  ],
  ["day", "date", ["'0001-01-01'", "'9999-12-31'", "'1969-12-31'", "NULL"]],
  ["clock", "time", ["'00:00:00'", "'23:59:59.999999'", "'12:34:56.789'", "NULL"]],
  [
    "naive",
    "timestamp",
    ["'0001-01-01 00:00:00'", "'294247-01-10 04:00:54.775807'", "'1969-12-31 23:59:59.999999'", "NULL"]
  ],
  [
    "zoned",
    "timestamptz",
    ["'1900-01-01 00:00:00.000001+00'", "'2262-04-11 23:47:16.854775+00'", "'2026-06-01 12:00:00+02'", "NULL"]
  ],
  ["doc", "json", ['\'{"b":1, "a":[true,null], "n":12345678901234567890}\'', "'[]'", "'\"s\"'", "NULL"]],
  ["tags", "text[]", ["ARRAY['a', NULL, '']", "'{}'", "NULL", "ARRAY['ü,\"']"]],
  ["amounts", "numeric(12,2)[]", ["'{1.50,-2,NULL}'", "'{}'", "NULL", "'{0.01}'"]],
  ["stamps", "timestamptz[]", ["ARRAY['2026-01-01 00:00:00+05'::timestamptz]", "'{NULL}'", "NULL", "'{}'"]]
]

beforeAll(async () => {
  database = await createDatabase("ferry_round_trip")
  const rows = [0, 1, 2, 3].map((row) => `(${COLUMNS.map(([, , values]) => values[row]).join(", ")})`)
  await database.query(`
    CREATE SCHEMA ${SCHEMA};
    CREATE TABLE ${SCHEMA}.source (${COLUMNS.map(([name, type]) => `${name} ${type}`).join(", ")});
    INSERT INTO ${SCHEMA}.source VALUES ${rows.join(", ")};
  `)
}, 30_000)
afterAll(() => database?.drop(), 30_000)

/** Rows of a table as text, each column through its own type's output. */
const rowsOf = async (table: string): Promise<Array<string>> => {
  const rows = await database.query(
    `SELECT ${COLUMNS.map(([name]) => `${quoteIdentifier(name)}::text`).join(", ")} FROM ${SCHEMA}.${table} ORDER BY id`
  )
  return rows.map((row) => JSON.stringify(Object.values(row)))
}

describe("PostgreSQL → Parquet → PostgreSQL", () => {
  it.effect("every value arrives as it left", () =>
    Effect.gen(function* () {
      const out = workspace(
        shareConfig({
          stores: [`pg: { type: postgres, url: "${database.url}", account: contoso }`],
          datasets: [`{ name: every, source: { store: pg, table: ${SCHEMA}.source } }`],
          mappings: ["every: { store: out, path: every/, format: parquet }"]
        })
      )
      const first = yield* runOnce(out)
      expect(first.results.map((result) => result.status)).toEqual(["succeeded"])
      const back = workspace(
        shareConfig({
          stores: [
            `parquet: { type: local, root: "${out.out()}", account: contoso }`,
            `pg: { type: postgres, url: "${database.url}", account: fabrikam }`
          ],
          datasets: ["{ name: every, source: { store: parquet, table: every/ } }"],
          mappings: [`every: { store: pg, table: ${SCHEMA}.arrived }`]
        })
      )
      const second = yield* runOnce(back)
      expect(second.results.flatMap((result) => result.datasets.map((dataset) => dataset.message ?? "ok"))).toEqual([
        "ok"
      ])
      const columns = yield* Effect.promise(() =>
        database.query(
          `SELECT column_name, format_type(atttypid, atttypmod) AS type FROM information_schema.columns
           JOIN pg_attribute ON attrelid = '${SCHEMA}.arrived'::regclass AND attname = column_name
           WHERE table_schema = '${SCHEMA}' AND table_name = 'arrived' ORDER BY ordinal_position`
        )
      )
      expect(columns.map((row) => `${row.column_name} ${row.type}`)).toEqual([
        "id integer",
        "small smallint",
        "big bigint",
        "ratio real",
        "score double precision",
        "price numeric(38,10)",
        "cents numeric(12,2)",
        "flag boolean",
        "label text",
        "code text",
        "blob bytea",
        "ref uuid",
        "day date",
        "clock time without time zone",
        "naive timestamp without time zone",
        "zoned timestamp with time zone",
        "doc json",
        "tags text[]",
        "amounts numeric(12,2)[]",
        "stamps timestamp with time zone[]"
      ])
      const [sent, arrived] = yield* Effect.promise(() => Promise.all([rowsOf("source"), rowsOf("arrived")]))
      expect(arrived).toEqual(sent)
      expect(fs.existsSync(path.join(out.out(), "every"))).toBe(true)
      out.remove()
      back.remove()
    })
  )
})
