/**
 * The PostgreSQL server of the tests (127.0.0.1:5432, or FERRY_TEST_POSTGRES_URL), a
 * schema of their own per test file (random name, dropped at the end), and tables
 * made from Ferry columns and rows.
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import pg from "pg"
import { quoteIdentifier } from "../../../connectors/postgres/Identifiers.js"
import { sqlLiteral } from "../../../connectors/postgres/internal/Literals.js"
import { PostgresStoreConfig } from "../../../connectors/postgres/PostgresStore.js"
import { pgTypeFor } from "../../../connectors/postgres/PostgresTypes.js"
import type { Column, LogicalType } from "../../../core/Types.js"
import type { Value } from "../../../core/Values.js"
import type { Row } from "../../conformance/index.js"

export const TEST_URL = process.env["FERRY_TEST_POSTGRES_URL"] ?? "postgres://postgres@127.0.0.1:5432/test"

export const storeConfig = (url = TEST_URL, extra: Record<string, unknown> = {}): PostgresStoreConfig =>
  Schema.decodeUnknownSync(PostgresStoreConfig)({ url, ...extra })

export const connect = async (url = TEST_URL): Promise<pg.Client> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  return client
}

/** A fresh schema on the test server; `drop` removes it and everything in it. */
export const makeSchema = async (
  prefix: string
): Promise<{ name: string; client: pg.Client; drop: () => Promise<void> }> => {
  const client = await connect()
  const name = `ferry_test_${prefix}_${Math.random().toString(36).slice(2, 10)}`
  await client.query(`CREATE SCHEMA ${quoteIdentifier(name)}`)
  return {
    name,
    client,
    drop: async () => {
      await client.query(`DROP SCHEMA ${quoteIdentifier(name)} CASCADE`)
      await client.end()
    }
  }
}

const literal = (type: LogicalType, value: Value | null): string => {
  if (value === null) return "NULL"
  if (type.kind === "list") {
    const items = (value as ReadonlyArray<Value | null>).map((item) => literal(type.element, item))
    return `ARRAY[${items.join(", ")}]::${Either.getOrThrow(pgTypeFor(type)).sql}`
  }
  return Either.getOrThrow(sqlLiteral(type, value))
}

/** Creates `schema.table` with the PostgreSQL types of the columns and inserts the rows. */
export const createTable = async (
  client: pg.ClientBase,
  schema: string,
  table: string,
  columns: ReadonlyArray<Column>,
  rows: ReadonlyArray<Row>
): Promise<void> => {
  const qualified = `${quoteIdentifier(schema)}.${quoteIdentifier(table)}`
  const definitions = columns.map(
    (column) =>
      `${quoteIdentifier(column.name)} ${Either.getOrThrow(pgTypeFor(column.type)).sql}${column.nullable ? "" : " NOT NULL"}`
  )
  await client.query(`CREATE TABLE ${qualified} (${definitions.join(", ")})`)
  for (let start = 0; start < rows.length; start += 1000) {
    const values = rows
      .slice(start, start + 1000)
      .map((row) => `(${columns.map((column, i) => literal(column.type, row[i] ?? null)).join(", ")})`)
    await client.query(`INSERT INTO ${qualified} VALUES ${values.join(", ")}`)
  }
}
