import * as Arrow from "apache-arrow"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import type { Batch } from "../../core/Batch.js"
import { BatchBuilder, batchReaders } from "../../core/Batch.js"
import { selectColumns, takeRows } from "../../core/Rows.js"
import type { Column } from "../../core/Types.js"
import { columnsOf } from "../../core/Types.js"
import type { Value } from "../../core/Values.js"

const columns: ReadonlyArray<Column> = [
  { name: "i8", type: { kind: "int8" }, nullable: true },
  { name: "i64", type: { kind: "int64" }, nullable: true },
  { name: "f32", type: { kind: "float32" }, nullable: true },
  { name: "dec", type: { kind: "decimal", precision: 38, scale: 4 }, nullable: true },
  { name: "flag", type: { kind: "bool" }, nullable: true },
  { name: "text", type: { kind: "utf8" }, nullable: true },
  { name: "doc", type: { kind: "json" }, nullable: true },
  { name: "bytes", type: { kind: "binary" }, nullable: true },
  { name: "id", type: { kind: "uuid" }, nullable: true },
  { name: "day", type: { kind: "date" }, nullable: true },
  { name: "clock", type: { kind: "time", unit: "us" }, nullable: true },
  { name: "at", type: { kind: "timestamp", unit: "ns", timeZone: "UTC" }, nullable: true },
  { name: "tags", type: { kind: "list", element: { kind: "utf8" } }, nullable: true }
]

const valueAt = (row: number, column: number): Value | null => {
  if ((row + column) % 7 === 3) return null
  switch (columns[column]!.type.kind) {
    case "int8":
      return (row % 256) - 128
    case "int64":
      return BigInt(row) * 3_000_000_000_000_000n - 9_000_000_000_000_000_000n
    case "float32":
      return Math.fround(row / 3)
    case "decimal":
      return (BigInt(row) - 50n) * 10n ** 33n + BigInt(row)
    case "bool":
      return row % 3 === 0
    case "utf8":
      return `row ${row} ${"é".repeat(row % 4)}`
    case "json":
      return JSON.stringify({ row })
    case "binary":
      return Uint8Array.from({ length: row % 5 }, (_, k) => (row + k) % 256)
    case "uuid":
      return `00000000-0000-4000-8000-${String(row).padStart(12, "0")}`
    case "date":
      return row * 400 - 20_000
    case "time":
      return BigInt(row) * 1_000_001n
    case "timestamp":
      return BigInt(row) * 123_456_789_012_345n - 3_000_000_000_000_000_000n
    default:
      return row % 4 === 0 ? [] : [`t${row}`, null, "x"]
  }
}

const ROWS = 100
const makeBatch = (): Batch => {
  const builder = new BatchBuilder(columns)
  for (let row = 0; row < ROWS; row++) builder.appendRow(columns.map((_, column) => valueAt(row, column)))
  return builder.finish()
}

const rowsOf = (batch: Batch): Array<Array<Value | null>> => {
  const readers = batchReaders(columns, batch)
  return Array.from({ length: batch.numRows }, (_, row) => readers.map((read) => read(row)))
}

/** The batch after a trip through Arrow IPC, which rejects buffers that do not match their lengths. */
const throughIpc = (batch: Batch): Batch => {
  const table = Arrow.tableFromIPC(Arrow.tableToIPC(new Arrow.Table([batch])))
  expect(table.batches.length).toBe(1)
  return table.batches[0]!
}

describe("takeRows", () => {
  const batch = makeBatch()
  const expected = rowsOf(batch)

  it("gathers rows of every type, nulls included, in any order and with repeats", () => {
    const indices = Int32Array.from([99, 0, 3, 3, 50, 17, 98, 1, 64, 63, 62])
    const taken = takeRows(batch, columns, indices)
    expect(taken.numRows).toBe(indices.length)
    expect(rowsOf(taken)).toEqual([...indices].map((i) => expected[i]))
    expect(rowsOf(throughIpc(taken))).toEqual([...indices].map((i) => expected[i]))
    expect(taken.data.children[1]!.nullCount).toBe([...indices].filter((i) => (i + 1) % 7 === 3).length)
  })

  it("gathers from a sliced batch, whose buffers start at an offset", () => {
    const sliced = batch.slice(13, 77)
    const indices = Int32Array.from({ length: 40 }, (_, k) => (k * 7) % 64)
    expect(rowsOf(takeRows(sliced, columns, indices))).toEqual([...indices].map((i) => expected[i + 13]))
  })

  it("returns the batch itself for every row in order, and an empty batch for none", () => {
    expect(
      takeRows(
        batch,
        columns,
        Int32Array.from({ length: ROWS }, (_, i) => i)
      )
    ).toBe(batch)
    const empty = takeRows(batch, columns, new Int32Array(0))
    expect(empty.numRows).toBe(0)
    expect(empty.schema.fields).toEqual(batch.schema.fields)
    expect(throughIpc(empty).numRows).toBe(0)
  })
})

describe("selectColumns", () => {
  const batch = makeBatch()

  it("keeps the columns named, in the order named, sharing their buffers", () => {
    const selected = Either.getOrThrow(selectColumns(batch, columns, ["at", "i8", "tags"]))
    expect(selected.schema.fields.map((field) => field.name)).toEqual(["at", "i8", "tags"])
    expect(selected.data.children[0]).toBe(batch.data.children[11])
    const selectedColumns = Either.getOrThrow(columnsOf(selected.schema))
    expect(selectedColumns.map((column) => column.type)).toEqual([
      columns[11]!.type,
      columns[0]!.type,
      columns[12]!.type
    ])
    expect(throughIpc(selected).numRows).toBe(ROWS)
  })

  it("returns the batch itself when every column is selected in order", () => {
    expect(
      Either.getOrThrow(
        selectColumns(
          batch,
          columns,
          columns.map((column) => column.name)
        )
      )
    ).toBe(batch)
  })

  it("refuses an unknown or repeated column", () => {
    expect(selectColumns(batch, columns, ["i8", "nope"])).toEqual(
      Either.left(expect.stringMatching(/column nope is not/))
    )
    expect(selectColumns(batch, columns, ["i8", "i8"])).toEqual(Either.left("column i8 is selected twice"))
  })
})
