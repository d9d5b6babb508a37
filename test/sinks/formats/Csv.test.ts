import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import { BatchBuilder } from "../../../core/Batch.js"
import type { FormatError } from "../../../core/Errors.js"
import type { Column, LogicalType } from "../../../core/Types.js"
import { daysFromCivil } from "../../../core/Values.js"
import { Csv } from "../../../sinks/formats/Csv.js"
import type { FileInput } from "../../../sinks/formats/Format.js"
import { localFileInput } from "../../../sinks/formats/LocalFileInput.js"
import type { CsvOptions } from "../../../sinks/formats/Options.js"
import { allTypeColumns, allTypeRows, allTypesBatch, collect, rowsOf, tempDir, writeStream } from "./AllTypes.js"

const temp = tempDir("ferry-csv-")
afterAll(() => temp.remove())

const defaults: CsvOptions = { delimiter: ",", quote: '"', header: true, null: "" }
const noDeclared = new Map<string, LogicalType>()

/** Inspects then decodes a file, as a source does. */
const readAll = (file: string, options: CsvOptions = defaults, declared = noDeclared) =>
  Effect.gen(function* () {
    const input = yield* localFileInput(file)
    const columns = yield* Csv.inspect(input, options, declared)
    const batches = yield* collect(Csv.decode(input, columns, options))
    return { columns, rows: rowsOf(columns, batches), batches }
  })

const typesOf = (columns: ReadonlyArray<Column>) => Object.fromEntries(columns.map((c) => [c.name, c.type]))

const failure = <A>(effect: Effect.Effect<A, unknown>) =>
  Effect.flip(effect).pipe(Effect.map((error) => error as FormatError))

describe("Csv round trip", () => {
  it.effect("carries every logical type exactly, with NULL and the empty string apart", () =>
    Effect.gen(function* () {
      const file = temp.file("all-types.csv")
      yield* writeStream(file, Csv.encode(allTypeColumns, Stream.make(allTypesBatch()), defaults))
      const declared = new Map(allTypeColumns.map((c) => [c.name, c.type]))
      const { columns, rows } = yield* readAll(file, defaults, declared)
      expect(columns).toEqual(allTypeColumns)
      expect(rows).toEqual(allTypeRows())
    })
  )

  it.effect("round trips with a custom delimiter, quote and null marker, without a header", () =>
    Effect.gen(function* () {
      const options: CsvOptions = { delimiter: ";", quote: "'", header: false, null: "NULL" }
      const file = temp.file("custom.csv")
      yield* writeStream(file, Csv.encode(allTypeColumns, Stream.make(allTypesBatch()), options))
      const declared = new Map(allTypeColumns.map((c, i) => [`column_${i + 1}`, c.type]))
      const { columns, rows } = yield* readAll(file, options, declared)
      expect(columns.map((c) => c.type)).toEqual(allTypeColumns.map((c) => c.type))
      expect(rows).toEqual(allTypeRows())
    })
  )

  it.effect("writes a header, quotes only where needed, and ends lines with \\n", () =>
    Effect.gen(function* () {
      const columns: ReadonlyArray<Column> = [
        { name: "id", type: { kind: "int64" }, nullable: true },
        { name: "name", type: { kind: "utf8" }, nullable: true },
        { name: "amount", type: { kind: "decimal", precision: 12, scale: 2 }, nullable: true }
      ]
      const builder = new BatchBuilder(columns)
      builder.appendRow([1n, "plain", 1250n])
      builder.appendRow([2n, "with, comma", -5n])
      builder.appendRow([3n, "", null])
      builder.appendRow([4n, null, 0n])
      builder.appendRow([5n, 'say "x"', 100n])
      const file = temp.file("quoting.csv")
      yield* writeStream(file, Csv.encode(columns, Stream.make(builder.finish()), defaults))
      expect(fs.readFileSync(file, "utf8")).toBe(
        'id,name,amount\n1,plain,12.50\n2,"with, comma",-0.05\n3,"",\n4,,0.00\n5,"say ""x""",1.00\n'
      )
    })
  )
})

describe("Csv reading", () => {
  it.effect("skips a UTF-8 BOM and reads \\r\\n line ends", () =>
    Effect.gen(function* () {
      const file = temp.write("bom.csv", '\uFEFFid,name\r\n1,a\r\n2,"b\r\nc"\r\n')
      const { columns, rows } = yield* readAll(file)
      expect(columns.map((c) => c.name)).toEqual(["id", "name"])
      expect(rows).toEqual([
        [1n, "a"],
        [2n, "b\r\nc"]
      ])
    })
  )

  it.effect("tells an empty unquoted field (NULL) from a quoted one (empty string)", () =>
    Effect.gen(function* () {
      const file = temp.write("nulls.csv", 'a,b\n,""\n"",\nx,y\n')
      const { rows } = yield* readAll(file)
      expect(rows).toEqual([
        [null, ""],
        ["", null],
        ["x", "y"]
      ])
    })
  )

  it.effect("reads a custom null marker, quoted marker text being a string", () =>
    Effect.gen(function* () {
      const file = temp.write("marker.csv", 'a|b\nNULL|"NULL"\n|x\n')
      const { rows } = yield* readAll(file, { ...defaults, delimiter: "|", null: "NULL" })
      expect(rows).toEqual([
        [null, "NULL"],
        ["", "x"]
      ])
    })
  )

  it.effect("names columns column_1… without a header", () =>
    Effect.gen(function* () {
      const file = temp.write("no-header.csv", "1,x\n2,y\n")
      const { columns, rows } = yield* readAll(file, { ...defaults, header: false })
      expect(columns.map((c) => [c.name, c.type.kind])).toEqual([
        ["column_1", "int64"],
        ["column_2", "utf8"]
      ])
      expect(rows).toEqual([
        [1n, "x"],
        [2n, "y"]
      ])
    })
  )

  it.effect("infers types from a sample", () =>
    Effect.gen(function* () {
      const file = temp.write(
        "infer.csv",
        [
          "b,i,f,d,ts,tz,s,empty,zip,big,mixed_tz,nan",
          "true,1,1.5,2024-01-31,2024-01-31 10:00:00,2024-01-31T10:00:00Z,x,,01234,99999999999999999999,2024-01-31T10:00:00Z,NaN",
          "FALSE,-7,2,1969-07-20,1969-07-20T20:17:40.123456789,2024-01-31T12:00:00+02:00,7,,00042,1,2024-01-31T10:00:00,1e10",
          ",,,,,,,,,,,"
        ].join("\n") + "\n"
      )
      const { columns } = yield* readAll(file)
      expect(typesOf(columns)).toEqual({
        b: { kind: "bool" },
        i: { kind: "int64" },
        f: { kind: "float64" },
        d: { kind: "date" },
        ts: { kind: "timestamp", unit: "ns", timeZone: null },
        tz: { kind: "timestamp", unit: "us", timeZone: "UTC" },
        s: { kind: "utf8" },
        empty: { kind: "utf8" },
        zip: { kind: "utf8" },
        big: { kind: "utf8" },
        mixed_tz: { kind: "utf8" },
        nan: { kind: "float64" }
      })
    })
  )

  it.effect("decodes the requested columns by name, in any order", () =>
    Effect.gen(function* () {
      const file = temp.write("subset.csv", "a,b,c\n1,x,true\n2,y,false\n")
      const input = yield* localFileInput(file)
      const columns: ReadonlyArray<Column> = [
        { name: "c", type: { kind: "bool" }, nullable: true },
        { name: "a", type: { kind: "int32" }, nullable: true }
      ]
      const batches = yield* collect(Csv.decode(input, columns, defaults))
      expect(rowsOf(columns, batches)).toEqual([
        [true, 1],
        [false, 2]
      ])
    })
  )

  it.effect("lets declared types override inference", () =>
    Effect.gen(function* () {
      const file = temp.write("declared.csv", "day,amount\n2024-02-29,12.50\n")
      const declared = new Map<string, LogicalType>([["amount", { kind: "decimal", precision: 12, scale: 2 }]])
      const { columns, rows } = yield* readAll(file, defaults, declared)
      expect(typesOf(columns)).toEqual({ day: { kind: "date" }, amount: { kind: "decimal", precision: 12, scale: 2 } })
      expect(rows).toEqual([[daysFromCivil(2024, 2, 29), 1250n]])
    })
  )
})

describe("Csv edge cases", () => {
  it.effect("reads a last line without a line break, and a header-only file as no rows", () =>
    Effect.gen(function* () {
      expect((yield* readAll(temp.write("no-eol.csv", "a,b\n1,x"))).rows).toEqual([[1n, "x"]])
      const headerOnly = yield* readAll(temp.write("header-only.csv", "a,b\n"))
      expect(headerOnly.columns.map((c) => [c.name, c.type.kind])).toEqual([
        ["a", "utf8"],
        ["b", "utf8"]
      ])
      expect(headerOnly.batches).toEqual([])
    })
  )

  it.effect("skips blank lines between rows, but reads them as NULL in a one-column file", () =>
    Effect.gen(function* () {
      expect((yield* readAll(temp.write("blank.csv", "a,b\n1,x\n\n2,y\n\n"))).rows).toEqual([
        [1n, "x"],
        [2n, "y"]
      ])
      const column: ReadonlyArray<Column> = [{ name: "v", type: { kind: "utf8" }, nullable: true }]
      const builder = new BatchBuilder(column)
      for (const value of ["a", null, "", null]) builder.appendRow([value])
      const file = temp.file("one-column.csv")
      yield* writeStream(file, Csv.encode(column, Stream.make(builder.finish()), defaults))
      expect(fs.readFileSync(file, "utf8")).toBe('v\na\n\n""\n\n')
      expect((yield* readAll(file)).rows).toEqual([["a"], [null], [""], [null]])
    })
  )

  it.effect("refuses an empty file that should have a header", () =>
    Effect.gen(function* () {
      const error = yield* failure(readAll(temp.write("empty.csv", "")))
      expect(error.message).toContain("the file is empty")
    })
  )
})

describe("Csv errors", () => {
  it.effect("names a declared column missing from the header", () =>
    Effect.gen(function* () {
      const file = temp.write("missing.csv", "a,b\n1,2\n")
      const input = yield* localFileInput(file)
      const error = yield* failure(Csv.inspect(input, defaults, new Map([["amount", { kind: "int64" }]])))
      expect(error._tag).toBe("FormatError")
      expect(error.message).toContain('"amount"')
    })
  )

  it.effect("refuses duplicate and empty header names", () =>
    Effect.gen(function* () {
      const duplicate = yield* failure(readAll(temp.write("dup.csv", "a,b,a\n1,2,3\n")))
      expect(duplicate.message).toContain('column "a" appears twice in the header (columns 1 and 3)')
      const empty = yield* failure(readAll(temp.write("empty-name.csv", "a,,c\n1,2,3\n")))
      expect(empty.message).toContain("column 2 of the header has no name")
    })
  )

  it.effect("names the file and the line where a row with the wrong field count starts; no batch follows", () =>
    Effect.gen(function* () {
      const good = Array.from({ length: 70_000 }, (_, i) => `${i},"row\n${i}"`)
      // Each good row spans two lines, so the bad row starts on line 1 + 2 * 70_000 + 1.
      const file = temp.write("fields.csv", ["id,text", ...good, "70000,a,extra", "70001,after"].join("\n") + "\n")
      const input = yield* localFileInput(file)
      const columns: ReadonlyArray<Column> = [
        { name: "id", type: { kind: "int64" }, nullable: true },
        { name: "text", type: { kind: "utf8" }, nullable: true }
      ]
      const seen: Array<number> = []
      const error = yield* failure(
        Stream.runDrain(
          Csv.decode(input, columns, defaults).pipe(Stream.tap((b) => Effect.sync(() => seen.push(b.numRows))))
        )
      )
      expect(error.file).toBe(file)
      expect(error.line).toBe(140_002)
      expect(error.message).toBe(`${file}:140002: expected 2 fields, found 3`)
      expect(seen.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(70_000)
    })
  )

  it.effect("names the file, line and column of a value that does not parse", () =>
    Effect.gen(function* () {
      const file = temp.write("sales.csv", 'id,amount\n1,12.5\n2,"12,5"\n')
      const input = yield* localFileInput(file)
      const columns: ReadonlyArray<Column> = [
        { name: "id", type: { kind: "int64" }, nullable: true },
        { name: "amount", type: { kind: "float64" }, nullable: true }
      ]
      const error = yield* failure(collect(Csv.decode(input, columns, defaults)))
      expect([error.file, error.line, error.column]).toEqual([file, 3, "amount"])
      expect(error.message).toBe(`${file}:3: column "amount": "12,5" is not a number`)
    })
  )

  it.effect("reports an unclosed quote with its line", () =>
    Effect.gen(function* () {
      const file = temp.write("unclosed.csv", 'a,b\n1,x\n2,"open\n')
      const error = yield* failure(readAll(file))
      expect(error.line).toBe(3)
      expect(error.message).toContain("not closed")
    })
  )
})

describe("Csv streaming", () => {
  it.effect("yields the first batch long before the whole file is read", () =>
    Effect.gen(function* () {
      const rows = Array.from({ length: 400_000 }, (_, i) => `${i},v${i % 1000}`)
      const file = temp.write("big.csv", ["id,value", ...rows].join("\n") + "\n")
      const local = yield* localFileInput(file, { chunkBytes: 64 * 1024 })
      let bytesRead = 0
      const counted: FileInput = {
        ...local,
        stream: () => local.stream().pipe(Stream.tap((chunk) => Effect.sync(() => (bytesRead += chunk.length))))
      }
      const columns = yield* Csv.inspect(counted, defaults, noDeclared)
      bytesRead = 0
      const first = yield* collect(Csv.decode(counted, columns, defaults).pipe(Stream.take(1)))
      expect(first[0]!.numRows).toBe(65_536)
      expect(bytesRead).toBeLessThan(local.size / 3)
    })
  )
})
