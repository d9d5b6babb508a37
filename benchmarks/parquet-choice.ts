/**
 * Writes and reads N mixed rows (int64, float64, decimal(12,2), utf8, date,
 * timestamp(us, UTC), bool) as Parquet with each candidate library, each phase in a
 * child process of its own so that its peak RSS is its own. Both candidates start
 * from and end with Ferry batches (Arrow record batches), as the transfer core uses
 * them, and stream one row group of 131,072 rows at a time.
 *
 *   npx tsx benchmarks/parquet-choice.ts --rows 2000000 [--only parquet-wasm|hyparquet]
 *
 * Candidates: `parquet-wasm` (Ferry's Parquet format, sinks/formats/Parquet.ts) and
 * `hyparquet` (hyparquet-writer + hyparquet, pure JavaScript). The latter is not a
 * dependency of Ferry; without it installed it is skipped. To include it:
 *
 *   npm install --no-save hyparquet@1.33.0 hyparquet-writer@0.17.0
 *
 * Figures and the decision: docs/parquet.md.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { Batch } from "../core/Batch.js"
import { BatchBuilder, DEFAULT_BATCH_ROWS, makeColumnReader } from "../core/Batch.js"
import type { Column } from "../core/Types.js"
import type { FileInput } from "../sinks/formats/Format.js"
import { Parquet } from "../sinks/formats/Parquet.js"

const ROW_GROUP_ROWS = 131_072

const columns: ReadonlyArray<Column> = [
  { name: "id", type: { kind: "int64" }, nullable: false },
  { name: "amount", type: { kind: "float64" }, nullable: true },
  { name: "price", type: { kind: "decimal", precision: 12, scale: 2 }, nullable: true },
  { name: "name", type: { kind: "utf8" }, nullable: true },
  { name: "day", type: { kind: "date" }, nullable: true },
  { name: "at", type: { kind: "timestamp", unit: "us", timeZone: "UTC" }, nullable: true },
  { name: "ok", type: { kind: "bool" }, nullable: true }
]

const CITIES = ["Lyon", "Zürich", "København", "Kraków", "São Paulo", "Osaka", "Nairobi", "Montréal"]

/** Deterministic rows, filled column by column into Arrow buffers the way connectors do. */
function* generate(rows: number): Generator<Batch> {
  for (let start = 0; start < rows; start += DEFAULT_BATCH_ROWS) {
    const end = Math.min(rows, start + DEFAULT_BATCH_ROWS)
    const builder = new BatchBuilder(columns)
    const [id, amount, price, name, day, at, ok] = builder.builders
    for (let r = start; r < end; r++) {
      id!.append(BigInt(r))
      if (r % 17 === 0) amount!.appendNull()
      else amount!.append((r * 7919) / 100)
      price!.append(BigInt((r * 104_729) % 100_000_000))
      if (r % 23 === 0) name!.appendNull()
      else name!.append(`${CITIES[r % CITIES.length]}-${r % 5000}`)
      day!.append(18_000 + (r % 3650))
      at!.append(1_700_000_000_000_000n + BigInt(r) * 1_000_003n)
      ok!.append(r % 3 === 0)
    }
    yield builder.finish()
  }
}

/** One batch per pull: `Stream.fromIterable` would read ahead a whole chunk of batches. */
const lazily = (batches: Iterator<Batch>): Stream.Stream<Batch> =>
  Stream.repeatEffectOption(
    Effect.suspend(() => {
      const next = batches.next()
      return next.done === true ? Effect.fail(Option.none()) : Effect.succeed(next.value)
    })
  )

const localInput = (file: string): FileInput => ({
  name: file,
  size: fs.statSync(file).size,
  localPath: file,
  stream: () => Stream.die("benchmark inputs are local"),
  readRange: () => Effect.die("benchmark inputs are local")
})

/** Sum of ids, so that a reader that skips values is caught. */
const idChecksum = (batch: Batch): bigint => {
  const read = makeColumnReader(columns[0]!.type, batch.data.children[0]!)
  let sum = 0n
  for (let i = 0; i < batch.numRows; i++) sum += read(i) as bigint
  return sum
}

// ---- parquet-wasm (Ferry's format) --------------------------------------------------

const options = { compression: "snappy", row_group_rows: ROW_GROUP_ROWS } as const

const wasmWrite = async (rows: number, file: string): Promise<void> => {
  const out = fs.openSync(file, "w")
  await Effect.runPromise(
    Stream.runForEach(Parquet.encode(columns, lazily(generate(rows)), options), (bytes) =>
      Effect.sync(() => fs.writeSync(out, bytes))
    )
  )
  fs.closeSync(out)
}

const wasmRead = async (file: string): Promise<bigint> => {
  let sum = 0n
  await Effect.runPromise(
    Stream.runForEach(Parquet.decode(localInput(file), columns, options), (batch) =>
      Effect.sync(() => {
        sum += idChecksum(batch)
      })
    )
  )
  return sum
}

// ---- hyparquet (pure JavaScript) ----------------------------------------------------

interface HyparquetWriterModule {
  readonly fileWriter: (file: string) => unknown
  readonly ParquetWriter: new (options: { writer: unknown; schema: ReadonlyArray<object>; codec: string }) => {
    write(options: {
      columnData: ReadonlyArray<{ name: string; data: ReadonlyArray<unknown> }>
      rowGroupSize: number
    }): void
    finish(): void
  }
}

interface ColumnChunk {
  readonly columnName: string
  readonly columnData: ArrayLike<unknown>
  readonly rowStart: number
  readonly rowEnd: number
}

interface HyparquetModule {
  readonly asyncBufferFromFile: (file: string) => Promise<unknown>
  readonly parquetMetadataAsync: (file: unknown) => Promise<{ row_groups: ReadonlyArray<{ num_rows: bigint }> }>
  readonly parquetRead: (options: {
    file: unknown
    metadata: unknown
    rowStart: number
    rowEnd: number
    onChunk: (chunk: ColumnChunk) => void
    parsers: object
  }) => Promise<void>
}

const load = async <T>(name: string): Promise<T | undefined> => {
  try {
    return (await import(name)) as T
  } catch {
    return undefined
  }
}

const hyparquetSchema = [
  { name: "root", num_children: 7 },
  { name: "id", type: "INT64", repetition_type: "REQUIRED" },
  { name: "amount", type: "DOUBLE", repetition_type: "OPTIONAL" },
  { name: "price", type: "INT64", repetition_type: "OPTIONAL", converted_type: "DECIMAL", precision: 12, scale: 2 },
  { name: "name", type: "BYTE_ARRAY", repetition_type: "OPTIONAL", converted_type: "UTF8" },
  { name: "day", type: "INT32", repetition_type: "OPTIONAL", converted_type: "DATE" },
  {
    name: "at",
    type: "INT64",
    repetition_type: "OPTIONAL",
    logical_type: { type: "TIMESTAMP", isAdjustedToUTC: true, unit: "MICROS" }
  },
  { name: "ok", type: "BOOLEAN", repetition_type: "OPTIONAL" }
]

const hyparquetWrite = async (rows: number, file: string): Promise<void> => {
  const module = (await load<HyparquetWriterModule>("hyparquet-writer"))!
  const writer = new module.ParquetWriter({ writer: module.fileWriter(file), schema: hyparquetSchema, codec: "SNAPPY" })
  let pending: Array<Array<unknown>> = columns.map(() => [])
  const flush = () => {
    writer.write({
      columnData: columns.map((column, i) => ({ name: column.name, data: pending[i]! })),
      rowGroupSize: ROW_GROUP_ROWS
    })
    pending = columns.map(() => [])
  }
  for (const batch of generate(rows)) {
    // hyparquet-writer takes one JavaScript array of values per column.
    columns.forEach((column, c) => {
      const read = makeColumnReader(column.type, batch.data.children[c]!)
      const values = pending[c]!
      for (let i = 0; i < batch.numRows; i++) values.push(read(i))
    })
    if (pending[0]!.length >= ROW_GROUP_ROWS) flush()
  }
  if (pending[0]!.length > 0) flush()
  writer.finish()
}

const hyparquetRead = async (file: string): Promise<bigint> => {
  const module = (await load<HyparquetModule>("hyparquet"))!
  const buffer = await module.asyncBufferFromFile(file)
  const metadata = await module.parquetMetadataAsync(buffer)
  // Keep timestamps exact (bigint) instead of the default JavaScript Date.
  const parsers = { timestampFromMicroseconds: (micros: bigint) => micros, dateFromDays: (days: number) => days }
  let sum = 0n
  let rowStart = 0
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows)
    const data = new Map<string, Array<unknown>>(columns.map((column) => [column.name, []]))
    await module.parquetRead({
      file: buffer,
      metadata,
      rowStart,
      rowEnd,
      parsers,
      // A column may arrive in several chunks, which may reach outside the requested rows.
      onChunk: (chunk) => {
        const values = data.get(chunk.columnName)!
        const from = Math.max(rowStart, chunk.rowStart)
        const to = Math.min(rowEnd, chunk.rowEnd)
        for (let r = from; r < to; r++) values[r - rowStart] = chunk.columnData[r - chunk.rowStart]
      }
    })
    const builder = new BatchBuilder(columns)
    columns.forEach((column, c) => {
      const values = data.get(column.name)!
      const target = builder.builders[c]!
      for (let i = 0; i < values.length; i++) {
        const value = values[i]
        if (value === null || value === undefined) target.appendNull()
        // hyparquet returns decimals as JavaScript numbers: exact only up to 15 digits.
        else if (column.type.kind === "decimal") target.append(BigInt(Math.round((value as number) * 100)))
        else target.append(value as never)
      }
    })
    sum += idChecksum(builder.finish())
    rowStart = rowEnd
  }
  return sum
}

// ---- driver -------------------------------------------------------------------------

type Candidate = "parquet-wasm" | "hyparquet"
type Phase = "write" | "read" | "idle"

interface Measurement {
  readonly seconds: number
  /** CPU time of the phase, less sensitive than wall time to other work on the machine. */
  readonly cpuSeconds: number
  readonly peakRssMb: number
  readonly bytes: number
  readonly checksum: string
}

const runPhase = async (candidate: Candidate, phase: Phase, rows: number, file: string): Promise<Measurement> => {
  const started = performance.now()
  const cpuBefore = process.cpuUsage()
  let checksum = ""
  if (phase === "idle") checksum = ""
  else if (phase === "write") await (candidate === "parquet-wasm" ? wasmWrite(rows, file) : hyparquetWrite(rows, file))
  else checksum = String(await (candidate === "parquet-wasm" ? wasmRead(file) : hyparquetRead(file)))
  return {
    seconds: (performance.now() - started) / 1000,
    cpuSeconds: ((cpu) => (cpu.user + cpu.system) / 1e6)(process.cpuUsage(cpuBefore)),
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    bytes: phase === "idle" ? 0 : fs.statSync(file).size,
    checksum
  }
}

const argument = (name: string): string | undefined => {
  const index = process.argv.indexOf(`--${name}`)
  return index < 0 ? undefined : process.argv[index + 1]
}

const child = (candidate: Candidate, phase: Phase, rows: number, file: string): Measurement => {
  const script = fileURLToPath(import.meta.url)
  const args = [...process.execArgv, script, "--child", candidate, "--phase", phase, "--rows", String(rows)]
  const result = spawnSync(process.execPath, [...args, "--file", file], { encoding: "utf8" })
  if (result.status !== 0) throw new Error(`${candidate} ${phase} failed:\n${result.stderr}`)
  return JSON.parse(result.stdout.trim().split("\n").at(-1)!) as Measurement
}

const main = async () => {
  const rows = Number(argument("rows") ?? 2_000_000)
  const childCandidate = argument("child") as Candidate | undefined
  if (childCandidate !== undefined) {
    const measurement = await runPhase(childCandidate, argument("phase") as Phase, rows, argument("file")!)
    console.log(JSON.stringify(measurement))
    return
  }
  const expected = (BigInt(rows) * BigInt(rows - 1)) / 2n
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-parquet-choice-"))
  const only = argument("only") as Candidate | undefined
  const candidates: Array<Candidate> = []
  for (const candidate of only === undefined ? (["parquet-wasm", "hyparquet"] as const) : [only]) {
    const installed =
      candidate === "parquet-wasm" ||
      ((await load("hyparquet")) !== undefined && (await load("hyparquet-writer")) !== undefined)
    if (installed) candidates.push(candidate)
    else console.log("hyparquet skipped: npm install --no-save hyparquet@1.33.0 hyparquet-writer@0.17.0 to include it")
  }
  console.log(`${rows.toLocaleString("en")} rows, ${ROW_GROUP_ROWS.toLocaleString("en")} rows per row group, snappy`)
  const idle = child("parquet-wasm", "idle", rows, "")
  console.log(`baseline RSS of a process with every module loaded: ${idle.peakRssMb.toFixed(0)} MB`)
  console.log("candidate      write s  (cpu s)  peak RSS MB  read s  (cpu s)  peak RSS MB  file MB")
  try {
    for (const candidate of candidates) {
      const file = path.join(directory, `${candidate}.parquet`)
      const write = child(candidate, "write", rows, file)
      const read = child(candidate, "read", rows, file)
      if (BigInt(read.checksum) !== expected) throw new Error(`${candidate} read back wrong ids`)
      console.log(
        [
          candidate.padEnd(13),
          write.seconds.toFixed(2).padStart(7),
          write.cpuSeconds.toFixed(2).padStart(8),
          write.peakRssMb.toFixed(0).padStart(12),
          read.seconds.toFixed(2).padStart(7),
          read.cpuSeconds.toFixed(2).padStart(8),
          read.peakRssMb.toFixed(0).padStart(12),
          (write.bytes / 1e6).toFixed(1).padStart(8)
        ].join(" ")
      )
    }
  } finally {
    fs.rmSync(directory, { recursive: true, force: true })
  }
}

await main()
