/**
 * A database of its own for each test file of the PostgreSQL sink, on the server the
 * tests run against, dropped with everything in it when the file's tests end; and
 * the helpers the files share: a sink session on it, batches written and committed,
 * and tables read back.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { randomBytes } from "node:crypto"
import pg from "pg"
import type { PostgresStoreConfig } from "../../../connectors/postgres/PostgresStore.js"
import { BatchBuilder } from "../../../core/Batch.js"
import type { Delivery, SinkSession, WriteMode } from "../../../core/Sink.js"
import type { Column, LogicalType } from "../../../core/Types.js"
import type { Value } from "../../../core/Values.js"
import { parseText } from "../../../core/Values.js"
import type { PostgresTargetConfig } from "../../../sinks/postgres/PostgresSink.js"
import { postgresSink } from "../../../sinks/postgres/PostgresSink.js"
import type { Row } from "../../conformance/Tables.js"
import { batchOf, rowsOf } from "../../conformance/Tables.js"

/** The server the tests use; FERRY_TEST_PG_URL points them at another. */
export const SERVER_URL = process.env["FERRY_TEST_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/test"

const urlOf = (database: string): string => {
  const url = new URL(SERVER_URL)
  url.pathname = `/${database}`
  return url.toString()
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
  readonly drop: () => Promise<void>
}

/** A new database from template0 (which no session ever holds), named `prefix_<random>`. */
export const createDatabase = async (prefix: string): Promise<TestDatabase> => {
  const name = `${prefix}_${randomBytes(5).toString("hex")}`
  const admin = new pg.Client({ connectionString: SERVER_URL })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE "${name}" TEMPLATE template0`)
  } finally {
    await admin.end()
  }
  const url = urlOf(name)
  const pool = new pg.Pool({ connectionString: url, max: 4 })
  pool.on("error", () => undefined)
  return {
    name,
    url,
    pool,
    query: async (sql, values = []) => (await pool.query(sql, values as Array<unknown>)).rows,
    drop: async () => {
      await pool.end()
      const closer = new pg.Client({ connectionString: SERVER_URL })
      await closer.connect()
      try {
        await closer.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
      } finally {
        await closer.end()
      }
    }
  }
}

export const storeConfig = (url: string): PostgresStoreConfig =>
  Schema.decodeUnknownSync(postgresSink.storeConfig)({ url })

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
  const quoted = `"${name.replace(/"/g, '""')}"`
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
    const client = new pg.Client({ connectionString: url })
    await client.connect()
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
