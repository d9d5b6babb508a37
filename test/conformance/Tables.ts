/**
 * Rows in and out of batches, for the conformance suites and the tests of connectors:
 * build a batch from plain rows, read batches (or a whole table dataset) back into rows,
 * and compare rows as text so that NaN, bigints, bytes and lists compare exactly.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { Batch } from "../../core/Batch.js"
import { BatchBuilder, batchReaders } from "../../core/Batch.js"
import type { SourceSession } from "../../core/Source.js"
import type { Column, LogicalType } from "../../core/Types.js"
import { typeName } from "../../core/Types.js"
import type { Value } from "../../core/Values.js"
import { daysFromCivil, formatText } from "../../core/Values.js"

export type Row = ReadonlyArray<Value | null>

export const column = (name: string, type: LogicalType, nullable = true): Column => ({ name, type, nullable })

export const batchOf = (columns: ReadonlyArray<Column>, rows: ReadonlyArray<Row>): Batch => {
  const builder = new BatchBuilder(columns)
  for (const row of rows) builder.appendRow(row)
  return builder.finish()
}

/** The rows of batches whose fields are `columns` (by name, in the batches' own order). */
export const rowsOf = (columns: ReadonlyArray<Column>, batches: ReadonlyArray<Batch>): Array<Row> =>
  batches.flatMap((batch) => {
    const ordered = batch.schema.fields.map((field) => {
      const found = columns.find((c) => c.name === field.name)
      if (found === undefined) throw new Error(`the batch has a column ${field.name} that is not among the columns`)
      return found
    })
    const readers = batchReaders(ordered, batch)
    return Array.from({ length: batch.numRows }, (_, row) => readers.map((read) => read(row)))
  })

/** A row as text, one string per value (`null` for NULL), in the columns' order. */
export const rowText = (columns: ReadonlyArray<Column>, row: Row): ReadonlyArray<string | null> =>
  row.map((value, i) => (value === null ? null : formatText(columns[i]!.type, value)))

/** Rows as text, sorted, for comparing two sets of rows whatever order they came in. */
export const sortedText = (columns: ReadonlyArray<Column>, rows: ReadonlyArray<Row>): Array<string> =>
  rows.map((row) => JSON.stringify(rowText(columns, row))).sort()

export const collect = <A, E, R>(stream: Stream.Stream<A, E, R>): Effect.Effect<ReadonlyArray<A>, E, R> =>
  Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

/**
 * Every row of a table dataset, read whole through a source session in the columns it
 * describes: what a file sink's `readBack` gives, reading its target as a source.
 */
export const readWholeTable = <D, W>(session: SourceSession<D, W>, dataset: D) =>
  Effect.gen(function* () {
    const description = yield* session.describe(dataset)
    const described = description.kind === "table" ? description.columns : []
    const pages = yield* collect(
      session.readTable!(dataset, {
        dataset: "read-back",
        mode: "full",
        after: Option.none(),
        columns: Option.none(),
        filter: Option.none(),
        incremental: Option.none()
      })
    )
    return rowsOf(
      described,
      pages.map((page) => page.batch)
    )
  })

/**
 * The `column_types` a file table dataset of this format needs to read `columns` back
 * with their types: none for Parquet, which carries them.
 */
export const columnTypesOf = (format: string, columns: ReadonlyArray<Column>) =>
  format === "parquet" ? {} : { column_types: Object.fromEntries(columns.map((c) => [c.name, typeName(c.type)])) }

const day = daysFromCivil
const micros = (days: number, micro: bigint) => BigInt(days) * 86_400_000_000n + micro

/** One column of every logical type. */
export const allTypeColumns: ReadonlyArray<Column> = [
  column("i8", { kind: "int8" }),
  column("i16", { kind: "int16" }),
  column("i32", { kind: "int32" }),
  column("i64", { kind: "int64" }),
  column("f32", { kind: "float32" }),
  column("f64", { kind: "float64" }),
  column("dec", { kind: "decimal", precision: 38, scale: 10 }),
  column("flag", { kind: "bool" }),
  column("text", { kind: "utf8" }),
  column("bytes", { kind: "binary" }),
  column("day", { kind: "date" }),
  column("clock", { kind: "time", unit: "us" }),
  column("ts", { kind: "timestamp", unit: "us", timeZone: null }),
  column("ts_utc", { kind: "timestamp", unit: "us", timeZone: "UTC" }),
  column("ts_ms", { kind: "timestamp", unit: "ms", timeZone: "UTC" }),
  column("ts_ns", { kind: "timestamp", unit: "ns", timeZone: null }),
  column("ts_ns_utc", { kind: "timestamp", unit: "ns", timeZone: "UTC" }),
  column("doc", { kind: "json" }),
  column("id", { kind: "uuid" }),
  column("ints", { kind: "list", element: { kind: "int32" } })
]

const DECIMAL_MAX = 10n ** 38n - 1n

/** Values at the edges of each type, and NULL; shorter lists are padded with NULL. */
const valuesByColumn: Record<string, ReadonlyArray<Value | null>> = {
  i8: [-128, 127, 0, null],
  i16: [-32768, 32767, 0, null],
  i32: [-2147483648, 2147483647, 0, null],
  i64: [-(2n ** 63n), 2n ** 63n - 1n, 0n, 9_007_199_254_740_993n, null],
  f32: [NaN, Infinity, -Infinity, Math.fround(0.1), Math.fround(3.4028234663852886e38), null],
  f64: [NaN, Infinity, -Infinity, 0.1, 1.7976931348623157e308, 5e-324, -2.5, null],
  dec: [DECIMAL_MAX, -DECIMAL_MAX, 0n, 1n, -1n, 123_456_789_012_345n, null],
  flag: [true, false, null],
  text: [
    "héllo wörld ✓ 日本語 🚀",
    'she said "hi"',
    "a,b;c\td|e",
    "line one\nline two",
    "crlf\r\nend",
    "",
    " leading",
    "trailing ",
    "NULL",
    "\\N",
    null
  ],
  bytes: [new Uint8Array([0, 255, 16, 1, 0x2c, 0x22]), new Uint8Array([]), null],
  day: [day(1900, 1, 1), day(1, 1, 1), day(9999, 12, 31), 0, -1, null],
  clock: [0n, 86_399_999_999n, 45_296_789_012n, null],
  ts: [micros(day(1900, 1, 1), 1n), micros(day(9999, 12, 31), 86_399_999_999n), -1n, 0n, null],
  ts_utc: [micros(day(1969, 12, 31), 123_456n), micros(day(2262, 4, 11), 0n), micros(day(1, 1, 1), 0n), null],
  ts_ns: [-(2n ** 63n) + 1n, 2n ** 63n - 1n, 1_700_000_000_123_456_789n, null],
  ts_ns_utc: [1n, -1_000_000_001n, null],
  ts_ms: [1_700_000_000_123n, -1n, null],
  doc: ['{"a":[1,2,{"b":null}],"big":12345678901234567890,"s":"x,\\"y\\""}', "[]", '"text"', "3.25", null],
  id: ["123e4567-e89b-12d3-a456-426614174000", "00000000-0000-0000-0000-000000000000", null],
  ints: [[1, null, -3], [], [2147483647, -2147483648], null]
}

export const allTypeRows = (): ReadonlyArray<Row> => {
  const length = Math.max(...Object.values(valuesByColumn).map((values) => values.length))
  return Array.from({ length }, (_, row) => allTypeColumns.map((c) => valuesByColumn[c.name]![row] ?? null))
}
