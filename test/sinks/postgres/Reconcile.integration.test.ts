/**
 * `deletes: reconcile` from PostgreSQL into PostgreSQL: rows deleted at the source leave
 * the target with the next incremental run, and only they, in the commit of its merge;
 * keys of several types and composite keys, across two databases in different time
 * zones; a 100,000-row table with a handful of deletes reconciled from a few ranges.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { postgresSource } from "../../../connectors/postgres/PostgresSource.js"
import { reconcile } from "../../../core/Reconcile.js"
import type { SinkError, SourceError } from "../../../core/Errors.js"
import { collect, column, rowsOf } from "../../conformance/Tables.js"
import type { Ran, Workspace } from "../../runtime/RunSupport.js"
import { runOnce, shareConfig, workspace } from "../../runtime/RunSupport.js"
import type { TestDatabase } from "../../support/postgres.js"
import { createDatabase, openSink, storeConfig, target } from "../../support/postgres.js"

let database: TestDatabase
beforeAll(async () => {
  database = await createDatabase("ferry_reconcile")
  await database.query("CREATE SCHEMA src")
}, 30_000)
afterAll(() => database?.drop(), 30_000)

const outcomes = (ran: Ran) =>
  ran.results.flatMap((result) =>
    result.datasets.map((dataset) => ({
      dataset: dataset.dataset,
      status: dataset.status,
      mode: dataset.mode,
      rows: dataset.rows,
      message: dataset.message
    }))
  )

/** Ferry's config: datasets of `source` (a postgres store) delivered into `sink` (another). */
const pgConfig = (
  source: string,
  sink: string,
  datasets: ReadonlyArray<string>,
  mappings: ReadonlyArray<string>
): Workspace =>
  workspace(
    shareConfig({
      stores: [
        `pg: { type: postgres, url: "${source}", account: contoso }`,
        `dw: { type: postgres, url: "${sink}", account: fabrikam }`
      ],
      datasets,
      mappings
    })
  )

/** A table's rows as text, in UTC, ordered by `order`. */
const rowsAsText = (db: TestDatabase, table: string, columns: string, order: string) =>
  Effect.promise(async () => {
    const client = await db.pool.connect()
    try {
      await client.query("SET TIME ZONE 'UTC'")
      const result = await client.query<{ row: string }>(
        `SELECT (${columns})::text AS row FROM ${table} ORDER BY ${order}`
      )
      return result.rows.map((row) => row.row)
    } finally {
      client.release()
    }
  })

describe("deletes: reconcile, through the run path", () => {
  it.live("removes the rows deleted at the source with the next incremental run, and only them", () =>
    Effect.gen(function* () {
      yield* Effect.promise(() =>
        database.query(`
          CREATE TABLE src.items (id bigint PRIMARY KEY, name text, updated_at timestamptz NOT NULL);
          INSERT INTO src.items SELECT 2 * g, 'item ' || g, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second'
          FROM generate_series(1, 20000) g;
          CREATE INDEX ON src.items (updated_at, id);`)
      )
      const space = pgConfig(
        database.url,
        database.url,
        [
          "{ name: items, source: { store: pg, table: src.items }, incremental: { cursor: updated_at, key: [id], deletes: reconcile } }"
        ],
        ["items: { store: dw, table: dst.items }"]
      )
      expect(outcomes(yield* runOnce(space))).toMatchObject([{ status: "succeeded", mode: "full", rows: 20_000 }])

      // Deleted: the first and last keys and some between, in many ranges; in one range a
      // key is deleted and another inserted (same count, different keys); one row changes
      // and one is added after the last key.
      const deleted = [2, 4000, 12002, 20000, 33334, 40000, 10002]
      yield* Effect.promise(() =>
        database.query(`
          DELETE FROM src.items WHERE id = ANY('{${deleted.join(",")}}');
          INSERT INTO src.items VALUES (10001, 'between', '2026-02-01 00:00:00+00'), (40001, 'last', '2026-02-01 00:00:01+00');
          UPDATE src.items SET name = 'changed', updated_at = '2026-02-01 00:00:02+00' WHERE id = 500;`)
      )
      const second = outcomes(yield* runOnce(space))
      expect(second).toMatchObject([{ status: "succeeded", mode: "incremental", rows: 3 }])
      expect(second[0]!.message).toMatch(/^7 deleted \(\d digest rounds, \d+ keys compared\)$/)
      const compared = Number(/(\d+) keys compared/.exec(second[0]!.message ?? "")?.[1])
      expect(compared).toBeLessThan(10_000)

      const columns = "id, name, updated_at"
      const [source, delivered] = yield* Effect.all([
        rowsAsText(database, "src.items", columns, "id"),
        rowsAsText(database, "dst.items", columns, "id")
      ])
      expect(delivered).toHaveLength(20_000 - deleted.length + 2)
      expect(delivered).toEqual(source)

      const third = outcomes(yield* runOnce(space))
      expect(third).toMatchObject([
        {
          status: "succeeded",
          mode: "incremental",
          rows: 0,
          message: "nothing new, nothing deleted (1 digest round, 0 keys compared)"
        }
      ])
      space.remove()
    })
  )

  it.scopedLive("publishes the merge and the deletes in one commit: a reader sees both or neither", () =>
    Effect.gen(function* () {
      yield* Effect.promise(() =>
        database.query(`
          CREATE TABLE src.atomic (id int PRIMARY KEY, name text, updated_at timestamptz NOT NULL);
          INSERT INTO src.atomic SELECT g, 'old', timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second'
          FROM generate_series(1, 1000) g;`)
      )
      const space = pgConfig(
        database.url,
        database.url,
        [
          "{ name: atomic, source: { store: pg, table: src.atomic }, incremental: { cursor: updated_at, key: [id], deletes: reconcile } }"
        ],
        ["atomic: { store: dw, table: dst.atomic }"]
      )
      expect(outcomes(yield* runOnce(space))).toMatchObject([{ status: "succeeded", rows: 1000 }])
      yield* Effect.promise(() =>
        database.query(`
          UPDATE src.atomic SET name = 'new', updated_at = '2026-02-01 00:00:00+00' WHERE id = 1;
          DELETE FROM src.atomic WHERE id = 500;`)
      )
      const seen = () =>
        database.query<{ name: string; present: boolean }>(
          `SELECT (SELECT name FROM dst.atomic WHERE id = 1) AS name, EXISTS (SELECT 1 FROM dst.atomic WHERE id = 500) AS present`
        )

      // A session holding row 500 makes the commit wait at its DELETE, after its merge ran.
      const holder = yield* Effect.acquireRelease(
        Effect.promise(() => database.pool.connect()),
        (client) => Effect.sync(() => client.release())
      )
      yield* Effect.promise(() => holder.query("BEGIN; SELECT * FROM dst.atomic WHERE id = 500 FOR UPDATE"))
      const run = yield* Effect.fork(runOnce(space))
      yield* Effect.promise(() =>
        database.query<{ waiting: number }>(
          `SELECT count(*)::int AS waiting FROM pg_stat_activity
           WHERE datname = current_database() AND application_name = 'ferry' AND wait_event_type = 'Lock' AND query LIKE 'DELETE FROM%'`
        )
      ).pipe(
        Effect.repeat({ until: (rows) => rows[0]?.waiting === 1, schedule: Schedule.spaced("20 millis") }),
        Effect.timeout("20 seconds")
      )
      expect(yield* Effect.promise(seen)).toEqual([{ name: "old", present: true }])
      yield* Effect.promise(() => holder.query("COMMIT"))
      const ran = yield* Fiber.join(run)
      expect(outcomes(ran)).toMatchObject([
        { status: "succeeded", mode: "incremental", rows: 1, message: expect.stringMatching(/^1 deleted /) }
      ])
      expect(yield* Effect.promise(seen)).toEqual([{ name: "new", present: false }])
      space.remove()
    })
  )

  it.scopedLive(
    "reconciles composite keys of int8, non-ASCII text, uuid and timestamptz across databases in other time zones",
    () =>
      Effect.gen(function* () {
        // The provider's server and the consumer's run in different time zones; rows are written from sessions in others.
        const other = yield* Effect.acquireRelease(
          Effect.promise(() => createDatabase("ferry_reconcile_dw")),
          (db) => Effect.promise(() => db.drop())
        )
        yield* Effect.promise(async () => {
          await database.query(`ALTER DATABASE ${database.name} SET TimeZone = 'Asia/Kolkata'`)
          await other.query(`ALTER DATABASE ${other.name} SET TimeZone = 'America/New_York'`)
          await database.query(`
          CREATE TABLE src.keyed (
            label text COLLATE "C", ref uuid, at timestamptz, n bigint, val text, updated_at timestamptz NOT NULL,
            PRIMARY KEY (label, ref, at, n));`)
          const labels = ["a", "Z", "é", "Ω", "日本", "🚀", "\uFF21", "a b", ""]
          for (const [zone, half] of [
            ["Pacific/Auckland", 0],
            ["America/Los_Angeles", 1]
          ] as const) {
            const client = await database.pool.connect()
            try {
              await client.query(`SET TIME ZONE '${zone}'`)
              await client.query(
                `INSERT INTO src.keyed
               SELECT (ARRAY[${labels.map((label) => `'${label}'`).join(", ")}])[1 + g % ${labels.length}],
                      md5((g % 7)::text)::uuid,
                      timestamp '2026-03-29 01:30:00' + (g % 5) * interval '1 hour',
                      CASE g % 3 WHEN 0 THEN -9223372036854775807 + g WHEN 1 THEN g ELSE 9223372036854770000 + g END,
                      'v' || g, timestamp '2026-01-01 00:00:00' + g * interval '1 second'
               FROM generate_series(${half * 1500 + 1}, ${half * 1500 + 1500}) g`
              )
            } finally {
              client.release()
            }
          }
          // A target of the consumer's own, keyed in the C collation, so both sides digest text keys.
          await other.query(`CREATE SCHEMA dst;
          CREATE TABLE dst.keyed_c (label text COLLATE "C", ref uuid, at timestamptz, n bigint, val text, updated_at timestamptz,
            PRIMARY KEY (label, ref, at, n))`)
        })
        const dataset = (name: string) =>
          `{ name: ${name}, source: { store: pg, table: src.keyed }, incremental: { cursor: updated_at, key: [label, ref, at, n], deletes: reconcile } }`
        const space = pgConfig(
          database.url,
          other.url,
          [dataset("digested"), dataset("streamed")],
          ["digested: { store: dw, table: dst.keyed_c }", "streamed: { store: dw, table: dst.keyed }"]
        )
        expect(outcomes(yield* runOnce(space))).toMatchObject([
          { status: "succeeded", rows: 3000 },
          { status: "succeeded", rows: 3000 }
        ])

        yield* Effect.promise(() =>
          database.query(`
          DELETE FROM src.keyed WHERE val IN ('v7', 'v1500', 'v1501', 'v2222', 'v3000');
          UPDATE src.keyed SET val = 'changed', updated_at = '2026-06-01 00:00:00+00' WHERE val = 'v100';`)
        )
        const second = outcomes(yield* runOnce(space))
        expect(second).toMatchObject([
          {
            dataset: "digested",
            status: "succeeded",
            rows: 1,
            message: expect.stringMatching(/^5 deleted \(\d digest rounds?, \d+ keys compared\)$/)
          },
          {
            dataset: "streamed",
            status: "succeeded",
            rows: 1,
            message: "5 deleted (all keys compared: 2995 from the source, 3000 from the target)"
          }
        ])
        const columns = "label, ref, at, n, val, updated_at"
        const order = `label COLLATE "C", ref, at, n`
        const source = yield* rowsAsText(database, "src.keyed", columns, order)
        expect(source).toHaveLength(2995)
        expect(yield* rowsAsText(other, "dst.keyed_c", columns, order)).toEqual(source)
        expect(yield* rowsAsText(other, "dst.keyed", columns, order)).toEqual(source)

        // Keys render alike in both databases whatever their time zones: the digests agree.
        expect(outcomes(yield* runOnce(space))).toMatchObject([
          { dataset: "digested", message: "nothing new, nothing deleted (1 digest round, 0 keys compared)" },
          {
            dataset: "streamed",
            message: "nothing new, nothing deleted (all keys compared: 2995 from the source, 2995 from the target)"
          }
        ])
        yield* Effect.promise(() => database.query(`ALTER DATABASE ${database.name} RESET TimeZone`))
        space.remove()
      })
  )
})

describe("deletes: reconcile, at scale", () => {
  const columns = [
    column("id", { kind: "int64" }, false),
    column("name", { kind: "utf8" }),
    column("updated_at", { kind: "timestamp", unit: "us", timeZone: "UTC" })
  ]

  it.scopedLive("finds a handful of deletes among 100,000 rows from a few small ranges, not from every key", () =>
    Effect.gen(function* () {
      yield* Effect.promise(() =>
        database.query(`
          CREATE TABLE src.big (id bigint PRIMARY KEY, name text, updated_at timestamptz);
          INSERT INTO src.big SELECT g, 'row ' || g, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second'
          FROM generate_series(1, 100000) g;
          CREATE SCHEMA IF NOT EXISTS dst;
          CREATE TABLE dst.big (LIKE src.big INCLUDING ALL);
          INSERT INTO dst.big SELECT * FROM src.big;
          DELETE FROM src.big WHERE id IN (1, 17171, 50000, 50001, 99999);
          ANALYZE src.big; ANALYZE dst.big;`)
      )
      const context = { store: "pg", baseDir: "." }
      const source = yield* postgresSource.open(storeConfig(database.url), context)
      const sink = yield* openSink(database.url)
      const dataset = Schema.decodeUnknownSync(postgresSource.datasetConfig)({ table: "src.big" })
      const writer = yield* sink.tables!.open(target("dst.big"), columns, {
        runId: "reconcile-big",
        dataset: "big",
        mode: "merge",
        key: ["id"]
      })
      const started = performance.now()
      const sourceKeys = yield* source.keys!(dataset, { dataset: "big", key: ["id"], filter: Option.none() })
      const targetKeys = yield* writer.deletes!.keys
      expect(sourceKeys.digests).toBeDefined()
      expect(targetKeys.digests).toBeDefined()
      const reconciliation = reconcile<SourceError | SinkError>(sourceKeys, targetKeys)
      const staged = yield* writer.deletes!.stage(reconciliation.missing)
      const seconds = (performance.now() - started) / 1000
      const delivery = yield* writer.commit({ runId: "reconcile-big", watermark: null, rows: 0 })
      const { stats } = reconciliation
      yield* Effect.log(
        `100k rows, 5 deletes: ${stats.rounds} rounds, ${stats.rangesDigested} ranges digested, ` +
          `${stats.keysStreamed.source} + ${stats.keysStreamed.target} keys streamed, ${seconds.toFixed(2)} s`
      )
      expect(staged).toBe(5)
      expect(delivery.deleted).toBe(5)
      expect(stats.missing).toBe(5)
      expect(stats.rounds).toBe(3)
      // Each streamed range holds about 100,000 / 32 / 32 ≈ 98 keys; four ranges hold the five deletes.
      expect(stats.keysStreamed.source + stats.keysStreamed.target).toBeLessThan(1_000)
      const [left] = yield* Effect.promise(() =>
        database.query<{ rows: number; missing: number }>(
          `SELECT count(*)::int AS rows, count(*) FILTER (WHERE id IN (1, 17171, 50000, 50001, 99999))::int AS missing FROM dst.big`
        )
      )
      expect(left).toEqual({ rows: 99_995, missing: 0 })
      const missingKeys = rowsOf(sourceKeys.columns, [
        ...(yield* collect(reconcile<SourceError | SinkError>(sourceKeys, targetKeys).missing))
      ])
      expect(missingKeys).toEqual([])
    })
  )

  it.scopedLive(
    "digests where an index serves the key, streams otherwise, and refuses keys that order unlike their type",
    () =>
      Effect.gen(function* () {
        yield* Effect.promise(() =>
          database.query(`
          CREATE TABLE src.sides (id int, code char(4), tag text, updated_at timestamptz);
          CREATE INDEX ON src.sides (tag);
          INSERT INTO src.sides VALUES (1, 'a', 'x', now()), (2, 'b', 'y', now());`)
        )
        const open = postgresSource.open(storeConfig(database.url), { store: "pg", baseDir: "." })
        let source = yield* open
        const keysOf = (config: Record<string, string>, key: ReadonlyArray<string>) =>
          source.keys!(Schema.decodeUnknownSync(postgresSource.datasetConfig)(config), {
            dataset: "sides",
            key,
            filter: Option.none()
          })
        // No index on id; a view or a query has none; tag's index is not in the C collation.
        for (const side of [
          yield* keysOf({ table: "src.sides" }, ["id"]),
          yield* keysOf({ query: "SELECT id, updated_at FROM src.sides" }, ["id"]),
          yield* keysOf({ table: "src.sides" }, ["tag"])
        ]) {
          expect(side.digests).toBeUndefined()
        }
        yield* Effect.promise(() => database.query(`CREATE UNIQUE INDEX ON src.sides (id)`))
        // A session sees the catalog of its snapshot: the index counts from the next one.
        source = yield* open
        const indexed = yield* keysOf({ table: "src.sides" }, ["id"])
        expect(indexed.digests).toBeDefined()
        expect(rowsOf(indexed.columns, [...(yield* collect(indexed.keys({})))])).toEqual([[1], [2]])
        const refused = yield* Effect.flip(keysOf({ table: "src.sides" }, ["code"]))
        expect(refused.message).toMatch(
          /^the key column code of src\.sides does not order and print like the utf8 it is read as \(char\(n\), citext, enums and domains do not\)/
        )
      })
  )
})
