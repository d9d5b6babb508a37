import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import { BatchBuilder } from "../../../core/Batch.js"
import type { FormatError } from "../../../core/Errors.js"
import type { Column, LogicalType } from "../../../core/Types.js"
import { daysFromCivil } from "../../../core/Values.js"
import type { FileInput } from "../../../sinks/formats/Format.js"
import { Jsonl } from "../../../sinks/formats/Jsonl.js"
import { localFileInput } from "../../../sinks/formats/LocalFileInput.js"
import { allTypeColumns, allTypeRows, allTypesBatch, collect, rowsOf, tempDir, writeStream } from "./AllTypes.js"

const temp = tempDir("ferry-jsonl-")
afterAll(() => temp.remove())

const options = {}
const noDeclared = new Map<string, LogicalType>()

const readAll = (file: string, declared = noDeclared) =>
  Effect.gen(function* () {
    const input = yield* localFileInput(file)
    const columns = yield* Jsonl.inspect(input, options, declared)
    const batches = yield* collect(Jsonl.decode(input, columns, options))
    return { columns, rows: rowsOf(columns, batches) }
  })

const typesOf = (columns: ReadonlyArray<Column>) => Object.fromEntries(columns.map((c) => [c.name, c.type]))

const failure = <A>(effect: Effect.Effect<A, unknown>) =>
  Effect.flip(effect).pipe(Effect.map((error) => error as FormatError))

describe("Jsonl round trip", () => {
  it.effect("carries every logical type exactly", () =>
    Effect.gen(function* () {
      const file = temp.file("all-types.jsonl")
      yield* writeStream(file, Jsonl.encode(allTypeColumns, Stream.make(allTypesBatch()), options))
      const declared = new Map(allTypeColumns.map((c) => [c.name, c.type]))
      const { columns, rows } = yield* readAll(file, declared)
      expect(columns).toEqual(allTypeColumns)
      expect(rows).toEqual(allTypeRows())
    })
  )

  it.effect("writes exact numbers, special floats as strings, ISO dates, embedded JSON and arrays", () =>
    Effect.gen(function* () {
      const columns: ReadonlyArray<Column> = [
        { name: "id", type: { kind: "int64" }, nullable: true },
        { name: "amount", type: { kind: "decimal", precision: 38, scale: 2 }, nullable: true },
        { name: "ratio", type: { kind: "float64" }, nullable: true },
        { name: "day", type: { kind: "date" }, nullable: true },
        { name: "at", type: { kind: "timestamp", unit: "us", timeZone: "UTC" }, nullable: true },
        { name: "raw", type: { kind: "binary" }, nullable: true },
        { name: "doc", type: { kind: "json" }, nullable: true },
        { name: "tags", type: { kind: "list", element: { kind: "int64" } }, nullable: true },
        { name: "note", type: { kind: "utf8" }, nullable: true }
      ]
      const builder = new BatchBuilder(columns)
      builder.appendRow([
        9_007_199_254_740_993n,
        123456789012345678901234567890123456n,
        NaN,
        daysFromCivil(1969, 7, 20),
        1_000_000n,
        new Uint8Array([1, 171]),
        '{\n  "n": 12345678901234567890\n}',
        [2n ** 63n - 1n, null],
        'a "quoted"\nline'
      ])
      builder.appendRow([null, -5n, -Infinity, null, null, null, null, null, null])
      const file = temp.file("written.jsonl")
      yield* writeStream(file, Jsonl.encode(columns, Stream.make(builder.finish()), options))
      expect(fs.readFileSync(file, "utf8")).toBe(
        '{"id":9007199254740993,"amount":1234567890123456789012345678901234.56,"ratio":"NaN","day":"1969-07-20",' +
          '"at":"1970-01-01T00:00:01Z","raw":"\\\\x01ab","doc":{   "n": 12345678901234567890 },' +
          '"tags":[9223372036854775807,null],"note":"a \\"quoted\\"\\nline"}\n' +
          '{"id":null,"amount":-0.05,"ratio":"-Infinity","day":null,"at":null,"raw":null,"doc":null,"tags":null,"note":null}\n'
      )
    })
  )
})

describe("Jsonl reading", () => {
  it.effect("infers types, reads missing keys as NULL, and keeps integers beyond 2^53 exact", () =>
    Effect.gen(function* () {
      const file = temp.write(
        "infer.jsonl",
        [
          '{"id":9007199254740993,"price":1.5,"ok":true,"name":"a","tags":[1,2],"meta":{"k":1},"big":123456789012345678901234567890}',
          '{"id":-9223372036854775808,"price":2,"ok":false,"name":"b","mixed":1}',
          "",
          '{"id":1,"price":1e3,"mixed":"x","late":null}'
        ].join("\n")
      )
      const { columns, rows } = yield* readAll(file)
      expect(typesOf(columns)).toEqual({
        id: { kind: "int64" },
        price: { kind: "float64" },
        ok: { kind: "bool" },
        name: { kind: "utf8" },
        tags: { kind: "json" },
        meta: { kind: "json" },
        big: { kind: "decimal", precision: 38, scale: 0 },
        mixed: { kind: "json" },
        late: { kind: "utf8" }
      })
      expect(rows).toEqual([
        [9_007_199_254_740_993n, 1.5, true, "a", "[1,2]", '{"k":1}', 123456789012345678901234567890n, null, null],
        [-(2n ** 63n), 2, false, "b", null, null, null, "1", null],
        [1n, 1000, null, null, null, null, null, '"x"', null]
      ])
    })
  )

  it.effect("reads declared dates and timestamps from strings and big numbers from quoted strings", () =>
    Effect.gen(function* () {
      const file = temp.write(
        "declared.jsonl",
        '\uFEFF{"day":"2024-02-29","at":"2024-02-29T10:00:00+02:00","amount":"12345678901234567890.5"}\r\n'
      )
      const declared = new Map<string, LogicalType>([
        ["day", { kind: "date" }],
        ["at", { kind: "timestamp", unit: "us", timeZone: "UTC" }],
        ["amount", { kind: "decimal", precision: 38, scale: 1 }]
      ])
      const { rows } = yield* readAll(file, declared)
      expect(rows).toEqual([[daysFromCivil(2024, 2, 29), 1_709_193_600_000_000n, 123456789012345678905n]])
    })
  )

  it.effect("ignores keys that first appear after the sample", () =>
    Effect.gen(function* () {
      const lines = Array.from({ length: 10_000 }, (_, i) => `{"n":${i}}`)
      const file = temp.write("late-key.jsonl", [...lines, '{"n":10000,"late":"x"}'].join("\n") + "\n")
      const { columns, rows } = yield* readAll(file)
      expect(columns.map((c) => c.name)).toEqual(["n"])
      expect(rows.at(-1)).toEqual([10_000n])
    })
  )
})

describe("Jsonl errors", () => {
  it.effect("names the file and line of a malformed line", () =>
    Effect.gen(function* () {
      const file = temp.write("broken.jsonl", '{"a":1}\n{"a":2}\n{"a":3,}\n')
      const input = yield* localFileInput(file)
      const columns: ReadonlyArray<Column> = [{ name: "a", type: { kind: "int64" }, nullable: true }]
      const error = yield* failure(collect(Jsonl.decode(input, columns, options)))
      expect([error.file, error.line]).toEqual([file, 3])
      expect(error.message).toContain(`${file}:3: not a JSON object`)
      const inspected = yield* failure(Jsonl.inspect(input, options, noDeclared))
      expect(inspected.line).toBe(3)
    })
  )

  it.effect("refuses bytes that are not UTF-8", () =>
    Effect.gen(function* () {
      const file = temp.write(
        "latin1.jsonl",
        Buffer.concat([Buffer.from('{"a":"ok"}\n{"a":"caf'), Buffer.from([0xe9]), Buffer.from('"}\n')])
      )
      const error = yield* failure(readAll(file))
      expect(error.message).toContain("not valid UTF-8")
    })
  )

  it.effect("names the file, line and column of a value of the wrong type", () =>
    Effect.gen(function* () {
      const file = temp.write("wrong.jsonl", '{"a":1}\n{"a":"x1"}\n')
      const input = yield* localFileInput(file)
      const columns: ReadonlyArray<Column> = [{ name: "a", type: { kind: "int64" }, nullable: true }]
      const error = yield* failure(collect(Jsonl.decode(input, columns, options)))
      expect([error.line, error.column]).toEqual([2, "a"])
      expect(error.message).toBe(`${file}:2: column "a": "x1" is not an integer`)
    })
  )
})

describe("Jsonl streaming", () => {
  it.effect("yields the first batch long before the whole file is read", () =>
    Effect.gen(function* () {
      const lines = Array.from({ length: 300_000 }, (_, i) => `{"id":${i},"v":"v${i % 1000}"}`)
      const file = temp.write("big.jsonl", lines.join("\n") + "\n")
      const local = yield* localFileInput(file, { chunkBytes: 64 * 1024 })
      let bytesRead = 0
      const counted: FileInput = {
        ...local,
        stream: () => local.stream().pipe(Stream.tap((chunk) => Effect.sync(() => (bytesRead += chunk.length))))
      }
      const columns = yield* Jsonl.inspect(counted, options, noDeclared)
      bytesRead = 0
      const first = yield* collect(Jsonl.decode(counted, columns, options).pipe(Stream.take(1)))
      expect(first[0]!.numRows).toBe(65_536)
      expect(bytesRead).toBeLessThan(local.size / 3)
    })
  )
})
