/**
 * Rows per second of the CSV and JSON Lines formats on 1M mixed rows (int64, float64,
 * decimal(12,2), utf8, date, timestamp), both ways, through real files, and the
 * library baselines behind the choices in docs/formats.md.
 *
 *   npx tsx benchmarks/text-formats.ts [rows]
 */
import { Parser } from "csv-parse"
import { stringify } from "csv-stringify/sync"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { Batch } from "../core/Batch.js"
import { BatchBuilder, batchReaders } from "../core/Batch.js"
import type { Column, LogicalType } from "../core/Types.js"
import { formatText } from "../core/Values.js"
import { Csv } from "../sinks/formats/Csv.js"
import type { TableFormat } from "../sinks/formats/Format.js"
import { Jsonl } from "../sinks/formats/Jsonl.js"
import { localFileInput } from "../sinks/formats/LocalFileInput.js"

const ROWS = Number(process.argv[2] ?? 1_000_000)
const BATCH_ROWS = 65_536

const columns: ReadonlyArray<Column> = [
  { name: "id", type: { kind: "int64" }, nullable: true },
  { name: "score", type: { kind: "float64" }, nullable: true },
  { name: "amount", type: { kind: "decimal", precision: 12, scale: 2 }, nullable: true },
  { name: "name", type: { kind: "utf8" }, nullable: true },
  { name: "day", type: { kind: "date" }, nullable: true },
  { name: "at", type: { kind: "timestamp", unit: "us", timeZone: null }, nullable: true }
]
const declared = new Map<string, LogicalType>(columns.map((c) => [c.name, c.type]))

/** Deterministic pseudo-random numbers, so every run writes the same files. */
const random = (() => {
  let state = 42
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31
    return state / 2 ** 31
  }
})()

const makeBatches = (): ReadonlyArray<Batch> => {
  const batches: Array<Batch> = []
  let builder = new BatchBuilder(columns)
  for (let i = 0; i < ROWS; i++) {
    builder.appendRow([
      BigInt(i) * 7_919n + 1_234_567_890_123n,
      random() * 1000,
      BigInt(Math.floor(random() * 10_000_000)),
      i % 13 === 0 ? null : i % 10 === 0 ? `Name, ${i} "quoted"` : `name_${i}_é`,
      10_957 + (i % 9_000),
      1_577_836_800_000_000n + BigInt(i) * 1_234_567n
    ])
    if (builder.rowCount === BATCH_ROWS) {
      batches.push(builder.finish())
      builder = new BatchBuilder(columns)
    }
  }
  if (builder.rowCount > 0) batches.push(builder.finish())
  return batches
}

const rate = (rows: number, ms: number) => `${Math.round((rows / ms) * 1000).toLocaleString("en")} rows/s`

const time = async <A>(label: string, rows: number, run: () => Promise<A>): Promise<A> => {
  const start = performance.now()
  const result = await run()
  const ms = performance.now() - start
  console.log(`${label.padEnd(44)} ${(ms / 1000).toFixed(2).padStart(6)} s  ${rate(rows, ms).padStart(18)}`)
  return result
}

const encodeToFile = <O>(format: TableFormat<O>, options: O, batches: ReadonlyArray<Batch>, file: string) =>
  Effect.runPromise(
    Effect.acquireUseRelease(
      Effect.sync(() => fs.openSync(file, "w")),
      (fd) =>
        Stream.runForEach(format.encode(columns, Stream.fromIterable(batches), options), (bytes) =>
          Effect.sync(() => fs.writeSync(fd, bytes))
        ),
      (fd) => Effect.sync(() => fs.closeSync(fd))
    )
  )

const decodeFile = <O>(format: TableFormat<O>, options: O, file: string) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const input = yield* localFileInput(file)
      const inspected = yield* format.inspect(input, options, declared)
      let rows = 0
      yield* Stream.runForEach(format.decode(input, inspected, options), (batch) =>
        Effect.sync(() => (rows += batch.numRows))
      )
      return rows
    })
  )

const csvParseOnly = (file: string, withCast: boolean, limit: number) => {
  const parser = new Parser(withCast ? { cast: (value: string) => value, to: limit } : { to: limit })
  let rows = 0
  return new Promise<number>((resolve, reject) => {
    fs.createReadStream(file, { highWaterMark: 256 * 1024 })
      .pipe(parser)
      .on("data", () => rows++)
      .on("end", () => resolve(rows))
      .on("error", reject)
  })
}

const csvStringifyOnly = (batches: ReadonlyArray<Batch>) => {
  let bytes = 0
  for (const batch of batches) {
    const readers = batchReaders(columns, batch)
    const records: Array<Array<string | null>> = []
    for (let row = 0; row < batch.numRows; row++) {
      records.push(
        readers.map((read, c) => {
          const value = read(row)
          return value === null ? null : formatText(columns[c]!.type, value)
        })
      )
    }
    bytes += stringify(records).length
  }
  return bytes
}

const main = async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-text-bench-"))
  try {
    console.log(`${ROWS.toLocaleString("en")} rows: int64, float64, decimal(12,2), utf8, date, timestamp(us)`)
    console.log(`node ${process.version}, ${os.cpus().length} CPUs, load average ${os.loadavg()[0]!.toFixed(1)}\n`)
    const csvFile = path.join(dir, "mixed.csv")
    const jsonlFile = path.join(dir, "mixed.jsonl")
    const csvOptions = { delimiter: ",", quote: '"', header: true, null: "" }

    // The batches are dropped before decoding, so that decoding runs on a heap of its own size.
    const encodeAll = async () => {
      const batches = makeBatches()
      await time("CSV encode (Ferry, hand-written encoder)", ROWS, () =>
        encodeToFile(Csv, csvOptions, batches, csvFile)
      )
      await time("JSONL encode (Ferry)", ROWS, () => encodeToFile(Jsonl, {}, batches, jsonlFile))
      await time("  baseline: csv-stringify/sync of the same text", ROWS, async () => csvStringifyOnly(batches))
    }
    await encodeAll()
    console.log(
      `files: CSV ${(fs.statSync(csvFile).size / 1e6).toFixed(0)} MB, JSONL ${(fs.statSync(jsonlFile).size / 1e6).toFixed(0)} MB\n`
    )

    await time("CSV decode (Ferry, csv-parse + builders)", ROWS, () => decodeFile(Csv, csvOptions, csvFile))
    await time("  baseline: csv-parse alone, strings only", ROWS, () => csvParseOnly(csvFile, false, ROWS))
    const castRows = Math.min(ROWS, 100_000)
    await time(`  baseline: csv-parse with a cast function (${castRows / 1000}k rows)`, castRows, () =>
      csvParseOnly(csvFile, true, castRows)
    )
    await time("JSONL decode (Ferry, source-text scanner)", ROWS, () => decodeFile(Jsonl, {}, jsonlFile))
    const lines = fs.readFileSync(jsonlFile, "utf8").split("\n")
    await time("  baseline: JSON.parse per line (loses digits)", ROWS, async () => {
      let count = 0
      for (const line of lines) if (line.length > 0 && JSON.parse(line) !== null) count++
      return count
    })
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

void main()
