/**
 * The PostgreSQL server of the tests: 127.0.0.1:5432, database `test`, or the URL in
 * FERRY_TEST_POSTGRES_URL. A test works in a place of its own and removes it: a schema
 * with a random name in database `test` (`makeSchema`), or, for tests whose writes reach
 * beyond one schema (the sink's `_ferry` bookkeeping, roles), a database of its own
 * (`createDatabase`). Beside them: tables made from Ferry columns and rows, a sink
 * session, batches delivered through it, and tables read back.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { randomBytes } from "node:crypto"
import pg from "pg"
import { quoteIdentifier } from "../../connectors/postgres/Identifiers.js"
import { sqlLiteral } from "../../connectors/postgres/internal/Literals.js"
import { PostgresStoreConfig } from "../../connectors/postgres/PostgresStore.js"
import { pgTypeFor } from "../../connectors/postgres/PostgresTypes.js"
import { BatchBuilder } from "../../core/Batch.js"
import type { Delivery, SinkSession, WriteMode } from "../../core/Sink.js"
import type { Column, LogicalType } from "../../core/Types.js"
import type { Value } from "../../core/Values.js"
import { parseText } from "../../core/Values.js"
import type { PostgresTargetConfig } from "../../sinks/postgres/PostgresSink.js"
import { postgresSink } from "../../sinks/postgres/PostgresSink.js"
import type { Row } from "../conformance/Tables.js"
import { batchOf, rowsOf } from "../conformance/Tables.js"

/** The tests' database on the tests' server. */
export const TEST_URL = process.env["FERRY_TEST_POSTGRES_URL"] ?? "postgres://postgres@127.0.0.1:5432/test"

/** The URL of another database on the same server. */
export const urlOf = (database: string): string => {
  const url = new URL(TEST_URL)
  url.pathname = `/${database}`
  return url.toString()
}

/** A name no other test run uses: `prefix_<random hex>`. */
export const randomName = (prefix: string): string => `${prefix}_${randomBytes(5).toString("hex")}`

export const storeConfig = (url = TEST_URL, extra: Record<string, unknown> = {}): PostgresStoreConfig =>
  Schema.decodeUnknownSync(PostgresStoreConfig)({ url, ...extra })

export const connect = async (url = TEST_URL): Promise<pg.Client> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  return client
}

/** A fresh schema in database `test`; `drop` removes it and everything in it. */
export const makeSchema = async (
  prefix: string
): Promise<{ name: string; client: pg.Client; drop: () => Promise<void> }> => {
  const client = await connect()
  const name = randomName(`ferry_test_${prefix}`)
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

export interface TestDatabase {
  readonly name: string
  readonly url: string
  /** A pool on the database for the tests' own statements. */
  readonly pool: pg.Pool
  readonly query: <R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    values?: ReadonlyArray<unknown>
  ) => Promise<Array<R>>
  /** Drops the database, ending the sessions still on it, then closes the pool. */
  readonly drop: () => Promise<void>
}

const onServer = async <A>(statement: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = await connect()
  try {
    return await statement(client)
  } finally {
    await client.end()
  }
}

/** A new database from template0 (which no session ever holds), named `prefix_<random>`. */
export const createDatabase = async (prefix: string): Promise<TestDatabase> => {
  const name = randomName(prefix)
  await onServer((client) => client.query(`CREATE DATABASE ${quoteIdentifier(name)} TEMPLATE template0`))
  const url = urlOf(name)
  const pool = new pg.Pool({ connectionString: url, max: 4 })
  pool.on("error", () => undefined)
  return {
    name,
    url,
    pool,
    query: async (sql, values = []) => (await pool.query(sql, values as Array<unknown>)).rows,
    drop: async () => {
      // Dropped first, ending every session on it: a client a failed test never released would keep pool.end waiting.
      await onServer((client) => client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)} WITH (FORCE)`))
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([
        pool.end().catch(() => undefined),
        new Promise((resolve) => (timer = setTimeout(resolve, 5_000)))
      ])
      clearTimeout(timer)
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

export const target = (table: string): PostgresTargetConfig =>
  Schema.decodeUnknownSync(postgresSink.targetConfig)({ table })

export const openSink = (url: string, store = "pg-test") => postgresSink.open(storeConfig(url), { store, baseDir: "." })

/** Writes `rows` in batches of `batchRows` and commits them as run `runId`. */
export const deliver = (
  session: SinkSession<PostgresTargetConfig>,
  table: PostgresTargetConfig,
  columns: ReadonlyArray<Column>,
  rows: ReadonlyArray<Row>,
  options: { runId: string; mode: WriteMode; key?: ReadonlyArray<string>; batchRows?: number }
): Effect.Effect<Delivery, unknown> =>
  Effect.scoped(
    Effect.gen(function* () {
      const writer = yield* session.tables!.open(table, columns, {
        runId: options.runId,
        dataset: "test",
        mode: options.mode,
        key: options.key ?? []
      })
      const size = options.batchRows ?? 1000
      for (let start = 0; start < rows.length; start += size) {
        yield* writer.write(batchOf(columns, rows.slice(start, start + size)))
      }
      return yield* writer.commit({ runId: options.runId, watermark: { run: options.runId }, rows: rows.length })
    })
  )

/** SQL that gives a column's value as the text `parseText` reads back for its logical type. */
const textOf = (name: string, type: LogicalType): string => {
  const quoted = quoteIdentifier(name)
  return type.kind === "list" ? `array_to_json(${quoted})::text` : `${quoted}::text`
}

/**
 * The rows of a table read back in `columns` (which the table must have): every value
 * through its text form, in UTC, parsed as the column's logical type.
 */
export const readRows = (
  url: string,
  table: string,
  columns: ReadonlyArray<Column>
): Effect.Effect<Array<Row>, unknown> =>
  Effect.promise(async () => {
    const client = await connect(url)
    try {
      await client.query("SET TIME ZONE 'UTC'")
      const result = await client.query<Array<string | null>>({
        text: `SELECT ${columns.map((c, i) => `${textOf(c.name, c.type)} AS c${i}`).join(", ") || "1"} FROM ${table}`,
        rowMode: "array"
      })
      const builder = new BatchBuilder(columns)
      for (const cells of result.rows) {
        builder.appendRow(
          cells.map((cell, i): Value | null => {
            if (cell === null) return null
            const parsed = parseText(columns[i]!.type, cell)
            if (parsed._tag === "Left") throw new Error(`column ${columns[i]!.name}: ${parsed.left}`)
            return parsed.right
          })
        )
      }
      return rowsOf(columns, [builder.finish()])
    } finally {
      await client.end()
    }
  })

/** What a consumer of a table sees: its row count and a digest of its rows, or `undefined` when it does not exist. */
export const snapshotOf = (database: TestDatabase, table: string) =>
  Effect.promise(async () => {
    const [exists] = await database.query<{ present: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS present`, [
      table
    ])
    if (exists?.present !== true) return undefined
    const [row] = await database.query<{ rows: string; digest: string | null }>(
      `SELECT count(*)::text AS rows, md5(string_agg(t::text, E'\\n' ORDER BY t::text)) AS digest FROM ${table} t`
    )
    return row
  })
