import { DuckDBInstance } from "@duckdb/node-api"
import type { DuckDBConnection } from "@duckdb/node-api"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Arrow from "apache-arrow"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as ParquetWasm from "parquet-wasm"
import type { Batch } from "../../../core/Batch.js"
import { BatchBuilder, batchReaders } from "../../../core/Batch.js"
import { FormatError, SourceError } from "../../../core/Errors.js"
import type { Column } from "../../../core/Types.js"
import { EXTENSION_NAME_KEY, JSON_EXTENSION, typeName, UUID_EXTENSION } from "../../../core/Types.js"
import type { Value } from "../../../core/Values.js"
import type { FileInput } from "../../../sinks/formats/Format.js"
import { localFileInput } from "../../../sinks/formats/LocalFileInput.js"
import type { ParquetOptions } from "../../../sinks/formats/Options.js"
import { encodeOn, Parquet } from "../../../sinks/formats/Parquet.js"

type Row = ReadonlyArray<Value | null>

const snappy: ParquetOptions = { compression: "snappy", row_group_rows: 131_072 }

let directory: string
let duck: DuckDBConnection

beforeAll(async () => {
  directory = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-parquet-test-"))
  duck = await (await DuckDBInstance.create(":memory:")).connect()
  await duck.run("SET TimeZone = 'UTC'")
})

afterAll(() => {
  duck.closeSync()
  fs.rmSync(directory, { recursive: true, force: true })
})

const file = (name: string) => path.join(directory, name)

const batchOf = (columns: ReadonlyArray<Column>, rows: ReadonlyArray<Row>): Batch => {
  const builder = new BatchBuilder(columns)
  for (const row of rows) builder.appendRow(row)
  return builder.finish()
}

const write = <E>(target: string, columns: ReadonlyArray<Column>, batches: Stream.Stream<Batch, E>, options = snappy) =>
  Stream.runCollect(Parquet.encode(columns, batches, options)).pipe(
    Effect.map((chunks) => fs.writeFileSync(target, Buffer.concat(Chunk.toArray(chunks))))
  )

const rowsOf = (columns: ReadonlyArray<Column>, batches: Iterable<Batch>): Array<Row> => {
  const rows: Array<Row> = []
  for (const batch of batches) {
    expect(batch.schema.fields.map((field) => field.name)).toEqual(columns.map((column) => column.name))
    const readers = batchReaders(columns, batch)
    for (let i = 0; i < batch.numRows; i++) rows.push(readers.map((read) => read(i)))
  }
  return rows
}

const read = (input: FileInput, columns: ReadonlyArray<Column>) =>
  Effect.map(Stream.runCollect(Parquet.decode(input, columns, snappy)), (batches) => rowsOf(columns, batches))

const query = (sql: string) => Effect.promise(async () => (await duck.runAndReadAll(sql)).getRowObjectsJson())

const describeTypes = (target: string) =>
  Effect.map(query(`DESCRIBE SELECT * FROM '${target}'`), (rows) =>
    Object.fromEntries(rows.map((row) => [row["column_name"], row["column_type"]]))
  )

const failure = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.flatMap(Effect.either(effect), (result) =>
    Either.isLeft(result) ? Effect.succeed(result.left) : Effect.dieMessage("expected a failure")
  )

// ---- every logical type -------------------------------------------------------------

const allTypes: ReadonlyArray<Column> = [
  { name: "id", type: { kind: "int64" }, nullable: false },
  { name: "i8", type: { kind: "int8" }, nullable: true },
  { name: "i16", type: { kind: "int16" }, nullable: true },
  { name: "i32", type: { kind: "int32" }, nullable: true },
  { name: "i64", type: { kind: "int64" }, nullable: true },
  { name: "f32", type: { kind: "float32" }, nullable: true },
  { name: "f64", type: { kind: "float64" }, nullable: true },
  { name: "dec38", type: { kind: "decimal", precision: 38, scale: 10 }, nullable: true },
  { name: "dec18", type: { kind: "decimal", precision: 18, scale: 4 }, nullable: true },
  { name: "dec9", type: { kind: "decimal", precision: 9, scale: 3 }, nullable: true },
  { name: "flag", type: { kind: "bool" }, nullable: true },
  { name: "text", type: { kind: "utf8" }, nullable: true },
  { name: "bytes", type: { kind: "binary" }, nullable: true },
  { name: "doc", type: { kind: "json" }, nullable: true },
  { name: "uid", type: { kind: "uuid" }, nullable: true },
  { name: "day", type: { kind: "date" }, nullable: true },
  { name: "clock", type: { kind: "time", unit: "us" }, nullable: true },
  { name: "ts_s", type: { kind: "timestamp", unit: "s", timeZone: null }, nullable: true },
  { name: "ts_ms", type: { kind: "timestamp", unit: "ms", timeZone: null }, nullable: true },
  { name: "ts_us_utc", type: { kind: "timestamp", unit: "us", timeZone: "UTC" }, nullable: true },
  { name: "ts_ns_paris", type: { kind: "timestamp", unit: "ns", timeZone: "Europe/Paris" }, nullable: true },
  { name: "ints", type: { kind: "list", element: { kind: "int32" } }, nullable: true },
  { name: "words", type: { kind: "list", element: { kind: "utf8" } }, nullable: true }
]

const DECIMAL38_MAX = 10n ** 38n - 1n
const INT64_MAX = 2n ** 63n - 1n
const INT64_MIN = -(2n ** 63n)

const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i)

const extremes: ReadonlyArray<Row> = [
  [
    0n,
    -128,
    -32768,
    -2147483648,
    INT64_MIN,
    -3.4028234663852886e38,
    -Infinity,
    -DECIMAL38_MAX,
    -(10n ** 18n - 1n),
    -999_999_999n,
    false,
    "",
    new Uint8Array(0),
    '{"a":[1,2,{"b":null}],"ü":"✓"}',
    "00000000-0000-0000-0000-000000000000",
    -719_162, // 0001-01-01
    0n,
    -62_135_596_800n, // 0001-01-01T00:00:00
    -1n,
    -62_135_596_800_000_000n,
    -(2n ** 63n) + 1n,
    [-2147483648, null, 2147483647],
    ["", null, "Zürich"]
  ],
  [
    1n,
    127,
    32767,
    2147483647,
    INT64_MAX,
    Math.fround(0.1),
    Infinity,
    DECIMAL38_MAX,
    10n ** 18n - 1n,
    999_999_999n,
    true,
    "Zürich 東京 🚀 \u0000 end",
    allBytes,
    '"just a string"',
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    2_932_896, // 9999-12-31
    86_399_999_999n,
    253_402_300_799n, // 9999-12-31T23:59:59
    8_000_000_000_000n,
    253_402_300_799_999_999n,
    INT64_MAX,
    [],
    []
  ],
  [
    2n,
    0,
    0,
    0,
    0n,
    -0,
    NaN,
    0n,
    1n,
    -1n,
    null,
    null,
    null,
    null,
    "0190a6c6-1234-7abc-8def-0123456789ab",
    -1,
    1n,
    -1n,
    -1_000n,
    -1n,
    -1n,
    null,
    null
  ],
  allTypes.map((column) => (column.name === "id" ? 3n : null))
]

describe("Parquet", () => {
  it.effect("round-trips every logical type with its extremes, value by value", () =>
    Effect.gen(function* () {
      const target = file("all-types.parquet")
      yield* write(target, allTypes, Stream.make(batchOf(allTypes, extremes)))
      const input = yield* localFileInput(target)
      const inspected = yield* Parquet.inspect(input, snappy, new Map())
      expect(inspected).toEqual(allTypes)
      expect(yield* read(input, allTypes)).toEqual(extremes)
    })
  )

  it.effect("keeps the extension names of JSON and UUID columns in the file's Arrow schema", () =>
    Effect.gen(function* () {
      const target = file("extensions.parquet")
      const columns = allTypes.filter((column) => column.name === "doc" || column.name === "uid")
      yield* write(
        target,
        columns,
        Stream.make(batchOf(columns, [['{"k":1}', "0190a6c6-1234-7abc-8def-0123456789ab"]]))
      )
      const [batch] = yield* Stream.runCollect(Parquet.decode(yield* localFileInput(target), columns, snappy))
      expect(batch!.schema.fields.map((field) => field.metadata.get(EXTENSION_NAME_KEY))).toEqual([
        JSON_EXTENSION,
        UUID_EXTENSION
      ])
    })
  )

  it.effect("writes snappy and zstd, each round-tripping", () =>
    Effect.gen(function* () {
      for (const compression of ["snappy", "zstd", "none"] as const) {
        const target = file(`codec-${compression}.parquet`)
        yield* write(target, allTypes, Stream.make(batchOf(allTypes, extremes)), { ...snappy, compression })
        const codecs = yield* query(`SELECT DISTINCT compression FROM parquet_metadata('${target}')`)
        expect(codecs.map((row) => row["compression"])).toEqual([
          compression === "none" ? "UNCOMPRESSED" : compression.toUpperCase()
        ])
        expect(yield* read(yield* localFileInput(target), allTypes)).toEqual(extremes)
      }
    })
  )

  it.effect("writes files DuckDB reads with the right SQL types and values", () =>
    Effect.gen(function* () {
      const target = file("for-duckdb.parquet")
      yield* write(target, allTypes, Stream.make(batchOf(allTypes, extremes.slice(0, 2))))
      expect(yield* describeTypes(target)).toMatchObject({
        id: "BIGINT",
        i8: "TINYINT",
        i16: "SMALLINT",
        i32: "INTEGER",
        i64: "BIGINT",
        f32: "FLOAT",
        f64: "DOUBLE",
        dec38: "DECIMAL(38,10)",
        dec18: "DECIMAL(18,4)",
        dec9: "DECIMAL(9,3)",
        flag: "BOOLEAN",
        text: "VARCHAR",
        bytes: "BLOB",
        doc: "JSON",
        uid: "UUID",
        day: "DATE",
        clock: "TIME",
        ts_us_utc: "TIMESTAMP WITH TIME ZONE",
        ts_ns_paris: "TIMESTAMP WITH TIME ZONE",
        ints: "INTEGER[]",
        words: "VARCHAR[]"
      })
      const rows = yield* query(
        `SELECT i64::VARCHAR AS i64, dec38::VARCHAR AS dec38, dec9::VARCHAR AS dec9, text, day::VARCHAR AS day,
                clock::VARCHAR AS clock, epoch_us(ts_us_utc)::VARCHAR AS ts_us, ts_ms::VARCHAR AS ts_ms,
                ints::VARCHAR AS ints, octet_length(bytes) AS bytes, uid::VARCHAR AS uid, doc->>'$.ü' AS doc
         FROM '${target}' ORDER BY id`
      )
      expect(rows).toEqual([
        {
          i64: "-9223372036854775808",
          dec38: "-9999999999999999999999999999.9999999999",
          dec9: "-999999.999",
          text: "",
          day: "0001-01-01",
          clock: "00:00:00",
          ts_us: "-62135596800000000",
          ts_ms: "1969-12-31 23:59:59.999",
          ints: "[-2147483648, NULL, 2147483647]",
          bytes: "0",
          uid: "00000000-0000-0000-0000-000000000000",
          doc: "✓"
        },
        {
          i64: "9223372036854775807",
          dec38: "9999999999999999999999999999.9999999999",
          dec9: "999999.999",
          text: "Zürich 東京 🚀 \u0000 end",
          day: "9999-12-31",
          clock: "23:59:59.999999",
          ts_us: "253402300799999999",
          ts_ms: "2223-07-06 14:13:20",
          ints: "[]",
          bytes: "256",
          uid: "ffffffff-ffff-ffff-ffff-ffffffffffff",
          doc: null
        }
      ])
    })
  )

  it.effect("stores timestamp(s) as milliseconds other readers understand, and reads seconds back", () =>
    Effect.gen(function* () {
      const target = file("seconds.parquet")
      const columns: ReadonlyArray<Column> = [
        { name: "at", type: { kind: "timestamp", unit: "s", timeZone: "Europe/Paris" }, nullable: true },
        {
          name: "ats",
          type: { kind: "list", element: { kind: "timestamp", unit: "s", timeZone: null } },
          nullable: true
        }
      ]
      const rows: ReadonlyArray<Row> = [
        [-62_135_596_800n, [0n, null, 253_402_300_799n]],
        [null, null],
        [1_700_000_000n, []]
      ]
      yield* write(target, columns, Stream.make(batchOf(columns, rows).slice(0, 3)))
      expect(yield* describeTypes(target)).toEqual({ at: "TIMESTAMP WITH TIME ZONE", ats: "TIMESTAMP[]" })
      const seen = yield* query(`SELECT epoch("at")::BIGINT::VARCHAR AS "at", ats::VARCHAR AS ats FROM '${target}'`)
      expect(seen[0]).toEqual({ at: "-62135596800", ats: "['1970-01-01 00:00:00', NULL, '9999-12-31 23:59:59']" })
      const input = yield* localFileInput(target)
      expect(yield* Parquet.inspect(input, snappy, new Map())).toEqual(columns)
      expect(yield* read(input, columns)).toEqual(rows)

      const tooFar = batchOf(columns, [[2n ** 62n, null]])
      const error = yield* failure(write(file("seconds-overflow.parquet"), columns, Stream.make(tooFar)))
      expect(error).toMatchObject({ _tag: "FormatError", column: "at" })
    })
  )

  it.effect("reads a file DuckDB wrote, exactly, and names a column whose type Ferry does not carry", () =>
    Effect.gen(function* () {
      const target = file("from-duckdb.parquet")
      yield* Effect.promise(() =>
        duck.run(`COPY (
          SELECT * FROM (VALUES
            (9223372036854775807::BIGINT, 9999999999999999999999999999.9999999999::DECIMAL(38,10), 1234567890.12::DECIMAL(12,2),
             'Kraków'::VARCHAR, '\\x00\\xFF'::BLOB, DATE '0001-01-01', TIME '23:59:59.999999',
             TIMESTAMPTZ '1900-01-01 00:00:00.000001+00', TIMESTAMP_NS '2000-01-01 00:00:00.123456789',
             'nan'::DOUBLE, [1, NULL, 3]::INTEGER[], true, (-128)::TINYINT,
             'eeee6f6f-0000-4000-8000-0000000000ff'::UUID, '{"a": [1, 2]}'::JSON, 4294967295::UINTEGER),
            (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
          ) AS t(big, dec38, dec12, text, bytes, day, clock, stamp, stamp_ns, ratio, ints, flag, tiny, uid, doc, unsigned)
        ) TO '${target}' (FORMAT parquet)`)
      )
      const input = yield* localFileInput(target)
      const refused = yield* failure(Parquet.inspect(input, snappy, new Map()))
      expect(refused).toBeInstanceOf(FormatError)
      expect(refused).toMatchObject({ file: target, column: "unsigned" })

      const columns: ReadonlyArray<Column> = [
        { name: "big", type: { kind: "int64" }, nullable: true },
        { name: "dec38", type: { kind: "decimal", precision: 38, scale: 10 }, nullable: true },
        { name: "dec12", type: { kind: "decimal", precision: 12, scale: 2 }, nullable: true },
        { name: "text", type: { kind: "utf8" }, nullable: true },
        { name: "bytes", type: { kind: "binary" }, nullable: true },
        { name: "day", type: { kind: "date" }, nullable: true },
        { name: "clock", type: { kind: "time", unit: "us" }, nullable: true },
        { name: "stamp", type: { kind: "timestamp", unit: "us", timeZone: "UTC" }, nullable: true },
        { name: "stamp_ns", type: { kind: "timestamp", unit: "ns", timeZone: null }, nullable: true },
        { name: "ratio", type: { kind: "float64" }, nullable: true },
        { name: "ints", type: { kind: "list", element: { kind: "int32" } }, nullable: true },
        { name: "flag", type: { kind: "bool" }, nullable: true },
        { name: "tiny", type: { kind: "int8" }, nullable: true },
        { name: "uid", type: { kind: "uuid" }, nullable: true },
        { name: "doc", type: { kind: "json" }, nullable: true }
      ]
      // Every column but the refused one reads, since a read decodes only the columns asked for.
      expect(yield* read(input, columns)).toEqual([
        [
          INT64_MAX,
          DECIMAL38_MAX,
          123_456_789_012n,
          "Kraków",
          new Uint8Array([0, 255]),
          -719_162,
          86_399_999_999n,
          -2_208_988_799_999_999n,
          946_684_800_123_456_789n,
          NaN,
          [1, null, 3],
          true,
          -128,
          "eeee6f6f-0000-4000-8000-0000000000ff",
          '{"a": [1, 2]}'
        ],
        columns.map(() => null)
      ])
    })
  )

  it.effect("converts the large strings and dictionaries other writers produce", () =>
    Effect.gen(function* () {
      const target = file("foreign-arrow.parquet")
      const table = new Arrow.Table({
        large: Arrow.vectorFromArray(["ä", null, "long text"], new Arrow.LargeUtf8()),
        category: Arrow.vectorFromArray(
          ["red", "blue", null],
          new Arrow.Dictionary(new Arrow.Utf8(), new Arrow.Int32())
        ),
        tags: Arrow.vectorFromArray(
          [["x", null], null, []],
          new Arrow.List(new Arrow.Field("item", new Arrow.LargeUtf8(), true))
        )
      })
      const wasmTable = ParquetWasm.Table.fromIPCStream(Arrow.tableToIPC(table, "stream"))
      fs.writeFileSync(target, ParquetWasm.writeParquet(wasmTable))
      const input = yield* localFileInput(target)
      const columns = yield* Parquet.inspect(input, snappy, new Map())
      expect(columns.map((column) => [column.name, typeName(column.type)])).toEqual([
        ["large", "utf8"],
        ["category", "utf8"],
        ["tags", "list<utf8>"]
      ])
      expect(yield* read(input, columns)).toEqual([
        ["ä", "red", ["x", null]],
        [null, "blue", null],
        ["long text", null, []]
      ])
    })
  )

  it.effect("reads only the requested columns, in the requested order", () =>
    Effect.gen(function* () {
      const target = file("projection.parquet")
      yield* write(target, allTypes, Stream.make(batchOf(allTypes, extremes)))
      const wanted = ["ts_ns_paris", "id", "dec38"].map((name) => allTypes.find((column) => column.name === name)!)
      const rows = yield* read(yield* localFileInput(target), wanted)
      expect(rows).toEqual(extremes.map((row) => [row[20], row[0], row[7]]))
    })
  )

  it.effect("writes one row group per row_group_rows as batches arrive, and reads them back in order", () =>
    Effect.gen(function* () {
      const target = file("row-groups.parquet")
      const columns: ReadonlyArray<Column> = [
        { name: "n", type: { kind: "int64" }, nullable: false },
        { name: "label", type: { kind: "utf8" }, nullable: true }
      ]
      const batchRows = 700
      const total = 7_000
      let pulled = 0
      const batches = Stream.range(0, total / batchRows - 1).pipe(
        Stream.rechunk(1),
        Stream.map((b) => {
          pulled++
          return batchOf(
            columns,
            Array.from({ length: batchRows }, (_, i) => [BigInt(b * batchRows + i), `row ${b * batchRows + i}`])
          )
        })
      )
      const pulledAtChunk: Array<number> = []
      const chunks = yield* Stream.runCollect(
        Parquet.encode(columns, batches, { compression: "zstd", row_group_rows: 1_000 }).pipe(
          Stream.tap(() => Effect.sync(() => pulledAtChunk.push(pulled)))
        )
      )
      fs.writeFileSync(target, Buffer.concat(Chunk.toArray(chunks)))
      // Bytes of the first row groups reached the consumer before the last batch was even pulled.
      expect(pulledAtChunk[0]).toBeLessThan(total / batchRows)
      const groups = yield* query(
        `SELECT DISTINCT row_group_id, row_group_num_rows FROM parquet_metadata('${target}') ORDER BY row_group_id`
      )
      expect(groups.map((group) => group["row_group_num_rows"])).toEqual(Array.from({ length: 7 }, () => "1000"))
      const rows = yield* read(yield* localFileInput(target), columns)
      expect(rows.map((row) => row[0])).toEqual(Array.from({ length: total }, (_, i) => BigInt(i)))
      expect(rows[6_999]![1]).toBe("row 6999")
    })
  )

  it.effect("spools a file that is not on the local disk, and removes the copy", () =>
    Effect.gen(function* () {
      const target = file("remote.parquet")
      yield* write(target, allTypes, Stream.make(batchOf(allTypes, extremes)))
      const { localPath: _, ...remote } = yield* localFileInput(target)
      const spools = () => fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith("ferry-parquet-")).length
      const before = spools()
      expect(yield* Parquet.inspect(remote, snappy, new Map())).toEqual(allTypes)
      expect(yield* read(remote, allTypes)).toEqual(extremes)
      expect(spools()).toBe(before)
    })
  )

  it.effect("writes a file without rows that still declares its columns", () =>
    Effect.gen(function* () {
      const target = file("empty.parquet")
      yield* write(target, allTypes, Stream.empty)
      const input = yield* localFileInput(target)
      expect(yield* Parquet.inspect(input, snappy, new Map())).toEqual(allTypes)
      expect(yield* read(input, allTypes)).toEqual([])
      expect(yield* describeTypes(target)).toMatchObject({ dec38: "DECIMAL(38,10)" })
    })
  )

  it.effect("keeps pulling past empty chunks and batches without rows", () =>
    Effect.gen(function* () {
      const target = file("sparse.parquet")
      const batches = Stream.fromChunks(
        Chunk.empty<Batch>(),
        Chunk.of(batchOf(allTypes, [])),
        Chunk.empty<Batch>(),
        Chunk.of(batchOf(allTypes, extremes))
      )
      yield* write(target, allTypes, batches)
      expect(yield* read(yield* localFileInput(target), allTypes)).toEqual(extremes)
    })
  )

  it.effect("fails with the upstream error and writes no footer after it", () =>
    Effect.gen(function* () {
      const boom = new SourceError({ store: "sales-db", message: "connection reset" })
      const emitted: Array<Uint8Array> = []
      const error = yield* failure(
        Stream.runForEach(
          Parquet.encode(allTypes, Stream.concat(Stream.make(batchOf(allTypes, extremes)), Stream.fail(boom)), snappy),
          (bytes) => Effect.sync(() => emitted.push(bytes))
        )
      )
      expect(error).toBe(boom)
      const written = Buffer.concat(emitted)
      expect(written.subarray(written.length - 4).toString()).not.toBe("PAR1")
    })
  )

  it.effect("refuses a batch whose columns differ from the declared ones", () =>
    Effect.gen(function* () {
      const other: ReadonlyArray<Column> = [{ name: "id", type: { kind: "int32" }, nullable: false }]
      const error = yield* failure(write(file("mismatch.parquet"), allTypes, Stream.make(batchOf(other, [[1]]))))
      expect(error).toBeInstanceOf(FormatError)
      expect((error as FormatError).message).toContain("id int32")
    })
  )

  it.effect("refuses nulls in a column declared not nullable, which the writer would drop silently", () =>
    Effect.gen(function* () {
      const nullable: ReadonlyArray<Column> = [{ name: "id", type: { kind: "int64" }, nullable: true }]
      const required: ReadonlyArray<Column> = [{ name: "id", type: { kind: "int64" }, nullable: false }]
      const batch = batchOf(nullable, [[1n], [null]])
      const aligned = new Arrow.RecordBatch(
        new Arrow.Schema([new Arrow.Field("id", new Arrow.Int64(), false)]),
        batch.data
      )
      const error = yield* failure(write(file("nulls.parquet"), required, Stream.make(aligned)))
      expect(error).toMatchObject({ _tag: "FormatError", column: "id" })
    })
  )

  it.effect("refuses declared types that differ from the file's, naming the column", () =>
    Effect.gen(function* () {
      const target = file("declared.parquet")
      yield* write(target, allTypes, Stream.make(batchOf(allTypes, extremes)))
      const input = yield* localFileInput(target)
      const error = yield* failure(Parquet.inspect(input, snappy, new Map([["dec38", { kind: "float64" }]])))
      expect(error).toMatchObject({ _tag: "FormatError", file: target, column: "dec38" })
      expect(error.message).toContain("decimal(38,10)")
      expect(yield* Parquet.inspect(input, snappy, new Map([["dec38", allTypes[7]!.type]]))).toEqual(allTypes)
    })
  )

  it.effect("names the file when it is truncated or not Parquet at all", () =>
    Effect.gen(function* () {
      const good = file("good.parquet")
      yield* write(good, allTypes, Stream.make(batchOf(allTypes, extremes)))
      const bytes = fs.readFileSync(good)
      const cases = {
        "truncated.parquet": bytes.subarray(0, bytes.length - 100),
        "headless.parquet": bytes.subarray(200),
        "text.parquet": Buffer.from("id,name\n1,Ada\n"),
        "zero.parquet": Buffer.alloc(0)
      }
      for (const [name, content] of Object.entries(cases)) {
        const target = file(name)
        fs.writeFileSync(target, content)
        const input = yield* localFileInput(target)
        const inspected = yield* failure(Parquet.inspect(input, snappy, new Map()))
        expect(inspected).toMatchObject({ _tag: "FormatError", format: "parquet", file: target })
        const decoded = yield* failure(Stream.runDrain(Parquet.decode(input, allTypes, snappy)))
        expect(decoded).toMatchObject({ _tag: "FormatError", file: target })
      }
    })
  )
})

describe("Parquet encoding threads", () => {
  const many = (count: number): ReadonlyArray<Batch> =>
    Array.from({ length: count }, (_, b) =>
      batchOf(
        allTypes,
        extremes.map((row, i) => row.map((value, c) => (c === 0 && value !== null ? BigInt(b * 100 + i) : value)))
      )
    )
  const bytesOn = (thread: "worker" | "this thread", batches: ReadonlyArray<Batch>, options = snappy) =>
    Effect.map(Stream.runCollect(encodeOn(thread, allTypes, Stream.fromIterable(batches), options)), (chunks) =>
      Buffer.concat(Chunk.toArray(chunks))
    )

  it.effect("writes the same bytes on a worker thread as on this one", () =>
    Effect.gen(function* () {
      for (const batches of [many(12), [batchOf(allTypes, [])], []]) {
        const options = { compression: "zstd", row_group_rows: 1_000 } as const
        const onWorker = yield* bytesOn("worker", batches, options)
        expect(onWorker.equals(yield* bytesOn("this thread", batches, options))).toBe(true)
      }
      const target = file("on-worker.parquet")
      fs.writeFileSync(target, yield* bytesOn("worker", many(3)))
      expect((yield* read(yield* localFileInput(target), allTypes)).length).toBe(3 * extremes.length)
    })
  )

  it.effect(
    "batches of different sizes, each joined into the buffer of the one before when it fits, all come back",
    () =>
      Effect.gen(function* () {
        // Large, small, large: the small batch is written into the large one's buffer, and the
        // last needs a larger buffer than any before.
        const sized = (count: number, first: number): Batch =>
          batchOf(
            allTypes,
            Array.from({ length: count }, (_, i) =>
              extremes[i % extremes.length]!.map((value, c) => (c === 0 ? BigInt(first + i) : value))
            )
          )
        const batches = [sized(400, 0), sized(3, 1_000), sized(50, 2_000), sized(900, 3_000)]
        for (const thread of ["worker", "this thread"] as const) {
          const target = file(`sizes-${thread.replace(" ", "-")}.parquet`)
          fs.writeFileSync(target, yield* bytesOn(thread, batches))
          expect(yield* read(yield* localFileInput(target), allTypes)).toEqual(rowsOf(allTypes, batches))
        }
      })
  )

  it.effect("on a worker, an upstream failure ends the file without a footer, and a bad batch is refused", () =>
    Effect.gen(function* () {
      const boom = new SourceError({ store: "sales-db", message: "connection reset" })
      const emitted: Array<Uint8Array> = []
      const upstream = Stream.concat(Stream.fromIterable(many(4)), Stream.fail(boom))
      const error = yield* failure(
        Stream.runForEach(encodeOn("worker", allTypes, upstream, snappy), (bytes) =>
          Effect.sync(() => emitted.push(bytes))
        )
      )
      expect(error).toBe(boom)
      const written = Buffer.concat(emitted)
      expect(written.subarray(written.length - 4).toString()).not.toBe("PAR1")
      const other: ReadonlyArray<Column> = [{ name: "id", type: { kind: "int32" }, nullable: false }]
      const mismatch = yield* failure(
        Stream.runDrain(encodeOn("worker", allTypes, Stream.make(batchOf(other, [[1]])), snappy))
      )
      expect(mismatch).toBeInstanceOf(FormatError)
    })
  )
})
