/**
 * Consistent full snapshots and correct incremental ones: one instant across the tables
 * of a session whatever commits meanwhile, and incremental reads by (cursor, key) that
 * lose and repeat nothing across pages, late commits (with a lookback), time zones and
 * updates, using an index on the cursor rather than scanning the table.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import type pg from "pg"
import type { PostgresDatasetConfig } from "../../../connectors/postgres/PostgresSource.js"
import { postgresSource } from "../../../connectors/postgres/PostgresSource.js"
import type { IncrementalSpec, Page, ReadPlan, SourceSession } from "../../../core/Source.js"
import type { Column } from "../../../core/Types.js"
import type { CursorWatermark } from "../../../core/Watermark.js"
import { collect, rowsOf, rowText } from "../../conformance/index.js"
import { connect, makeSchema, storeConfig } from "../../support/postgres.js"

let schema: Awaited<ReturnType<typeof makeSchema>>
const others: Array<pg.Client> = []

beforeAll(async () => {
  schema = await makeSchema("snapshots")
})
afterAll(async () => {
  for (const client of others) await client.end()
  await schema.drop()
})

const sql = (text: string, client: pg.ClientBase = schema.client) =>
  Effect.promise(() => client.query(`SET search_path = ${schema.name}; ${text}`))

/** Another connection, as another application writing to the database. */
const otherConnection = Effect.promise(async () => {
  const client = await connect()
  others.push(client)
  return client
})

const openSession = postgresSource.open(storeConfig(), { store: "pg", baseDir: "." })

const table = (name: string, extra: Partial<PostgresDatasetConfig> = {}): PostgresDatasetConfig => ({
  table: `${schema.name}.${name}`,
  ...extra
})

const spec = (lookback?: Duration.DurationInput): IncrementalSpec => ({
  cursor: "updated_at",
  key: ["id"],
  lookback: lookback === undefined ? Option.none() : Option.some(Duration.decode(lookback))
})

const readPlan = (
  mode: "full" | "incremental",
  after: Option.Option<CursorWatermark>,
  incremental: Option.Option<IncrementalSpec> = Option.none()
): ReadPlan<CursorWatermark> => ({
  dataset: "d",
  mode,
  after,
  columns: Option.none(),
  filter: Option.none(),
  incremental
})

const describeColumns = (
  session: SourceSession<PostgresDatasetConfig, CursorWatermark>,
  dataset: PostgresDatasetConfig
) => Effect.map(session.describe(dataset), (description) => (description.kind === "table" ? description.columns : []))

const textRows = (columns: ReadonlyArray<Column>, pages: ReadonlyArray<Page<CursorWatermark>>) =>
  rowsOf(
    columns,
    pages.map((page) => page.batch)
  ).map((row) => rowText(columns, row).join("|"))

/** Reads incrementally after `after`; the rows and the last watermark. */
const incremental = (
  session: SourceSession<PostgresDatasetConfig, CursorWatermark>,
  dataset: PostgresDatasetConfig,
  after: Option.Option<CursorWatermark>,
  lookback?: Duration.DurationInput
) =>
  Effect.gen(function* () {
    const columns = yield* describeColumns(session, dataset)
    const pages = yield* collect(
      session.readTable!(dataset, readPlan("incremental", after, Option.some(spec(lookback))))
    )
    const watermark = pages.reduce<Option.Option<CursorWatermark>>(
      (last, page) => (Option.isSome(page.watermark) ? page.watermark : last),
      after
    )
    return { pages, rows: textRows(columns, pages), watermark }
  })

describe("PostgreSQL snapshots", () => {
  it.scopedLive("a session reads every table at the instant it opened, whatever commits between reads", () =>
    Effect.gen(function* () {
      yield* sql(`CREATE TABLE left_side (id int); CREATE TABLE right_side (id int);
                  INSERT INTO left_side VALUES (1); INSERT INTO right_side VALUES (1);`)
      const session = yield* openSession
      const writer = yield* otherConnection
      yield* sql("INSERT INTO left_side VALUES (2); INSERT INTO right_side VALUES (2)", writer)
      const left = yield* collect(session.readTable!(table("left_side"), readPlan("full", Option.none())))
      // Between the two reads another transaction moves a row from one table to the other.
      yield* sql("BEGIN; DELETE FROM left_side WHERE id = 1; INSERT INTO right_side VALUES (3); COMMIT", writer)
      const right = yield* collect(session.readTable!(table("right_side"), readPlan("full", Option.none())))
      const columns = yield* describeColumns(session, table("left_side"))
      expect(textRows(columns, left)).toEqual(["1"])
      expect(textRows(columns, right)).toEqual(["1"])

      // Reads running at the same time see the same instant too; a new session sees the changes.
      const both = yield* Effect.all(
        [table("left_side"), table("right_side")].map((dataset) =>
          collect(session.readTable!(dataset, readPlan("full", Option.none())))
        ),
        { concurrency: 2 }
      )
      expect(both.map((pages) => textRows(columns, pages))).toEqual([["1"], ["1"]])
      const later = yield* openSession
      const now = yield* collect(later.readTable!(table("right_side"), readPlan("full", Option.none())))
      expect(textRows(columns, now).sort()).toEqual(["1", "2", "3"])
    })
  )

  it.scopedLive(
    "rows sharing one cursor value across many pages: resuming after any page loses and repeats nothing",
    () =>
      Effect.gen(function* () {
        yield* sql(`CREATE TABLE ties (id bigint PRIMARY KEY, updated_at timestamptz, note text);
                  INSERT INTO ties SELECT i, timestamptz '2026-01-01Z' + (i / 150) * interval '1 second', 'n' || i
                  FROM generate_series(1, 450) AS i;`)
        const session = yield* openSession
        const dataset = table("ties", { batch_rows: 32 })
        const first = yield* incremental(session, dataset, Option.none())
        expect(first.rows).toHaveLength(450)
        expect(first.pages.length).toBeGreaterThan(10)
        // A run that committed page k and stopped is followed by one resuming from its watermark.
        for (let k = 0; k < first.pages.length; k++) {
          const committed = first.pages[k]!.watermark
          expect(Option.isSome(committed)).toBe(true)
          const delivered = first.rows.slice(
            0,
            first.pages.slice(0, k + 1).reduce((n, page) => n + page.batch.numRows, 0)
          )
          const rest = yield* incremental(session, dataset, committed)
          expect([...delivered, ...rest.rows]).toEqual(first.rows)
        }
        expect(first.watermark).toEqual(Option.some({ cursor: "2026-01-01T00:00:03Z", key: ["450"] }))
      })
  )

  it.scopedLive("a transaction that commits late with an older cursor value is caught with a lookback", () =>
    Effect.gen(function* () {
      yield* sql(`CREATE TABLE late (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL);
                  INSERT INTO late VALUES (1, '2026-01-01 00:00:00Z');`)
      const slow = yield* otherConnection
      yield* sql("BEGIN; INSERT INTO late VALUES (2, '2026-01-01 00:00:10Z')", slow)
      yield* sql("INSERT INTO late VALUES (3, '2026-01-01 00:00:20Z')")
      const first = yield* incremental(yield* openSession, table("late"), Option.none(), "1 minute")
      expect(first.rows.map((row) => row.split("|")[0])).toEqual(["1", "3"])
      yield* sql("COMMIT", slow)

      const withoutLookback = yield* incremental(yield* openSession, table("late"), first.watermark)
      expect(withoutLookback.rows).toEqual([])
      const withLookback = yield* incremental(yield* openSession, table("late"), first.watermark, "15 seconds")
      expect(withLookback.rows.map((row) => row.split("|")[0])).toEqual(["2", "3"])
      // The re-read window never moves the watermark back.
      expect(withLookback.watermark).toEqual(first.watermark)
    })
  )

  it.scopedLive("timestamptz cursors written from sessions in different time zones order by instant", () =>
    Effect.gen(function* () {
      yield* sql("CREATE TABLE zones (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL)")
      const tokyo = yield* otherConnection
      const losAngeles = yield* otherConnection
      yield* sql("SET TIME ZONE 'Asia/Tokyo'; INSERT INTO zones VALUES (1, '2026-01-01 09:00:00')", tokyo)
      const first = yield* incremental(yield* openSession, table("zones"), Option.none())
      expect(first.watermark).toEqual(Option.some({ cursor: "2026-01-01T00:00:00Z", key: ["1"] }))
      // Local times that look earlier (16:00 the day before) and later (10:00) than Tokyo's 09:00.
      yield* sql(
        `SET TIME ZONE 'America/Los_Angeles';
         INSERT INTO zones VALUES (2, '2025-12-31 16:00:01'), (3, '2025-12-31 15:59:59')`,
        losAngeles
      )
      yield* sql("SET TIME ZONE 'Asia/Tokyo'; INSERT INTO zones VALUES (4, '2026-01-01 08:59:59')", tokyo)
      const second = yield* incremental(yield* openSession, table("zones"), first.watermark)
      expect(second.rows).toEqual(["2|2026-01-01T00:00:01Z"])
    })
  )

  it.scopedLive("rows updated after they were delivered arrive again", () =>
    Effect.gen(function* () {
      yield* sql(`CREATE TABLE changing (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, amount int);
                  INSERT INTO changing VALUES (1, '2026-01-01Z', 10), (2, '2026-01-02Z', 20);`)
      const first = yield* incremental(yield* openSession, table("changing"), Option.none())
      expect(first.rows).toHaveLength(2)
      yield* sql("UPDATE changing SET amount = 11, updated_at = '2026-01-03Z' WHERE id = 1")
      const second = yield* incremental(yield* openSession, table("changing"), first.watermark)
      expect(second.rows).toEqual(["1|2026-01-03T00:00:00Z|11"])
    })
  )

  it.scopedLive("a full read of a dataset with a cursor commits the largest tuple it read, on its last page", () =>
    Effect.gen(function* () {
      yield* sql(`CREATE TABLE whole (id bigint, updated_at date, v text);
                  INSERT INTO whole VALUES (3, '2026-01-05', 'a'), (1, NULL, 'b'), (2, '2026-01-05', 'c'), (9, '2026-01-01', 'd');`)
      const session = yield* openSession
      const pages = yield* collect(
        session.readTable!(table("whole", { batch_rows: 2 }), {
          ...readPlan("full", Option.none(), Option.some(spec())),
          columns: Option.some(["v"])
        })
      )
      expect(pages.map((page) => page.batch.schema.fields.map((field) => field.name))).toEqual(pages.map(() => ["v"]))
      expect(pages.slice(0, -1).every((page) => Option.isNone(page.watermark))).toBe(true)
      expect(pages.at(-1)!.watermark).toEqual(Option.some({ cursor: "2026-01-05", key: ["3"] }))
      expect(pages.reduce((n, page) => n + page.batch.numRows, 0)).toBe(4)
    })
  )

  it.scopedLive("an incremental read of an indexed table uses the index, not a scan of the table", () =>
    Effect.gen(function* () {
      yield* sql(`CREATE TABLE big (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, payload text);
                  INSERT INTO big SELECT i, timestamptz '2026-01-01Z' + i * interval '1 second', repeat('x', 40)
                  FROM generate_series(1, 100000) AS i;
                  CREATE INDEX big_updated_at ON big (updated_at);
                  UPDATE big SET updated_at = updated_at + interval '1 year' WHERE id % 100 = 0;
                  ANALYZE big;`)
      const statements: Array<string> = []
      const capture = Logger.make(({ annotations }) => {
        const statement = HashMap.get(annotations, "sql")
        if (Option.isSome(statement)) statements.push(String(statement.value))
      })
      const session = yield* openSession
      const after = Option.some({ cursor: "2026-01-02T03:46:40Z", key: ["100000"] })
      const read = yield* incremental(session, table("big"), after).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
        Logger.withMinimumLogLevel(LogLevel.Debug)
      )
      expect(read.rows).toHaveLength(1000)
      const select = /^COPY \((.*)\) TO STDOUT \(FORMAT binary\)$/s.exec(statements.at(-1) ?? "")?.[1]
      expect(select).toBeDefined()
      const plan = yield* sql(`EXPLAIN ${select}`)
      const lines = (plan as unknown as ReadonlyArray<pg.QueryResult>)[1]!.rows.map((row) => String(row["QUERY PLAN"]))
      expect(lines.join("\n")).toContain("big_updated_at")
      expect(lines.join("\n")).not.toContain("Seq Scan")
    })
  )
})
