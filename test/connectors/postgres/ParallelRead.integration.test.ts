/**
 * Full reads of a large table split into ranges of its pages (`parallel_reads`): each
 * range is read on a connection of its own on the session's snapshot and becomes a
 * part of its own; together the parts hold every row of the snapshot exactly once,
 * even while other sessions update, delete and insert rows; what cannot be split (a
 * small table, a view, an incremental read, a pool without room, a rewrite waiting for
 * the table) is read on one connection; and `ferry run` writes a file per part.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"
import pg from "pg"
import { quoteIdentifier } from "../../../connectors/postgres/Identifiers.js"
import { pageRanges, splitTable } from "../../../connectors/postgres/internal/TableSplit.js"
import type { PostgresDatasetConfig } from "../../../connectors/postgres/PostgresSource.js"
import { postgresSource } from "../../../connectors/postgres/PostgresSource.js"
import { PostgresError } from "../../../connectors/postgres/PostgresStore.js"
import { parseFilter } from "../../../core/Filter.js"
import type { ReadPlan, SourceSession } from "../../../core/Source.js"
import type { CursorWatermark } from "../../../core/Watermark.js"
import { Csv } from "../../../sinks/formats/Csv.js"
import { CsvOptions } from "../../../sinks/formats/Options.js"
import { csvLines, dataFiles, runOnce, shareConfig, workspace } from "../../runtime/RunSupport.js"
import { makeSchema, storeConfig, TEST_URL } from "../../support/postgres.js"
import { readPlan } from "../../support/plans.js"

let schema: Awaited<ReturnType<typeof makeSchema>>

/** About 3 MiB of pages: large enough to split from `parallel_read_min_mb: 1`. */
const ROWS = 20_000

beforeAll(async () => {
  schema = await makeSchema("parallel")
  const name = quoteIdentifier(schema.name)
  await schema.client.query(`
    CREATE TABLE ${name}.big (id integer PRIMARY KEY, ok boolean, at timestamptz, note text);
    INSERT INTO ${name}.big
      SELECT i, CASE WHEN i % 5 = 0 THEN NULL ELSE i % 2 = 0 END,
             timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second',
             CASE WHEN i % 7 = 0 THEN ' padded ' ELSE repeat('x', 100) || ', "' || i || '"' END
      FROM generate_series(1, ${ROWS}) AS g(i);
    CREATE INDEX ON ${name}.big (at, id);
    CREATE VIEW ${name}.big_view AS SELECT * FROM ${name}.big;
    CREATE TABLE ${name}.small (id integer PRIMARY KEY, note text);
    INSERT INTO ${name}.small SELECT i, 'n' || i FROM generate_series(1, 100) AS g(i);
  `)
}, 30_000)
afterAll(() => schema?.drop(), 30_000)

const table = (name: string): PostgresDatasetConfig => ({ table: `${schema.name}.${name}` })

const SPLIT = { parallel_reads: 3, parallel_read_min_mb: 1 }

const withSession = <A>(
  settings: Record<string, unknown>,
  use: (session: SourceSession<PostgresDatasetConfig, CursorWatermark>) => Effect.Effect<A, unknown>
) =>
  Effect.scoped(
    Effect.flatMap(postgresSource.open(storeConfig(TEST_URL, settings), { store: "pg", baseDir: "." }), use)
  )

const plan = (overrides: Partial<ReadPlan<CursorWatermark>> = {}): ReadPlan<CursorWatermark> =>
  readPlan("big", overrides)

const options = Schema.decodeUnknownSync(CsvOptions)({})
const FORMAT = { format: "csv", delimiter: options.delimiter, quote: options.quote, null: options.null } as const

const text = (chunks: Chunk.Chunk<Uint8Array>): string => Buffer.concat(Chunk.toReadonlyArray(chunks)).toString("utf8")

/** Each part's text, read at the same time, and the rows counted over all of them. */
const readParts = (
  session: SourceSession<PostgresDatasetConfig, CursorWatermark>,
  dataset: PostgresDatasetConfig,
  read: ReadPlan<CursorWatermark>
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const table = Option.getOrThrow(yield* session.readEncoded!(dataset, read, FORMAT))
      const parts = yield* Effect.forEach(table.parts, (part) => Effect.map(Stream.runCollect(part), text), {
        concurrency: "unbounded"
      })
      return { parts, rows: table.rows() }
    })
  )

/** The same read through Arrow batches on one connection, encoded by Ferry's CSV encoder (no header). */
const throughArrow = (
  session: SourceSession<PostgresDatasetConfig, CursorWatermark>,
  dataset: PostgresDatasetConfig,
  read: ReadPlan<CursorWatermark>
) =>
  Effect.gen(function* () {
    const description = yield* session.describe(dataset)
    const all = description.kind === "table" ? description.columns : []
    const columns = Option.match(read.columns, {
      onNone: () => all,
      onSome: (names) => names.map((name) => all.find((column) => column.name === name)!)
    })
    const pages = yield* Stream.runCollect(session.readTable!(dataset, read))
    const batches = Stream.fromIterable(Chunk.toReadonlyArray(pages).map((page) => page.batch))
    return text(yield* Stream.runCollect(Csv.encode(columns, batches, { ...options, header: false })))
  })

describe("parallel reads", () => {
  it("cuts the pages into ranges that meet: the first from the start, the last to the end", () => {
    expect(pageRanges(10, 1)).toEqual([[]])
    expect(pageRanges(10, 3)).toEqual([
      ["ctid < '(3,0)'::tid"],
      ["ctid >= '(3,0)'::tid", "ctid < '(6,0)'::tid"],
      ["ctid >= '(6,0)'::tid"]
    ])
  })

  it.effect("reads a large table in ranges of pages, each row of the snapshot in exactly one part", () =>
    withSession(SPLIT, (session) =>
      Effect.gen(function* () {
        // Rows changed after the session's snapshot move, grow the table and must not show.
        const name = `${quoteIdentifier(schema.name)}.big`
        yield* Effect.promise(() =>
          schema.client.query(`
            UPDATE ${name} SET note = note || ' changed' WHERE id % 3 = 0;
            DELETE FROM ${name} WHERE id % 11 = 0;
            INSERT INTO ${name} SELECT i, true, now(), 'late' FROM generate_series(${ROWS + 1}, ${ROWS + 5_000}) AS g(i);
          `)
        )
        try {
          const { parts, rows } = yield* readParts(session, table("big"), plan())
          expect(parts.length).toBe(3)
          for (const part of parts) expect(part.length).toBeGreaterThan(0)
          expect(rows).toBe(ROWS)
          expect(parts.join("")).toBe(yield* throughArrow(session, table("big"), plan()))
          expect(parts.join("")).not.toContain("changed")

          // A column selection and a filter go into every range.
          const narrowed = plan({
            columns: Option.some(["note", "id"]),
            filter: Option.some(Either.getOrThrow(parseFilter("id > 100 and ok = true")))
          })
          const filtered = yield* readParts(session, table("big"), narrowed)
          expect(filtered.parts.length).toBe(3)
          expect(filtered.parts.join("")).toBe(yield* throughArrow(session, table("big"), narrowed))
        } finally {
          yield* Effect.promise(() =>
            schema.client.query(`
              DELETE FROM ${name} WHERE id > ${ROWS};
              UPDATE ${name} SET note = left(note, -8) WHERE id % 3 = 0;
              INSERT INTO ${name}
                SELECT i, CASE WHEN i % 5 = 0 THEN NULL ELSE i % 2 = 0 END,
                       timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second',
                       CASE WHEN i % 7 = 0 THEN ' padded ' ELSE repeat('x', 100) || ', "' || i || '"' END
                FROM generate_series(11, ${ROWS}, 11) AS g(i);
            `)
          )
        }
      })
    )
  )

  it.effect("reads on one connection what it does not split", () =>
    Effect.gen(function* () {
      const count = (settings: Record<string, unknown>, dataset: PostgresDatasetConfig, read = plan()) =>
        withSession(settings, (session) =>
          Effect.map(readParts(session, dataset, read), (result) => result.parts.length)
        )
      // A table under the size, a view, an incremental read, a store that asks for one connection.
      expect(yield* count(SPLIT, table("small"))).toBe(1)
      expect(yield* count(SPLIT, { view: `${schema.name}.big_view` })).toBe(1)
      const incremental = plan({
        mode: "incremental",
        incremental: Option.some({ cursor: "at", key: ["id"], lookback: Option.none() })
      })
      expect(yield* count(SPLIT, table("big"), incremental)).toBe(1)
      expect(yield* count({ ...SPLIT, parallel_reads: 1 }, table("big"))).toBe(1)
      // The defaults: one connection; split from 64 MiB.
      expect(yield* count({}, table("big"))).toBe(1)
      expect(yield* count({ parallel_reads: 3 }, table("big"))).toBe(1)
      // The pool's connections: the session's snapshot holds one, the first range another.
      expect(yield* count({ ...SPLIT, pool_size: 2 }, table("big"))).toBe(1)
      expect(yield* count({ ...SPLIT, pool_size: 3 }, table("big"))).toBe(2)
    })
  )

  it.effect("reads on one connection while a rewrite of the table waits for its lock", () =>
    Effect.gen(function* () {
      const name = `${quoteIdentifier(schema.name)}.big`
      const pool = new pg.Pool({ connectionString: TEST_URL, max: 10 })
      const rewriter = new pg.Client({ connectionString: TEST_URL })
      yield* Effect.addFinalizer(() =>
        Effect.promise(() => Promise.all([pool.end(), rewriter.end().catch(() => undefined)]))
      )
      yield* Effect.promise(() => rewriter.connect())
      const reader = Effect.acquireRelease(
        Effect.promise(async () => {
          const client = await pool.connect()
          await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
          return client
        }),
        (client) => Effect.sync(() => client.release())
      ).pipe(
        Effect.map((client) => ({
          client,
          finish: Effect.tryPromise({
            try: () => client.query("COMMIT").then(() => undefined),
            catch: (error) => new PostgresError({ store: "pg", message: String(error) })
          })
        }))
      )
      const split = (first: Effect.Effect.Success<typeof reader>) =>
        splitTable({
          store: "pg",
          pool,
          context: {},
          parallel: { connections: 3, minBytes: 1024 * 1024 },
          relation: { sql: name, shown: "big" },
          first,
          connect: reader
        })

      const unhindered = yield* split(yield* reader)
      expect(unhindered.map((part) => part.range.length)).toEqual([1, 2, 1])
      yield* Effect.forEach(unhindered, (part) => part.finish, { discard: true })

      // A connection that cannot open (the server's max_connections, say) leaves fewer ranges, not a failure.
      let opened = 0
      const failing = Effect.suspend(() =>
        ++opened > 1 ? Effect.fail(new PostgresError({ store: "pg", message: "too many clients already" })) : reader
      )
      const fewer = yield* splitTable({
        store: "pg",
        pool,
        context: {},
        parallel: { connections: 3, minBytes: 1024 * 1024 },
        relation: { sql: name, shown: "big" },
        first: yield* reader,
        connect: failing
      })
      expect(fewer.map((part) => part.range.length)).toEqual([1, 1])
      yield* Effect.forEach(fewer, (part) => part.finish, { discard: true })

      // The first range's lock is held; a VACUUM FULL-like lock request queues behind it.
      const first = yield* reader
      yield* Effect.promise(() => first.client.query(`LOCK TABLE ${name} IN ACCESS SHARE MODE`))
      const waiting = rewriter.query(`BEGIN; LOCK TABLE ${name} IN ACCESS EXCLUSIVE MODE`)
      yield* Effect.promise(async () => {
        for (;;) {
          const queued = await pool.query(
            "SELECT count(*)::int AS n FROM pg_locks WHERE relation = $1::regclass AND mode = 'AccessExclusiveLock' AND NOT granted",
            [name]
          )
          if (queued.rows[0].n > 0) return
          await new Promise((resolve) => setTimeout(resolve, 10))
        }
      })
      const hindered = yield* split(first)
      expect(hindered.length).toBe(1)
      expect(hindered[0]!.range).toEqual([])
      yield* first.finish
      yield* Effect.promise(() => waiting.then(() => rewriter.query("ROLLBACK")))
    }).pipe(Effect.scoped)
  )

  it.effect("ferry run writes a file per range; together they hold the table", () =>
    Effect.gen(function* () {
      const space = workspace(
        shareConfig({
          stores: [
            `db: { type: postgres, url: "${TEST_URL}", account: contoso, parallel_reads: 2, parallel_read_min_mb: 1 }`,
            `one: { type: postgres, url: "${TEST_URL}", account: contoso, parallel_reads: 1 }`
          ],
          datasets: [
            `{ name: split, source: { store: db, table: ${schema.name}.big } }`,
            `{ name: whole, source: { store: one, table: ${schema.name}.big } }`
          ],
          mappings: [
            "split: { store: out, path: split/, format: csv }",
            "whole: { store: out, path: whole/, format: csv }"
          ]
        })
      )
      try {
        const { lines } = yield* runOnce(space, { full: true })
        expect(lines.some((line) => line.includes(`split (full): 20,000 rows, 2 files`))).toBe(true)
        expect(lines.some((line) => line.includes(`whole (full): 20,000 rows, 1 file`))).toBe(true)
        expect(dataFiles(space.out("split")).filter((file) => file.endsWith(".csv")).length).toBe(2)
        // Every part starts with the header; its rows follow in the order of the pages.
        const header = fs.readFileSync(path.join(space.out("whole"), dataFiles(space.out("whole"))[0]!), "utf8")
        for (const file of dataFiles(space.out("split")).filter((name) => name.endsWith(".csv"))) {
          const part = fs.readFileSync(path.join(space.out("split"), file), "utf8")
          expect(part.slice(0, part.indexOf("\n"))).toBe(header.slice(0, header.indexOf("\n")))
        }
        expect(csvLines(space.out("split"))).toEqual(csvLines(space.out("whole")))
      } finally {
        space.remove()
      }
    }).pipe(Effect.timeout(Duration.minutes(2)))
  )
})
