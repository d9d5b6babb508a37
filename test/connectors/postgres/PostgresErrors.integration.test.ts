/**
 * Bad input fails with a SourceError naming the store, the table and the column, and
 * never the password: an unreachable server, a wrong password, a missing table or
 * column, a cursor that cannot order rows, a type with no mapping.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as net from "node:net"
import type { PostgresDatasetConfig } from "../../../connectors/postgres/PostgresSource.js"
import { postgresSource } from "../../../connectors/postgres/PostgresSource.js"
import type { SourceError } from "../../../core/Errors.js"
import { parseFilter } from "../../../core/Filter.js"
import type { ReadPlan } from "../../../core/Source.js"
import type { CursorWatermark } from "../../../core/Watermark.js"
import { collect } from "../../conformance/index.js"
import { makeSchema, storeConfig } from "../../support/postgres.js"
import { readPlan } from "../../support/plans.js"

let schema: Awaited<ReturnType<typeof makeSchema>>

beforeAll(async () => {
  schema = await makeSchema("errors")
  await schema.client.query(`
    SET search_path = ${schema.name};
    CREATE TABLE sales (id bigint PRIMARY KEY, region text, flag boolean, doc json, at timestamptz, dur interval);
    INSERT INTO sales VALUES (1, 'EU', true, '{}', '2026-01-01Z', '1 day');
    CREATE TABLE places (id bigint, spot point);
    INSERT INTO places VALUES (1, '(1,2)');
    CREATE TABLE infinite (id int, at timestamp, day date, price numeric(10,2));
    INSERT INTO infinite VALUES (1, 'infinity', '2026-01-01', 1), (2, '2026-01-01', '-infinity', 2), (3, '2026-01-01', '2026-01-01', 'NaN'), (4, '294250-01-01', '2026-01-01', 1);
  `)
})
afterAll(async () => {
  await schema.drop()
})

const context = { store: "sales-db", baseDir: "." }

const plan = (overrides: Partial<ReadPlan<CursorWatermark>> = {}): ReadPlan<CursorWatermark> =>
  readPlan("sales", overrides)

const failure = <A>(effect: Effect.Effect<A, SourceError, never>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    if (Exit.isSuccess(exit)) throw new Error("expected a failure")
    const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
    if (error === undefined) throw new Error(`expected a SourceError, got ${String(exit.cause)}`)
    return error
  })

const readFailure = (dataset: PostgresDatasetConfig, readPlan: ReadPlan<CursorWatermark> = plan()) =>
  failure(
    Effect.scoped(
      Effect.flatMap(postgresSource.open(storeConfig(), context), (session) =>
        collect(session.readTable!(dataset, readPlan))
      )
    )
  )

const table = (name: string): PostgresDatasetConfig => ({ table: `${schema.name}.${name}` })

/** A server that asks for a password and refuses it, as PostgreSQL does for a wrong one. */
const refusingServer = () =>
  Effect.acquireRelease(
    Effect.async<net.Server>((resume) => {
      const server = net.createServer((socket) => {
        let stage = 0
        socket.on("data", () => {
          if (stage++ === 0) {
            const ask = Buffer.alloc(9)
            ask.write("R", 0)
            ask.writeInt32BE(8, 1)
            ask.writeInt32BE(3, 5) // AuthenticationCleartextPassword
            socket.write(ask)
            return
          }
          const fields = Buffer.from(
            'SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user "alice"\0\0',
            "utf8"
          )
          const header = Buffer.alloc(5)
          header.write("E", 0)
          header.writeInt32BE(fields.length + 4, 1)
          socket.end(Buffer.concat([header, fields]))
        })
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.sync(() => server.close())
  )

describe("PostgreSQL source errors", () => {
  it.scopedLive("an unreachable server is named by host and port, without the password", () =>
    Effect.gen(function* () {
      const error = yield* failure(
        Effect.scoped(postgresSource.open(storeConfig("postgres://alice:hunter2@127.0.0.1:1/test"), context))
      )
      expect(error.store).toBe("sales-db")
      expect(error.message).toContain("127.0.0.1:1")
      expect(error.message).toContain("connection refused")
      expect(JSON.stringify(error)).not.toContain("hunter2")
    })
  )

  it.scopedLive("a wrong password names the user, never the password", () =>
    Effect.gen(function* () {
      const server = yield* refusingServer()
      const port = (server.address() as net.AddressInfo).port
      const error = yield* failure(
        Effect.scoped(postgresSource.open(storeConfig(`postgres://alice:hunter2@127.0.0.1:${port}/test`), context))
      )
      expect(error.message).toBe(`wrong password for user alice on the PostgreSQL server at 127.0.0.1:${port}`)
      expect(JSON.stringify(error)).not.toContain("hunter2")
    })
  )

  it.scopedLive("a missing database is named", () =>
    Effect.gen(function* () {
      const error = yield* failure(
        Effect.scoped(postgresSource.open(storeConfig("postgres://postgres@127.0.0.1:5432/no_such_db"), context))
      )
      expect(error.message).toBe("database no_such_db does not exist on the PostgreSQL server at 127.0.0.1:5432")
    })
  )

  it.scopedLive("a missing table is named, in describe and in a read", () =>
    Effect.gen(function* () {
      const session = yield* postgresSource.open(storeConfig(), context)
      const described = yield* failure(session.describe(table("nope")))
      expect(described.message).toBe(`table ${schema.name}.nope does not exist`)
      const read = yield* readFailure(table("nope"))
      expect(read.store).toBe("sales-db")
      expect(read.message).toContain("nope does not exist")
    })
  )

  it.scopedLive("a missing column is named with its table, in the selection, the filter and the cursor", () =>
    Effect.gen(function* () {
      const selected = yield* readFailure(table("sales"), plan({ columns: Option.some(["id", "amount"]) }))
      expect(selected).toMatchObject({ store: "sales-db", dataset: "sales", column: "amount" })
      expect(selected.message).toContain(`${schema.name}.sales has no column amount`)

      const filtered = yield* readFailure(
        table("sales"),
        plan({ filter: Option.some(Either.getOrThrow(parseFilter("amount > 3"))) })
      )
      expect(filtered.message).toContain("amount")

      const cursor = yield* readFailure(
        table("sales"),
        plan({ incremental: Option.some({ cursor: "updated_at", key: ["id"], lookback: Option.none() }) })
      )
      expect(cursor).toMatchObject({ column: "updated_at" })
      expect(cursor.message).toContain("no column updated_at (the incremental cursor)")
    })
  )

  it.scopedLive("a cursor column that cannot order rows is refused by name", () =>
    Effect.gen(function* () {
      for (const column of ["flag", "doc", "dur"]) {
        const error = yield* readFailure(
          table("sales"),
          plan({
            mode: "incremental",
            incremental: Option.some({ cursor: column, key: ["id"], lookback: Option.none() })
          })
        )
        expect(error.column).toBe(column)
        expect(error.message).toMatch(new RegExp(`cursor column ${column}.*(cannot order|text form)`))
      }
    })
  )

  it.scopedLive("a type with no mapping is refused naming the store, table and column", () =>
    Effect.gen(function* () {
      const session = yield* postgresSource.open(storeConfig(), context)
      const error = yield* failure(session.describe(table("places")))
      expect(error).toMatchObject({ store: "sales-db", column: "spot" })
      expect(error.message).toBe(
        `${schema.name}.places, column spot: its type point has no mapping to a Ferry type; read it through a query dataset that casts it (point::text, for one)`
      )
      // A query dataset that casts it reads.
      const cast = { query: `SELECT id, spot::text AS spot FROM ${schema.name}.places` }
      const pages = yield* collect(session.readTable!(cast, plan()))
      expect(pages.reduce((rows, page) => rows + page.batch.numRows, 0)).toBe(1)
    })
  )

  it.scopedLive("infinite timestamps and dates, and NaN decimals, fail naming the column", () =>
    Effect.gen(function* () {
      const dataset = table("infinite")
      const filtered = (id: number) => plan({ filter: Option.some(Either.getOrThrow(parseFilter(`id = ${id}`))) })
      const timestamp = yield* readFailure(dataset, filtered(1))
      expect(timestamp).toMatchObject({ column: "at", dataset: "sales" })
      expect(timestamp.message).toContain("holds infinity, which a timestamp cannot carry")
      const date = yield* readFailure(dataset, filtered(2))
      expect(date).toMatchObject({ column: "day" })
      expect(date.message).toContain("holds -infinity, which a date cannot carry")
      const decimal = yield* readFailure(dataset, filtered(3))
      expect(decimal).toMatchObject({ column: "price" })
      expect(decimal.message).toContain("holds NaN")
      const late = yield* readFailure(dataset, filtered(4))
      expect(late).toMatchObject({ column: "at" })
      expect(late.message).toContain("the last a timestamp in microseconds can carry")
    })
  )

  it.scopedLive("a query that writes fails: it runs in a read-only transaction", () =>
    Effect.gen(function* () {
      yield* Effect.promise(() =>
        schema.client.query(
          `CREATE FUNCTION ${schema.name}.sneaky() RETURNS int LANGUAGE sql AS 'DELETE FROM ${schema.name}.sales RETURNING 1'`
        )
      )
      const error = yield* readFailure({ query: `SELECT ${schema.name}.sneaky() AS n` })
      expect(error.message).toContain("read-only transaction")
      const rows = yield* Effect.promise(() =>
        schema.client.query(`SELECT count(*)::int AS n FROM ${schema.name}.sales`)
      )
      expect(rows.rows[0].n).toBe(1)
    })
  )
})
