/**
 * Reads the PostgreSQL source encodes itself (`readEncoded`): the CSV it writes is
 * byte for byte the CSV of its batches encoded by sinks/formats/Csv.ts, for every type
 * it renders, at the extremes, with NULLs, empty strings, quotes, line breaks and
 * blanks, in several dialects, through column selections, filters and incremental
 * ranges, with the same watermark; it refuses what the batches refuse, with the same
 * message; it declines what it cannot render exactly; and `ferry run` takes it.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"
import { quoteIdentifier } from "../../../connectors/postgres/Identifiers.js"
import type { PostgresDatasetConfig } from "../../../connectors/postgres/PostgresSource.js"
import { postgresSource } from "../../../connectors/postgres/PostgresSource.js"
import { parseFilter } from "../../../core/Filter.js"
import type { EncodedFormat, IncrementalSpec, ReadPlan, SourceSession } from "../../../core/Source.js"
import type { Column } from "../../../core/Types.js"
import type { CursorWatermark } from "../../../core/Watermark.js"
import { Csv } from "../../../sinks/formats/Csv.js"
import type { CsvOptions } from "../../../sinks/formats/Options.js"
import { CsvOptions as CsvOptionsSchema } from "../../../sinks/formats/Options.js"
import { dataFiles, runOnce, shareConfig, workspace } from "../../runtime/RunSupport.js"
import { makeSchema, storeConfig, TEST_URL } from "../../support/postgres.js"
import { readPlan } from "../../support/plans.js"

let schema: Awaited<ReturnType<typeof makeSchema>>

/** Random doubles over the whole range of exponents, written so that PostgreSQL reads back the same double. */
const randomDoubles = (count: number): ReadonlyArray<string> => {
  let seed = 42
  const next = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
    return seed / 2_147_483_648
  }
  return Array.from({ length: count }, () => {
    const value = (next() - 0.5) * 10 ** Math.floor(next() * 60 - 30)
    return `'${String(value)}'::float8`
  })
}

/** Column, type, literals: every type the source renders, and values that test each rewrite. */
const COLUMNS: ReadonlyArray<readonly [string, string, ReadonlyArray<string>]> = [
  ["id", "integer", []],
  ["s", "smallint", ["-32768", "32767", "0"]],
  ["b", "bigint", ["-9223372036854775808", "9223372036854775807", "0"]],
  ["r", "real", ["'NaN'", "'-Infinity'", "'Infinity'", "0.1", "'-0'", "1e-7", "3.4028235e38", "1e-45", "1.5"]],
  [
    "d",
    "double precision",
    [
      "'NaN'",
      "'Infinity'",
      "'-Infinity'",
      "5e-324",
      "1.7976931348623157e308",
      "'-0'",
      "0",
      "1e-7",
      "1e-6",
      "1.5e-5",
      "0.0001",
      "123.456",
      "1e15",
      "1000000000000000.5",
      "1e20",
      "1e21",
      "1.2345e25",
      "-2.5e-300",
      "0.1::float8 + 0.2::float8",
      "9007199254740993",
      "100",
      ...randomDoubles(300)
    ]
  ],
  [
    "n",
    "numeric(38,10)",
    ["9999999999999999999999999999.9999999999", "-9999999999999999999999999999.9999999999", "0", "-0.0000000001"]
  ],
  ["n2", "numeric(12,2)", ["-0.01", "1234567890.1", "0"]],
  ["n3", "numeric(3,-2)", ["99900", "-1250"]],
  ["n4", "numeric(2,4)", ["0.0099", "-0.0001"]],
  ["nf", "numeric", ["'NaN'", "1.5", "1e40", "-0.000"]],
  ["flag", "boolean", ["true", "false"]],
  [
    "t",
    "text",
    [
      "''",
      "' leading'",
      "'trailing '",
      "E'\\ttab'",
      "E'tab\\t'",
      "' both '",
      "' '",
      "'a,b'",
      "'quote \"x\"'",
      "E'line\\nbreak'",
      "E'cr\\rx'",
      "'héllo ✓ 日本語 🚀'",
      "'\\N'",
      "'\\.'",
      "'NULL'",
      "','",
      "'\"'",
      "';'",
      "''''",
      "'|'",
      "E'\\x01'",
      "'plain'"
    ]
  ],
  ["ch", "char(4)", ["'ab'", "'abcd'", "' a'"]],
  ["vc", "varchar(10)", ["'x y'", "''"]],
  ["by", "bytea", ["'\\x00ff10'", "''", "'\\x2c22'"]],
  ["u", "uuid", ["'123E4567-E89B-12D3-A456-426614174000'", "'00000000-0000-0000-0000-000000000000'"]],
  [
    "dt",
    "date",
    [
      "'0001-01-01'",
      "'9999-12-31'",
      "'0044-03-15 BC'",
      "'0001-01-01 BC'",
      "'10000-01-01'",
      "'5874897-12-31'",
      "'4714-11-24 BC'",
      "'1969-12-31'"
    ]
  ],
  ["tm", "time", ["'00:00:00'", "'23:59:59.999999'", "'24:00:00'", "'12:00:00.5'"]],
  [
    "ts",
    "timestamp",
    [
      "'1900-01-01 00:00:00.000001'",
      "'294247-01-10 04:00:54.775807'",
      "'0044-03-15 12:00:00 BC'",
      "'10000-01-01 00:00:00'",
      "'1969-12-31 23:59:59.999999'",
      "'4714-11-24 00:00:00 BC'"
    ]
  ],
  [
    "tz",
    "timestamptz",
    [
      "'1969-12-31 23:59:59.5-03'",
      "'2262-04-11 23:47:16.854775+00'",
      "'0044-03-15 12:00:00+00 BC'",
      "'12345-06-07 08:09:10.123+00'",
      "'2026-06-01 12:00:00+05:30'"
    ]
  ],
  ["iv", "interval", ["'1 year 2 months 3 days 04:05:06.5'", "'-1 day'"]],
  ["j", "json", ['\'{"b": 1,  "a": [true, null]}\'', "' {\"x\": 1} '", "'\"a,b\"'"]],
  ["jb", "jsonb", ['\'{"b": 1,  "a": [true, null]}\'', "'\"text\"'"]],
  ["mood_col", "mood", ["'sad'", "'happy'"]],
  ["cash", "money", ["'12.34'", "'-1000000.01'"]],
  ["addr", "inet", ["'192.168.0.1/24'", "'::1'"]],
  ["tt", "timetz", ["'12:00:00+02'"]]
]

/** One row per value of the longest column, each column cycling through its values, then a row of NULLs. */
const ROWS = Math.max(...COLUMNS.map(([, , values]) => values.length))

const csvOptions = (options: Partial<CsvOptions> = {}): CsvOptions =>
  Schema.decodeUnknownSync(CsvOptionsSchema)(options)

const encodedFormat = (options: CsvOptions): EncodedFormat => ({
  format: "csv",
  delimiter: options.delimiter,
  quote: options.quote,
  null: options.null
})

const DIALECTS: ReadonlyArray<CsvOptions> = [
  csvOptions(),
  csvOptions({ delimiter: ";", quote: "'", null: "NULL" }),
  csvOptions({ delimiter: "\t", null: "\\N", header: false }),
  csvOptions({ delimiter: "|", quote: "`", null: "t" })
]

beforeAll(async () => {
  schema = await makeSchema("encoded")
  const name = quoteIdentifier(schema.name)
  const rows = Array.from({ length: ROWS }, (_, row) =>
    COLUMNS.map(([column, , values]) => (column === "id" ? String(row + 1) : values[row % values.length]!))
  )
  rows.push(COLUMNS.map(([column]) => (column === "id" ? String(ROWS + 1) : "NULL")))
  await schema.client.query(`
    CREATE TYPE ${name}.mood AS ENUM ('sad', 'happy');
    SET search_path = ${name};
    CREATE TABLE ${name}.every (${COLUMNS.map(([column, type]) => `${column} ${type}`).join(", ")});
    INSERT INTO ${name}.every VALUES ${rows.map((row) => `(${row.join(", ")})`).join(",\n")};
    CREATE TABLE ${name}.events (id bigint PRIMARY KEY, at timestamptz, day date, amount numeric(10,2), note text, ints integer[]);
    INSERT INTO ${name}.events
      SELECT i, timestamptz '2026-01-01 00:00:00+00' + (i / 3) * interval '1 minute', date '2026-01-01' + i / 50,
             i * 1.25, CASE WHEN i % 7 = 0 THEN NULL ELSE 'note ' || i END, ARRAY[i]
      FROM generate_series(1, 1000) AS g(i);
    CREATE INDEX ON ${name}.events (at, id);
    CREATE VIEW ${name}.recent AS SELECT id, at, note FROM ${name}.events WHERE id > 900;
    CREATE TABLE ${name}.bad_dates (d date, n numeric(6,2), ts timestamp);
    CREATE TABLE ${name}.large AS
      SELECT i AS id, repeat(md5(i::text), 4) AS note, i % 3 = 0 AS ok, (i * 0.37)::float8 AS score,
             timestamptz '2026-01-01 00:00:00+00' + i * interval '1.5 second' AS at
      FROM generate_series(1, 60000) AS g(i);
  `)
}, 30_000)
afterAll(() => schema?.drop(), 30_000)

const table = (name: string): PostgresDatasetConfig => ({ table: `${schema.name}.${name}` })

const withSession = <A>(
  use: (session: SourceSession<PostgresDatasetConfig, CursorWatermark>) => Effect.Effect<A, unknown>,
  url = TEST_URL
) => Effect.scoped(Effect.flatMap(postgresSource.open(storeConfig(url), { store: "pg", baseDir: "." }), use))

const spec = (cursor: string, key: ReadonlyArray<string>, lookback?: Duration.DurationInput): IncrementalSpec => ({
  cursor,
  key,
  lookback: lookback === undefined ? Option.none() : Option.some(Duration.decode(lookback))
})

const plan = (overrides: Partial<ReadPlan<CursorWatermark>> = {}): ReadPlan<CursorWatermark> =>
  readPlan("encoded", overrides)

const bytesOf = (chunks: Chunk.Chunk<Uint8Array>): Buffer => Buffer.concat(Chunk.toReadonlyArray(chunks))

/** The columns a plan reads, as the source describes them. */
const planColumns = (
  session: SourceSession<PostgresDatasetConfig, CursorWatermark>,
  dataset: PostgresDatasetConfig,
  read: ReadPlan<CursorWatermark>
) =>
  Effect.map(session.describe(dataset), (description) => {
    const columns = description.kind === "table" ? description.columns : []
    return Option.match(read.columns, {
      onNone: () => columns,
      onSome: (names) => names.map((name) => columns.find((column) => column.name === name)!)
    })
  })

/** The Arrow path: the batches of `readTable` encoded by Ferry's CSV encoder, and the last page's watermark. */
const throughArrow = (
  session: SourceSession<PostgresDatasetConfig, CursorWatermark>,
  dataset: PostgresDatasetConfig,
  read: ReadPlan<CursorWatermark>,
  options: CsvOptions
) =>
  Effect.gen(function* () {
    const columns: ReadonlyArray<Column> = yield* planColumns(session, dataset, read)
    const pages = yield* Stream.runCollect(session.readTable!(dataset, read))
    const watermark = Chunk.reduce(pages, Option.none<CursorWatermark>(), (last, page) =>
      Option.isSome(page.watermark) ? page.watermark : last
    )
    const batches = Stream.fromIterable(Chunk.toReadonlyArray(pages).map((page) => page.batch))
    const bytes = bytesOf(yield* Stream.runCollect(Csv.encode(columns, batches, options)))
    return { bytes, watermark, rows: Chunk.reduce(pages, 0, (sum, page) => sum + page.batch.numRows) }
  })

/** The encoded path: the format's header, then the bytes `readEncoded` gives. */
const encoded = (
  session: SourceSession<PostgresDatasetConfig, CursorWatermark>,
  dataset: PostgresDatasetConfig,
  read: ReadPlan<CursorWatermark>,
  options: CsvOptions
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const columns = yield* planColumns(session, dataset, read)
      const table = yield* session.readEncoded!(dataset, read, encodedFormat(options))
      if (Option.isNone(table)) return Option.none()
      const header = bytesOf(yield* Stream.runCollect(Csv.encode(columns, Stream.empty, options)))
      // Parts in order are the table in the order of its pages, as one read gives it.
      const parts = yield* Effect.forEach(table.value.parts, Stream.runCollect, { concurrency: "unbounded" })
      const rows = Buffer.concat(parts.map(bytesOf))
      return Option.some({
        bytes: Buffer.concat([header, rows]),
        watermark: table.value.watermark,
        rows: table.value.rows(),
        parts: parts.length
      })
    })
  )

/** The first line where two CSV texts differ, for a readable failure. */
const firstDifference = (a: Buffer, b: Buffer): string => {
  const left = a.toString("utf8").split("\n")
  const right = b.toString("utf8").split("\n")
  const line = left.findIndex((text, i) => text !== right[i])
  return line < 0
    ? "(lengths differ)"
    : `line ${line + 1}:\n  arrow:   ${JSON.stringify(left[line])}\n  encoded: ${JSON.stringify(right[line])}`
}

const expectSame = (
  session: SourceSession<PostgresDatasetConfig, CursorWatermark>,
  dataset: PostgresDatasetConfig,
  read: ReadPlan<CursorWatermark>,
  options: CsvOptions
) =>
  Effect.gen(function* () {
    const arrow = yield* throughArrow(session, dataset, read, options)
    const direct = yield* encoded(session, dataset, read, options)
    expect(Option.isSome(direct)).toBe(true)
    const value = Option.getOrThrow(direct)
    if (!arrow.bytes.equals(value.bytes)) expect.fail(firstDifference(arrow.bytes, value.bytes))
    expect(value.rows).toBe(arrow.rows)
    expect(value.watermark).toEqual(arrow.watermark)
    return value
  })

describe("readEncoded", () => {
  it.effect("writes every rendered type exactly as Ferry's CSV encoder writes the batches, in every dialect", () =>
    withSession((session) =>
      Effect.gen(function* () {
        for (const options of DIALECTS) {
          const value = yield* expectSame(session, table("every"), plan(), options)
          expect(value.rows).toBe(ROWS + 1)
        }
      })
    )
  )

  it.effect("selects columns and filters rows as the batches do", () =>
    withSession((session) =>
      Effect.gen(function* () {
        const filter = Either.getOrThrow(parseFilter("s >= 0 and t is not null"))
        yield* expectSame(
          session,
          table("every"),
          plan({ columns: Option.some(["tz", "t", "d", "flag"]), filter: Option.some(filter) }),
          csvOptions()
        )
      })
    )
  )

  it.effect("carries the watermark of the batches: full, incremental after a watermark, with a lookback", () =>
    withSession((session) =>
      Effect.gen(function* () {
        const options = csvOptions()
        const dataset = table("events")
        const columns = Option.some(["id", "at", "amount", "note"])
        const incremental = Option.some(spec("at", ["id"]))
        const full = yield* expectSame(session, dataset, plan({ columns, incremental }), options)
        expect(Option.getOrThrow(full.watermark)).toEqual({ cursor: "2026-01-01T05:33:00Z", key: ["1000"] })
        const after = Option.some({ cursor: "2026-01-01T04:00:00Z", key: ["721"] })
        const next = yield* expectSame(
          session,
          dataset,
          plan({ mode: "incremental", after, columns, incremental }),
          options
        )
        expect(next.rows).toBe(279)
        const lookback = Option.some(spec("at", ["id"], "2 minutes"))
        const again = yield* expectSame(
          session,
          dataset,
          plan({ mode: "incremental", after, columns: Option.some(["note"]), incremental: lookback }),
          options
        )
        expect(again.rows).toBe(284)
        const byDay = Option.some(spec("day", ["id"]))
        yield* expectSame(
          session,
          dataset,
          plan({
            mode: "incremental",
            after: Option.some({ cursor: "2026-01-15", key: ["720"] }),
            incremental: byDay,
            columns
          }),
          options
        )
      })
    )
  )

  it.effect("renders a view when the session's settings are the ones it needs", () =>
    withSession((session) => expectSame(session, table("recent"), plan(), csvOptions())).pipe(
      Effect.zipRight(
        withSession((session) => expectSame(session, { view: `${schema.name}.recent` }, plan(), csvOptions()))
      )
    )
  )

  it.effect("declines what it cannot render exactly: lists, dialects, cursors, a view under other settings", () =>
    Effect.gen(function* () {
      const declined = (
        session: SourceSession<PostgresDatasetConfig, CursorWatermark>,
        dataset: PostgresDatasetConfig,
        read: ReadPlan<CursorWatermark>,
        options: CsvOptions
      ) => Effect.map(encoded(session, dataset, read, options), Option.isNone)
      yield* withSession((session) =>
        Effect.gen(function* () {
          expect(yield* declined(session, table("events"), plan(), csvOptions())).toBe(true)
          const noLists = Option.some(["id", "at", "note"])
          expect(yield* declined(session, table("events"), plan({ columns: noLists }), csvOptions())).toBe(false)
          expect(
            yield* declined(session, table("events"), plan({ columns: noLists }), csvOptions({ delimiter: "." }))
          ).toBe(true)
          const textKey = Option.some(spec("at", ["note"]))
          expect(
            yield* declined(session, table("events"), plan({ columns: noLists, incremental: textKey }), csvOptions())
          ).toBe(true)
        })
      )
      const paris = `${TEST_URL}${TEST_URL.includes("?") ? "&" : "?"}options=${encodeURIComponent("-c TimeZone=Europe/Paris")}`
      yield* withSession(
        (session) =>
          Effect.gen(function* () {
            expect(yield* declined(session, { view: `${schema.name}.recent` }, plan(), csvOptions())).toBe(true)
            // A table's columns hold values, not text the session's settings made: still rendered, and the same.
            yield* expectSame(session, table("every"), plan(), csvOptions())
          }),
        paris
      )
    })
  )

  it.effect("refuses what the batches refuse, with the same message", () =>
    Effect.gen(function* () {
      const bad = table("bad_dates")
      yield* Effect.promise(() =>
        schema.client.query(
          `INSERT INTO ${quoteIdentifier(schema.name)}.bad_dates VALUES ('infinity', 1, '2000-01-01'), ('2000-01-01', 'NaN', '2000-01-01'), ('2000-01-01', 1, '-infinity')`
        )
      )
      for (const column of ["d", "n", "ts"]) {
        const read = plan({ columns: Option.some([column]) })
        const [arrow, direct] = yield* withSession((session) =>
          Effect.all([
            Effect.exit(throughArrow(session, bad, read, csvOptions())),
            Effect.exit(encoded(session, bad, read, csvOptions()))
          ])
        )
        expect(Exit.isFailure(arrow)).toBe(true)
        expect(Exit.isFailure(direct)).toBe(true)
        if (Exit.isFailure(arrow) && Exit.isFailure(direct)) {
          expect(JSON.stringify(direct.cause)).toBe(JSON.stringify(arrow.cause))
        }
      }
    })
  )

  /**
   * `ferry run` of a table into two CSV mappings: as it is, which the source encodes,
   * and with `cast` applied, which a cast sends through Arrow (one that writes the same
   * text). Gives the run's lines and the two files.
   */
  const runBothWays = (name: string, cast: string) =>
    Effect.gen(function* () {
      const space = workspace(
        shareConfig({
          stores: [`db: { type: postgres, url: "${TEST_URL}", account: contoso }`],
          datasets: [
            `{ name: direct, source: { store: db, table: ${schema.name}.${name} } }`,
            `{ name: cast, source: { store: db, table: ${schema.name}.${name} }, casts: { ${cast} } }`
          ],
          mappings: [
            "direct: { store: out, path: direct/, format: csv }",
            "cast: { store: out, path: cast/, format: csv }"
          ]
        })
      )
      try {
        const { lines } = yield* runOnce(space, { full: true })
        const read = (folder: string) => fs.readFileSync(path.join(space.out(folder), dataFiles(space.out(folder))[0]!))
        return { lines, direct: read("direct"), cast: read("cast") }
      } finally {
        space.remove()
      }
    })

  it.effect("is what ferry run writes into a CSV mapping, the same file as the batches give", () =>
    Effect.gen(function* () {
      const { lines, direct, cast } = yield* runBothWays("every", "s: int32")
      expect(lines.some((line) => line.includes("direct (full)") && line.includes("encoded by the source"))).toBe(true)
      // A cast changes a column, so that dataset goes through Arrow.
      expect(lines.some((line) => line.includes("cast (full)") && line.includes("encoded by the source"))).toBe(false)
      const arrow = yield* withSession((session) => throughArrow(session, table("every"), plan(), csvOptions()))
      expect(direct.equals(arrow.bytes)).toBe(true)
      // int16 → int32 writes the same text, so both files hold the same bytes.
      expect(cast.equals(direct)).toBe(true)
    })
  )

  it.effect("writes the same file through the local store when the rewrite reuses the memory of written rows", () =>
    Effect.gen(function* () {
      // About 11 MB: dozens of chunks over slabs of 1 MiB, which the local writer hands back as it goes.
      const { lines, direct, cast } = yield* runBothWays("large", "id: int64")
      expect(lines.some((line) => line.includes("direct (full): 60,000 rows") && line.includes("encoded by"))).toBe(
        true
      )
      expect(direct.length).toBeGreaterThan(10_000_000)
      if (!cast.equals(direct)) expect.fail(firstDifference(cast, direct))
    })
  )
})
