/**
 * One column of every logical type, with the values at its edges, for the round trips
 * of the table formats: write a batch, read it back, compare value by value.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { Batch } from "../../../core/Batch.js"
import { BatchBuilder, batchReaders } from "../../../core/Batch.js"
import type { Column, LogicalType } from "../../../core/Types.js"
import type { Value } from "../../../core/Values.js"
import { daysFromCivil } from "../../../core/Values.js"

const column = (name: string, type: LogicalType): Column => ({ name, type, nullable: true })

const day = (year: number, month: number, dayOfMonth: number) => daysFromCivil(year, month, dayOfMonth)
const micros = (days: number, micro: bigint) => BigInt(days) * 86_400_000_000n + micro

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
  column("ts_ns", { kind: "timestamp", unit: "ns", timeZone: null }),
  column("ts_ns_utc", { kind: "timestamp", unit: "ns", timeZone: "UTC" }),
  column("doc", { kind: "json" }),
  column("id", { kind: "uuid" }),
  column("ints", { kind: "list", element: { kind: "int32" } })
]

const DECIMAL_MAX = 10n ** 38n - 1n

/** Values per column; shorter lists are padded with NULL. */
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
  doc: ['{"a":[1,2,{"b":null}],"big":12345678901234567890,"s":"x,\\"y\\""}', "[]", '"text"', "3.25", null],
  id: ["123e4567-e89b-12d3-a456-426614174000", "00000000-0000-0000-0000-000000000000", null],
  ints: [[1, null, -3], [], [2147483647, -2147483648], null]
}

export const allTypeRows = (): ReadonlyArray<ReadonlyArray<Value | null>> => {
  const length = Math.max(...Object.values(valuesByColumn).map((values) => values.length))
  return Array.from({ length }, (_, row) => allTypeColumns.map((c) => valuesByColumn[c.name]![row] ?? null))
}

export const allTypesBatch = (): Batch => {
  const builder = new BatchBuilder(allTypeColumns)
  for (const row of allTypeRows()) builder.appendRow(row)
  return builder.finish()
}

/** The rows of batches, value by value, in the columns' order. */
export const rowsOf = (columns: ReadonlyArray<Column>, batches: ReadonlyArray<Batch>) =>
  batches.flatMap((batch) => {
    const readers = batchReaders(columns, batch)
    return Array.from({ length: batch.numRows }, (_, row) => readers.map((read) => read(row)))
  })

export const collect = <A, E>(stream: Stream.Stream<A, E>) =>
  Effect.map(Stream.runCollect(stream), (chunk) => Chunk.toReadonlyArray(chunk))

/** A fresh temporary folder, removed when the test file ends. */
export const tempDir = (prefix: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  return {
    dir,
    file: (name: string) => path.join(dir, name),
    write: (name: string, content: string | Uint8Array) => {
      const file = path.join(dir, name)
      fs.writeFileSync(file, content)
      return file
    },
    remove: () => fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** Writes an encoded byte stream to a file. */
export const writeStream = <E>(file: string, bytes: Stream.Stream<Uint8Array, E>) =>
  Effect.gen(function* () {
    const chunks = yield* collect(bytes)
    fs.writeFileSync(file, Buffer.concat(chunks.map((chunk) => Buffer.from(chunk))))
  })
