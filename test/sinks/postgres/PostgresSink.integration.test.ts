/**
 * The PostgreSQL sink against the real server: every mode, a reader during a replace,
 * a run id committed once across a crash, staging tables cleaned up, schema evolution,
 * names that need quoting, names that try to inject SQL, and its error messages.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import pg from "pg"
import { SinkError } from "../../../core/Errors.js"
import type { Column } from "../../../core/Types.js"
import { postgresSink } from "../../../sinks/postgres/PostgresSink.js"
import { stagingName, stagingPrefix } from "../../../sinks/postgres/internal/Statements.js"
import type { Row } from "../../conformance/Tables.js"
import { batchOf, column, sortedText } from "../../conformance/Tables.js"
import type { TestDatabase } from "../../support/postgres.js"
import { createDatabase, deliver, openSink, readRows, snapshotOf, storeConfig, target } from "../../support/postgres.js"

let database: TestDatabase
beforeAll(async () => {
  database = await createDatabase("ferry_sink")
  await database.query(`CREATE SCHEMA sink`)
}, 30_000)
afterAll(() => database?.drop(), 30_000)

const sql = <R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: ReadonlyArray<unknown> = []) =>
  Effect.promise(() => database.query<R>(text, values))

const BASE = 1_767_225_600_000_000n // 2026-01-01T00:00:00Z

const sales: ReadonlyArray<Column> = [
  column("id", { kind: "int64" }, false),
  column("name", { kind: "utf8" }),
  column("amount", { kind: "decimal", precision: 12, scale: 2 }),
  column("at", { kind: "timestamp", unit: "us", timeZone: "UTC" })
]

const sale = (id: number, name: string | null, cents: number, second = id): Row => [
  BigInt(id),
  name,
  BigInt(cents),
  BASE + BigInt(second) * 1_000_000n
]

let tables = 0
/** A new table name in the schema `sink`. */
const freshTable = () => `sink.t${++tables}`

const contents = (table: string, columns: ReadonlyArray<Column> = sales) =>
  Effect.map(readRows(database.url, table, columns), (rows) => sortedText(columns, rows))

const expectRows = (table: string, rows: ReadonlyArray<Row>, columns: ReadonlyArray<Column> = sales) =>
  Effect.map(contents(table, columns), (actual) => expect(actual).toEqual(sortedText(columns, rows)))

const stagingTables = () =>
  Effect.map(
    sql<{ name: string }>(
      `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = '_ferry' AND c.relname LIKE 'stage%'`
    ),
    (rows) => rows.map((row) => row.name)
  )

const commitsOf = (table: string) =>
  sql<{ run_id: string; rows: string; mode: string; watermark: unknown }>(
    `SELECT run_id, rows::text AS rows, mode, watermark FROM _ferry.commits WHERE target = $1 ORDER BY committed_at`,
    [sqlName(table)]
  )

/** `"schema"."name"` of a plain `schema.name`. */
const sqlName = (table: string) =>
  table
    .split(".")
    .map((part) => `"${part}"`)
    .join(".")

const failureOf = <A>(effect: Effect.Effect<A, unknown>) =>
  Effect.flip(effect).pipe(
    Effect.map((error) => {
      expect(error).toBeInstanceOf(SinkError)
      return error as SinkError
    })
  )

describe("PostgreSQL sink: modes", () => {
  it.scopedLive("replaces, appends and merges; the table is created with the columns' types", () =>
    Effect.gen(function* () {
      const session = yield* openSink(database.url)
      const table = freshTable()
      const first = yield* deliver(session, target(table), sales, [sale(1, "a", 100), sale(2, "b", 200)], {
        runId: "r1",
        mode: "replace",
        key: ["id"]
      })
      expect(first).toEqual({ rows: 2, bytes: expect.any(Number), files: 0, alreadyCommitted: false })
      const types = yield* sql<{ name: string; type: string; not_null: boolean }>(
        `SELECT attname AS name, format_type(atttypid, atttypmod) AS type, attnotnull AS not_null FROM pg_attribute
         WHERE attrelid = $1::regclass AND attnum > 0 ORDER BY attnum`,
        [table]
      )
      expect(types).toEqual([
        { name: "id", type: "bigint", not_null: true },
        { name: "name", type: "text", not_null: false },
        { name: "amount", type: "numeric(12,2)", not_null: false },
        { name: "at", type: "timestamp with time zone", not_null: false }
      ])
      // A replace's key is indexed, not constrained: a full snapshot may repeat it.
      const indexes = yield* sql<{ def: string }>(`SELECT indexdef AS def FROM pg_indexes WHERE tablename = $1`, [
        table.split(".")[1]
      ])
      expect(indexes.map((index) => index.def)).toEqual([expect.stringMatching(/^CREATE INDEX .* USING btree \(id\)$/)])

      yield* deliver(session, target(table), sales, [sale(3, "c", 300)], { runId: "r2", mode: "append" })
      yield* expectRows(table, [sale(1, "a", 100), sale(2, "b", 200), sale(3, "c", 300)])

      // Without a unique index the merge is a MERGE; a key repeated in one load keeps its last row.
      yield* deliver(
        session,
        target(table),
        sales,
        [sale(2, "b2", 201, 10), sale(4, "d", 400), sale(4, "d2", 401, 11), sale(1, null, 0, 12)],
        { runId: "r3", mode: "merge", key: ["id"], batchRows: 2 }
      )
      yield* expectRows(table, [
        sale(1, null, 0, 12),
        sale(2, "b2", 201, 10),
        sale(3, "c", 300),
        sale(4, "d2", 401, 11)
      ])

      yield* deliver(session, target(table), sales, [sale(9, "z", 900)], { runId: "r4", mode: "replace" })
      yield* expectRows(table, [sale(9, "z", 900)])
      expect((yield* commitsOf(table)).map((c) => [c.run_id, c.mode, c.rows])).toEqual([
        ["r1", "replace", "2"],
        ["r2", "append", "1"],
        ["r3", "merge", "4"],
        ["r4", "replace", "1"]
      ])
      expect(yield* stagingTables()).toEqual([])
    })
  )

  it.scopedLive("a merge creates the table with the key as primary key, and upserts through a unique index", () =>
    Effect.gen(function* () {
      const session = yield* openSink(database.url)
      const table = freshTable()
      yield* deliver(session, target(table), sales, [sale(1, "a", 100), sale(1, "a2", 101), sale(2, "b", 200)], {
        runId: "m1",
        mode: "merge",
        key: ["id"]
      })
      const constraints = yield* sql<{ def: string }>(
        `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = $1::regclass`,
        [table]
      )
      expect(constraints).toEqual([{ def: "PRIMARY KEY (id)" }])
      yield* deliver(session, target(table), sales, [sale(2, "b2", 201), sale(3, "c", 300)], {
        runId: "m2",
        mode: "merge",
        key: ["id"]
      })
      yield* expectRows(table, [sale(1, "a2", 101), sale(2, "b2", 201), sale(3, "c", 300)])

      // A table of the user's, with a unique index on a two-column key written in another order.
      const pair = freshTable()
      yield* sql(
        `CREATE TABLE ${pair} (name text, id bigint, amount numeric(12,2), at timestamptz, note text DEFAULT 'kept')`
      )
      yield* sql(`CREATE UNIQUE INDEX ON ${pair} (name, id)`)
      yield* sql(`INSERT INTO ${pair} VALUES ('a', 1, 1, now(), 'mine')`)
      yield* deliver(session, target(pair), sales, [sale(1, "a", 500), sale(1, "b", 600)], {
        runId: "m3",
        mode: "merge",
        key: ["id", "name"]
      })
      const rows = yield* sql<{ name: string; amount: string; note: string }>(
        `SELECT name, amount::text AS amount, note FROM ${pair} ORDER BY name`
      )
      expect(rows).toEqual([
        { name: "a", amount: "5.00", note: "mine" },
        { name: "b", amount: "6.00", note: "kept" }
      ])
    })
  )

  it.scopedLive("a merge refuses rows without a key, a missing key and key columns the dataset lacks", () =>
    Effect.gen(function* () {
      const session = yield* openSink(database.url)
      const table = freshTable()
      const nullKey: Row = [null, "x", 1n, BASE]
      const error = yield* failureOf(
        deliver(session, target(table), [column("id", { kind: "int64" }), ...sales.slice(1)], [nullKey], {
          runId: "k1",
          mode: "merge",
          key: ["id"]
        })
      )
      expect(error.message).toBe("key column id is NULL in a row; a row without its key cannot be merged")
      expect(error.target).toBe(table)
      expect(
        (yield* failureOf(deliver(session, target(table), sales, [], { runId: "k2", mode: "merge", key: [] }))).message
      ).toMatch(/a merge needs a key/)
      expect(
        (yield* failureOf(deliver(session, target(table), sales, [], { runId: "k3", mode: "merge", key: ["nope"] })))
          .message
      ).toBe("key column nope is not among the dataset's columns (id, name, amount, at)")
      expect(yield* snapshotOf(database, table)).toBeUndefined()
    })
  )
})

describe("PostgreSQL sink: publishing", () => {
  it.scopedLive("a reader in another session sees the old rows or the new ones during a replace, never fewer", () =>
    Effect.gen(function* () {
      const session = yield* openSink(database.url)
      const table = freshTable()
      const rows = (count: number, offset: number) =>
        Array.from({ length: count }, (_, i) => sale(offset + i, `n${i}`, i))
      yield* deliver(session, target(table), sales, rows(60_000, 0), {
        runId: "a1",
        mode: "replace",
        batchRows: 20_000
      })

      const reader = new pg.Client({ connectionString: database.url })
      yield* Effect.acquireRelease(
        Effect.promise(() => reader.connect()),
        () => Effect.promise(() => reader.end())
      )
      // A repeatable-read snapshot taken before the replace keeps the old rows after it commits.
      const snapshot = new pg.Client({ connectionString: database.url })
      yield* Effect.acquireRelease(
        Effect.promise(() => snapshot.connect()),
        () => Effect.promise(() => snapshot.end())
      )
      yield* Effect.promise(() => snapshot.query("BEGIN ISOLATION LEVEL REPEATABLE READ"))
      yield* Effect.promise(() => snapshot.query("SELECT 1"))

      const seen = new Map<string, number>()
      let stop = false
      const loop = Effect.promise(async () => {
        while (!stop) {
          const result = await reader.query<{ rows: string; low: string | null }>(
            `SELECT count(*)::text AS rows, min(id)::text AS low FROM ${table}`
          )
          const key = `${result.rows[0]!.rows}@${result.rows[0]!.low}`
          seen.set(key, (seen.get(key) ?? 0) + 1)
        }
      })
      const readers = yield* Effect.fork(loop)
      yield* Effect.sleep("50 millis")
      yield* deliver(session, target(table), sales, rows(80_000, 100_000), {
        runId: "a2",
        mode: "replace",
        batchRows: 20_000
      })
      yield* Effect.sleep("50 millis")
      stop = true
      yield* Fiber.join(readers)

      expect([...seen.keys()].sort()).toEqual(["60000@0", "80000@100000"])
      const old = yield* Effect.promise(() =>
        snapshot.query<{ rows: string }>(`SELECT count(*)::text AS rows FROM ${table}`)
      )
      expect(old.rows[0]!.rows).toBe("60000")
      yield* Effect.promise(() => snapshot.query("COMMIT"))
    })
  )

  it.scopedLive("a run id is published once, also by a process that restarts after a crash", () =>
    Effect.gen(function* () {
      const table = freshTable()
      const rows = [sale(1, "a", 1), sale(2, "b", 2)]
      const first = yield* Effect.scoped(
        Effect.flatMap(openSink(database.url), (session) =>
          deliver(session, target(table), sales, rows, { runId: "crash-1", mode: "append" })
        )
      )
      expect(first.alreadyCommitted).toBe(false)

      // The process died before the state store heard of the commit: a new one asks, then retries the run.
      const restarted = yield* openSink(database.url)
      expect(yield* restarted.isCommitted(target(table), "crash-1")).toBe(true)
      expect(yield* restarted.isCommitted(target(table), "crash-2")).toBe(false)
      const again = yield* deliver(restarted, target(table), sales, [...rows, sale(3, "c", 3)], {
        runId: "crash-1",
        mode: "append"
      })
      expect(again).toEqual({ rows: 2, bytes: 0, files: 0, alreadyCommitted: true })
      yield* expectRows(table, rows)
      expect(yield* commitsOf(table)).toEqual([
        { run_id: "crash-1", rows: "2", mode: "append", watermark: { run: "crash-1" } }
      ])
      expect(yield* stagingTables()).toEqual([])
    })
  )

  it.scopedLive("the unqualified name of a table is found on the search_path", () =>
    Effect.gen(function* () {
      const session = yield* openSink(database.url)
      yield* deliver(session, target("plain_table"), sales, [sale(1, "a", 1)], { runId: "p1", mode: "replace" })
      yield* expectRows("public.plain_table", [sale(1, "a", 1)])
      expect(yield* session.isCommitted(target("public.plain_table"), "p1")).toBe(true)
      expect(yield* session.isCommitted(target("PLAIN_TABLE"), "p1")).toBe(true)
      yield* sql(`DROP TABLE public.plain_table`)
    })
  )

  it.scopedLive(
    "staging tables: none left after an abort or an interruption; a crashed run's is dropped at the next open, a live writer's kept",
    () =>
      Effect.gen(function* () {
        const session = yield* openSink(database.url)
        const table = freshTable()
        yield* deliver(session, target(table), sales, [sale(1, "a", 1)], { runId: "s0", mode: "replace" })
        const before = yield* snapshotOf(database, table)

        yield* Effect.scoped(
          Effect.gen(function* () {
            const writer = yield* session.tables!.open(target(table), sales, {
              runId: "s1",
              dataset: "d",
              mode: "append",
              key: []
            })
            yield* writer.write(batchOf(sales, [sale(2, "b", 2)]))
            expect(yield* stagingTables()).toEqual([stagingName(sqlName(table), "s1")])
            yield* writer.abort
          })
        )
        expect(yield* stagingTables()).toEqual([])

        // A writer whose scope closes mid-COPY: its connection is closed and its staging table dropped.
        const scope = yield* Scope.make()
        const writer = yield* session
          .tables!.open(target(table), sales, {
            runId: "s2",
            dataset: "d",
            mode: "append",
            key: []
          })
          .pipe(Scope.extend(scope))
        yield* writer.write(batchOf(sales, [sale(3, "c", 3)]))
        yield* Scope.close(scope, Exit.interrupt(FiberId.none))
        expect(yield* stagingTables()).toEqual([])
        expect(yield* snapshotOf(database, table)).toEqual(before)

        // A crashed run's staging table (no session holds its lock) and a live writer's.
        const crashed = stagingName(sqlName(table), "crashed-run")
        yield* sql(`CREATE TABLE _ferry."${crashed}" (c0 bigint)`)
        const liveScope = yield* Scope.make()
        yield* session
          .tables!.open(target(table), sales, { runId: "live", dataset: "d", mode: "append", key: [] })
          .pipe(Scope.extend(liveScope))
        const live = stagingName(sqlName(table), "live")
        expect((yield* stagingTables()).sort()).toEqual([live].sort())
        yield* deliver(session, target(table), sales, [sale(4, "d", 4)], { runId: "s3", mode: "append" })
        expect(yield* stagingTables()).toEqual([live])
        expect(live.startsWith(stagingPrefix(sqlName(table)))).toBe(true)
        yield* Scope.close(liveScope, Exit.void)
        expect(yield* stagingTables()).toEqual([])
        expect(yield* session.isCommitted(target(table), "s1")).toBe(false)
        expect(yield* session.isCommitted(target(table), "s2")).toBe(false)
        yield* expectRows(table, [sale(1, "a", 1), sale(4, "d", 4)])
      })
  )
})

describe("PostgreSQL sink: schema evolution", () => {
  it.scopedLive("a new source column is added to the target; wider target types take the values", () =>
    Effect.gen(function* () {
      const session = yield* openSink(database.url)
      const table = freshTable()
      yield* sql(`CREATE TABLE ${table} (id bigint NOT NULL, name varchar(20), amount numeric(14,4), at timestamptz)`)
      yield* sql(`INSERT INTO ${table} VALUES (1, 'old', 1.5, now())`)
      const wider = [
        column("id", { kind: "int32" }, false),
        ...sales.slice(1),
        column("Extra Flag", { kind: "bool" }),
        column("tags", { kind: "list", element: { kind: "utf8" } })
      ]
      yield* deliver(session, target(table), wider, [[2, "new", 250n, BASE, true, ["x", null]]], {
        runId: "e1",
        mode: "append"
      })
      const rows = yield* sql<{ id: string; name: string; amount: string; flag: boolean | null; tags: string | null }>(
        `SELECT id::text, name, amount::text, "Extra Flag" AS flag, tags::text FROM ${table} ORDER BY id`
      )
      expect(rows).toEqual([
        { id: "1", name: "old", amount: "1.5000", flag: null, tags: null },
        { id: "2", name: "new", amount: "2.5000", flag: true, tags: "{x,NULL}" }
      ])
    })
  )

  it.scopedLive("an incompatible change is refused, naming the table and the column, and changes nothing", () =>
    Effect.gen(function* () {
      const session = yield* openSink(database.url)
      const table = freshTable()
      yield* sql(`CREATE TABLE ${table} (id integer NOT NULL, name text, amount numeric(12,2), at timestamptz)`)
      yield* sql(`INSERT INTO ${table} VALUES (1, 'old', 1.5, now())`)
      const before = yield* snapshotOf(database, table)
      const narrowing = yield* failureOf(
        deliver(session, target(table), [...sales, column("more", { kind: "utf8" })], [[...sale(2, "x", 1), "m"]], {
          runId: "i1",
          mode: "append"
        })
      )
      expect(narrowing).toMatchObject({
        store: "pg-test",
        target: table,
        message: `column id of ${table} is integer, which cannot hold every int64 value of the source exactly; change the column's type, or cast the dataset's column (casts:)`
      })

      const scale = yield* failureOf(
        deliver(
          session,
          target(table),
          [column("id", { kind: "int32" }), column("amount", { kind: "decimal", precision: 12, scale: 3 })],
          [[2, 1n]],
          { runId: "i2", mode: "append" }
        )
      )
      expect(scale.message).toMatch(/^column amount of .* is numeric\(12,2\), which cannot hold every decimal\(12,3\)/)

      const required = freshTable()
      yield* sql(`CREATE TABLE ${required} (id bigint, region text NOT NULL)`)
      const missing = yield* failureOf(
        deliver(session, target(required), [sales[0]!], [[1n]], { runId: "i3", mode: "append" })
      )
      expect(missing.message).toBe(
        `column region of ${required} is NOT NULL without a default, and the source has no such column`
      )

      // A change made while the run loads is caught by the commit, under its lock.
      const changing = freshTable()
      yield* deliver(session, target(changing), sales, [sale(1, "a", 1)], { runId: "i4", mode: "replace" })
      const changed = yield* snapshotOf(database, changing)
      const late = yield* failureOf(
        Effect.scoped(
          Effect.gen(function* () {
            const writer = yield* session.tables!.open(target(changing), [...sales, column("new", { kind: "int64" })], {
              runId: "i5",
              dataset: "d",
              mode: "replace",
              key: []
            })
            yield* writer.write(batchOf([...sales, column("new", { kind: "int64" })], [[...sale(2, "b", 2), 7n]]))
            yield* sql(`ALTER TABLE ${changing} ALTER COLUMN amount TYPE numeric(6,2)`)
            return yield* writer.commit({ runId: "i5", watermark: null, rows: 1 })
          })
        )
      )
      expect(late.message).toMatch(/^column amount of .* is numeric\(6,2\)/)
      expect(yield* snapshotOf(database, changing)).toEqual(changed)
      const columnsNow = yield* sql(`SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'new'`, [
        changing
      ])
      expect(columnsNow).toEqual([])

      // A value the target's type refuses fails the commit and changes nothing.
      const short = freshTable()
      yield* sql(`CREATE TABLE ${short} (id bigint, name varchar(3))`)
      const tooLong = yield* failureOf(
        deliver(session, target(short), sales.slice(0, 2), [[1n, "abcd"]], { runId: "i6", mode: "append" })
      )
      expect(tooLong.message).toMatch(/value too long for type character varying\(3\)/)
      expect(tooLong.target).toBe(short)

      expect(yield* snapshotOf(database, table)).toEqual(before)
      for (const name of [table, required, short]) expect(yield* commitsOf(name)).toEqual([])
      expect(yield* stagingTables()).toEqual([])
    })
  )
})

describe("PostgreSQL sink: names", () => {
  const awkward: ReadonlyArray<Column> = [
    column("Order ID", { kind: "int64" }, false),
    column("select", { kind: "utf8" }),
    column('say "hi"', { kind: "utf8" }),
    column("ID", { kind: "int32" }),
    column("id", { kind: "int32" }),
    column("ünïcödé ✓", { kind: "date" }),
    column('a" int); DROP TABLE sink.victim; --', { kind: "utf8" })
  ]
  const awkwardRow = (id: number, text: string): Row => [BigInt(id), text, `${text}!`, id, -id, 20_000 + id, "x"]

  it.scopedLive("mixed case, spaces, quotes, keywords and non-ASCII names of schema, table and columns", () =>
    Effect.gen(function* () {
      const session = yield* openSink(database.url)
      yield* sql(`CREATE TABLE IF NOT EXISTS sink.victim (x int)`)
      const config = target(`"Mixed ""Quoted"" Schema"."Order Lines; SELECT 1"`)
      const table = `"Mixed ""Quoted"" Schema"."Order Lines; SELECT 1"`
      yield* deliver(session, config, awkward, [awkwardRow(1, "a"), awkwardRow(2, "b")], {
        runId: "q1",
        mode: "replace",
        key: ["Order ID"]
      })
      yield* deliver(session, config, awkward, [awkwardRow(2, "b2"), awkwardRow(3, "c")], {
        runId: "q2",
        mode: "merge",
        key: ["Order ID"]
      })
      yield* expectRows(table, [awkwardRow(1, "a"), awkwardRow(2, "b2"), awkwardRow(3, "c")], awkward)
      expect(yield* session.isCommitted(config, "q2")).toBe(true)
      const names = yield* sql<{ name: string }>(
        `SELECT attname AS name FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 ORDER BY attnum`,
        [table]
      )
      expect(names.map((row) => row.name)).toEqual(awkward.map((c) => c.name))
      expect(yield* sql(`SELECT 1 FROM sink.victim`)).toEqual([])
    })
  )

  it.scopedLive("a table name cannot inject SQL: it is refused by validation, or is one quoted name", () =>
    Effect.gen(function* () {
      const session = yield* openSink(database.url)
      yield* sql(`CREATE TABLE IF NOT EXISTS sink.victim (x int)`)
      for (const attempt of [
        "sink.t; DROP TABLE sink.victim",
        "sink.victim--",
        "sink.t(x)",
        'sink."unterminated',
        "a.b.c.d"
      ]) {
        const decoded = Schema.decodeUnknownEither(postgresSink.targetConfig)({ table: attempt })
        expect(Either.isLeft(decoded), attempt).toBe(true)
      }
      const injected = `sink."x""; DROP TABLE sink.victim; --"`
      yield* deliver(session, target(injected), sales, [sale(1, "a", 1)], { runId: "j1", mode: "replace", key: ["id"] })
      const created = yield* sql<{ name: string }>(
        `SELECT relname AS name FROM pg_class WHERE relnamespace = 'sink'::regnamespace AND relkind = 'r' AND relname LIKE 'x%'`
      )
      expect(created).toEqual([{ name: 'x"; DROP TABLE sink.victim; --' }])
      expect(yield* sql(`SELECT 1 FROM sink.victim`)).toEqual([])
      expect(yield* session.isCommitted(target(injected), "j1")).toBe(true)
    })
  )
})

describe("PostgreSQL sink: errors", () => {
  it.scopedLive("an unreachable server fails when the store opens, without the password", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        postgresSink.open(storeConfig("postgres://ferry:s3cr%40t-pw@127.0.0.1:1/test"), {
          store: "consumer-db",
          baseDir: "."
        })
      )
      expect(error).toBeInstanceOf(SinkError)
      expect(error.store).toBe("consumer-db")
      expect(error.message).toMatch(/cannot reach the PostgreSQL server at 127\.0\.0\.1:1/)
      expect(JSON.stringify(error)).not.toMatch(/s3cr/)
    })
  )

  it.scopedLive("a value PostgreSQL refuses names the row and the column", () =>
    Effect.gen(function* () {
      const session = yield* openSink(database.url)
      const table = freshTable()
      const clock = [column("id", { kind: "int64" }), column("Clock Time", { kind: "time", unit: "us" })]
      const late = yield* failureOf(
        deliver(
          session,
          target(table),
          clock,
          [
            [1n, 0n],
            [2n, 3_600_000_000n],
            [3n, 90_000_000_000n]
          ],
          {
            runId: "v1",
            mode: "replace"
          }
        )
      )
      expect(late.target).toBe(table)
      expect(late.message).toMatch(/^loading the staging table: .*time out of range.* \(row 3, column Clock Time\)$/)

      const nanos = [column("id", { kind: "int64" }), column("at", { kind: "timestamp", unit: "ns", timeZone: null })]
      const fine = yield* failureOf(
        deliver(
          session,
          target(table),
          nanos,
          [
            [1n, 1_000n],
            [2n, 1_001n]
          ],
          { runId: "v2", mode: "replace" }
        )
      )
      expect(fine.message).toBe(
        "column at: 1970-01-01T00:00:00.000001001 has nanoseconds, and PostgreSQL keeps microseconds"
      )
      const nested = yield* failureOf(
        deliver(
          session,
          target(table),
          [column("grid", { kind: "list", element: { kind: "list", element: { kind: "int32" } } })],
          [],
          { runId: "v3", mode: "replace" }
        )
      )
      expect(nested.message).toMatch(/^column grid: list<list<int32>>: PostgreSQL arrays are rectangular/)
      expect(yield* snapshotOf(database, table)).toBeUndefined()
      expect(yield* stagingTables()).toEqual([])
    })
  )

  it.scopedLive("names PostgreSQL would cut or that would touch Ferry's bookkeeping are refused", () =>
    Effect.gen(function* () {
      const session = yield* openSink(database.url)
      const long = "x".repeat(64)
      expect(
        (yield* failureOf(
          deliver(session, target(freshTable()), [column(long, { kind: "int32" })], [], {
            runId: "n1",
            mode: "replace"
          })
        )).message
      ).toBe(`column ${long}: the name is longer than the 63 bytes PostgreSQL keeps of a name`)
      expect(
        (yield* failureOf(deliver(session, target("_ferry.commits"), sales, [], { runId: "n2", mode: "replace" })))
          .message
      ).toMatch(/^schema _ferry holds Ferry's bookkeeping/)
      // A key the dataset does not carry only matters to a merge.
      const table = freshTable()
      yield* deliver(session, target(table), sales, [sale(1, "a", 1)], { runId: "n3", mode: "replace", key: ["gone"] })
      yield* expectRows(table, [sale(1, "a", 1)])
    })
  )

  it.scopedLive("a writer whose session the server ends fails clearly and leaves nothing behind", () =>
    Effect.gen(function* () {
      const session = yield* openSink(database.url)
      const table = freshTable()
      const terminate = (state: string) =>
        sql(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE datname = current_database() AND application_name = 'ferry' AND pid <> pg_backend_pid() AND query LIKE $1`,
          [state]
        )
      for (const [when, pattern] of [
        ["idle, before the first row", "COMMENT ON TABLE%"],
        ["mid-COPY", "COPY%"]
      ] as const) {
        const error = yield* failureOf(
          Effect.scoped(
            Effect.gen(function* () {
              const writer = yield* session.tables!.open(target(table), sales, {
                runId: `gone-${when}`,
                dataset: "d",
                mode: "append",
                key: []
              })
              if (pattern === "COPY%") yield* writer.write(batchOf(sales, [sale(1, "a", 1)]))
              yield* terminate(pattern)
              yield* Effect.sleep("100 millis")
              yield* writer.write(batchOf(sales, [sale(2, "b", 2)]))
              return yield* writer.commit({ runId: `gone-${when}`, watermark: null, rows: 2 })
            })
          )
        )
        expect(error.target, when).toBe(table)
        expect(error.message, when).toMatch(
          /^loading the staging table: .*(terminating connection due to administrator command|was closed unexpectedly)$/
        )
      }
      expect(yield* stagingTables()).toEqual([])
      expect(yield* snapshotOf(database, table)).toBeUndefined()
    })
  )

  it.scopedLive("a view or another kind of relation is not a target", () =>
    Effect.gen(function* () {
      const session = yield* openSink(database.url)
      yield* sql(`CREATE VIEW sink.a_view AS SELECT 1::bigint AS id`)
      const error = yield* failureOf(
        deliver(session, target("sink.a_view"), sales, [sale(1, "a", 1)], { runId: "w1", mode: "append" })
      )
      expect(error.message).toMatch(/^sink\.a_view exists and is not a table/)
    })
  )
})
