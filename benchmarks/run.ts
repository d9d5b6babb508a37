/**
 * The transfer-core benchmark: Ferry against a peer on the same machine in the same
 * run, each side in a child process of its own (peak RSS is that process's).
 *
 *   npm run bench -- [--rows N] [--repeat N] [--jobs csv-to-parquet,parquet-to-csv,folder-copy]
 *                    [--peer-threads N] [--scale-check]
 *   npm run bench -- --postgres [--rows N] [--repeat N] [--url postgres://…]
 *                    [--jobs pg-to-csv,pg-to-parquet,pg-to-postgres,pg-incremental] [--scale-check]
 *   npm run bench -- --postgres --clean
 *   npm run bench -- --api [--repeat N] [--duration S] [--connections N] [--databases sqlite,postgres]
 *                    [--jobs http,scheduler] [--url postgres://…]
 *   npm run bench -- --azure [--repeat N] [--jobs blob-copy,blob-stream,pg-to-blob] [--gib N] [--rows N]
 *                    [--scale-check] [--url postgres://…]
 *
 * Files: CSV → Parquet and Parquet → CSV against DuckDB, a folder copy against
 * coreutils' `cp -r` (DuckDB cannot copy files), and the start-up cost of both on a
 * one-row CSV → Parquet. `--scale-check` runs CSV → Parquet at N and 5×N rows and
 * compares peak RSS.
 *
 * PostgreSQL (`--postgres`, 2M rows by default): a generated table to CSV, to Parquet
 * and to another table, against psql's `\copy`, and an incremental run of 1,000
 * changed rows checked not to scan the table. `--scale-check` runs the CSV and Parquet
 * jobs at N and 5×N rows. `--clean` drops the generated tables and exits.
 *
 * The service (`--api`, on SQLite and PostgreSQL): `ferry serve` over a state database
 * seeded with 1,000 shares and 10,000 runs, loaded by autocannon beside a minimal
 * `node:http` peer answering the same JSON (list shares, get a share, list runs, get a
 * run); and the scheduler queueing the runs of 1,000 scheduled subscriptions at a tick.
 *
 * Azure Blob Storage (`--azure`, against Azurite started with its data on disk): 1 GiB in
 * 200 blobs copied between two containers server-side and streamed through Ferry, each
 * beside a minimal @azure/storage-blob script doing the same copy; the PostgreSQL
 * benchmark's table into a Parquet blob against into a local Parquet file.
 * `--scale-check` compares peak RSS at 0.25 and 1 GiB, and at N and 5×N rows.
 *
 * Figures are printed as a table and written as JSON to benchmarks/results/. See
 * benchmarks/README.md.
 */
import { DuckDBInstance } from "@duckdb/node-api"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import type { Environment, Job, JobName } from "./internal/Jobs.js"
import { csvToParquet, folderCopy, isStartup, parquetToCsv, reportedSeconds } from "./internal/Jobs.js"
import { folderInput, tableInput } from "./internal/Inputs.js"
import { BenchmarkError, hasGnuTime, measure, sideTurns } from "./internal/Measure.js"
import { cleanPostgres, connect, DEFAULT_POSTGRES_URL, postgresInput } from "./internal/PostgresInputs.js"
import type { IncrementalResult, PostgresEnvironment } from "./internal/PostgresJobs.js"
import {
  incrementalJob,
  postgresStartup,
  postgresToCsv,
  postgresToParquet,
  postgresToPostgres
} from "./internal/PostgresJobs.js"
import { incrementalLines, incrementalResults, postgresScaleLines, targetLines } from "./internal/PostgresReport.js"
import type { Sample, SideResult } from "./internal/Report.js"
import { ratioLines, ratios, summarise, table } from "./internal/Report.js"
import type { ApiJob } from "./internal/ApiBenchmark.js"
import { API_DATABASES, API_JOBS, apiBenchmark } from "./internal/ApiBenchmark.js"
import type { DatabaseKind } from "./internal/ApiReport.js"
import { memoryLines, requestRatios, requestTable, schedulerTable, times } from "./internal/ApiReport.js"
import type { AzureJobName } from "./internal/AzureBenchmark.js"
import { AZURE_JOBS, azureBenchmark, azureLines } from "./internal/AzureBenchmark.js"

const repository = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const dataDir = path.join(repository, "benchmarks", ".data")
const resultsDir = path.join(repository, "benchmarks", "results")

const TABLE_JOBS: ReadonlyArray<JobName> = ["csv-to-parquet", "parquet-to-csv", "folder-copy"]
const POSTGRES_JOBS: ReadonlyArray<JobName> = ["pg-to-csv", "pg-to-parquet", "pg-to-postgres", "pg-incremental"]
/** `--scale-check` passes when Ferry's peak RSS at 5×N rows is within this factor of N's. */
const FLAT_RSS_FACTOR = 1.2

const { values: flags } = parseArgs({
  options: {
    rows: { type: "string" },
    repeat: { type: "string" },
    jobs: { type: "string" },
    "peer-threads": { type: "string" },
    "scale-check": { type: "boolean", default: false },
    postgres: { type: "boolean", default: false },
    url: { type: "string", default: process.env["FERRY_BENCH_POSTGRES_URL"] ?? DEFAULT_POSTGRES_URL },
    clean: { type: "boolean", default: false },
    api: { type: "boolean", default: false },
    duration: { type: "string", default: "5" },
    connections: { type: "string", default: "10" },
    databases: { type: "string" },
    azure: { type: "boolean", default: false },
    gib: { type: "string", default: "1" },
    help: { type: "boolean", default: false }
  }
})

const positiveInteger = (name: string, text: string): number => {
  const value = Number(text.replaceAll("_", ""))
  if (!Number.isInteger(value) || value < 1) {
    throw new BenchmarkError({ message: `--${name} takes a positive integer, got ${text}` })
  }
  return value
}

const log = (line: string) => process.stdout.write(`${line}\n`)

const load = (): number => os.loadavg()[0]!

/** The commit measured, and whether the working tree had changes on top of it. */
const gitState = (): { commit: string; dirty: boolean } | undefined => {
  const git = (...args: Array<string>) => spawnSync("git", args, { cwd: repository, encoding: "utf8" })
  const head = git("rev-parse", "HEAD")
  if (head.status !== 0) return undefined
  return {
    commit: head.stdout.trim(),
    dirty: git("status", "--porcelain", "--untracked-files=no").stdout.trim() !== ""
  }
}

/** What a peer printed about itself: the last JSON line of its output. */
const peerSettings = (logFile: string): Record<string, string> | undefined => {
  const last = fs.readFileSync(logFile, "utf8").trim().split("\n").at(-1) ?? ""
  try {
    const parsed: unknown = JSON.parse(last)
    return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, string>) : undefined
  } catch {
    return undefined
  }
}

/**
 * Each side of a job, `repeat` times, the sides' order alternating between rounds so
 * that neither always runs on a cache the other warmed. A side's output must digest
 * to the input's before its sample counts.
 */
const runJob = async (job: Job, repeat: number, runsDir: string): Promise<ReadonlyArray<SideResult>> => {
  const expected = await job.expected()
  const samples = job.sides.map((): Array<Sample> => [])
  const settings: Array<Record<string, string> | undefined> = job.sides.map(() => undefined)
  for (const { index: i, side, run } of sideTurns(job.name, job.sides, repeat, runsDir)) {
    const logFile = path.join(run, "output.log")
    const loadBefore = load()
    const measurement = await measure({ ...side.prepare(run), log: logFile }, runsDir)
    const digest = await job.digest(side.output(run))
    if (digest !== expected) {
      throw new BenchmarkError({
        message: `${side.name} wrote something else than the input on ${job.title}:\n  input  ${expected}\n  output ${digest}\n  (kept in ${run})`
      })
    }
    await side.cleanup?.(run)
    if (!side.isFerry) settings[i] = peerSettings(logFile)
    const transferSeconds = side.isFerry ? reportedSeconds(path.join(run, "state.db"), logFile) : undefined
    samples[i]!.push({ ...measurement, loadBefore, ...(transferSeconds === undefined ? {} : { transferSeconds }) })
    fs.rmSync(run, { recursive: true, force: true })
    log(
      `  ${job.title} ${side.name}: ${measurement.wallSeconds.toFixed(2)} s, ` +
        `${(measurement.peakRssBytes / 1024 / 1024).toFixed(0)} MiB (load ${loadBefore.toFixed(1)})`
    )
  }
  return job.sides.map((side, i) =>
    summarise({
      job: job.name,
      title: job.title,
      side: settings[i]?.version === undefined ? side.name : `${side.name} ${settings[i]!.version}`,
      isFerry: side.isFerry,
      unit: job.unit,
      count: job.count,
      inputBytes: job.inputBytes,
      samples: samples[i]!,
      ...(settings[i] === undefined ? {} : { settings: settings[i] })
    })
  )
}

interface ScaleCheck {
  readonly rows: readonly [number, number]
  readonly ferryPeakRssRatio: number
  readonly peerPeakRssRatio: number
  readonly flat: boolean
}

const scaleCheck = (results: ReadonlyArray<SideResult>, small: number, large: number): ScaleCheck => {
  const rss = (isFerry: boolean, rows: number) =>
    results.find((result) => result.isFerry === isFerry && result.count === rows)!.peakRssBytes
  const ferryPeakRssRatio = rss(true, large) / rss(true, small)
  return {
    rows: [small, large],
    ferryPeakRssRatio,
    peerPeakRssRatio: rss(false, large) / rss(false, small),
    flat: ferryPeakRssRatio <= FLAT_RSS_FACTOR
  }
}

const machine = () => ({
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
  memoryBytes: os.totalmem(),
  platform: `${os.type()} ${os.release()}`,
  node: process.version
})

const jobList = (text: string | undefined, known: ReadonlyArray<JobName>): ReadonlyArray<JobName> => {
  const names = (text ?? known.join(",")).split(",").map((name) => name.trim())
  const unknown = names.filter((name) => !known.includes(name as JobName))
  if (unknown.length > 0) {
    throw new BenchmarkError({ message: `unknown job ${unknown.join(", ")}; jobs are ${known.join(", ")}` })
  }
  return names as ReadonlyArray<JobName>
}

/** What every mode shares: the start of a run, its jobs, and the figures printed and kept at the end. */
interface Session {
  readonly startedAt: Date
  readonly loadStart: ReadonlyArray<number>
  readonly runsDir: string
  readonly env: Environment
  readonly close: () => void
}

const openSession = async (peerThreads: number | undefined, benchmark = "transfer-core"): Promise<Session> => {
  const startedAt = new Date()
  const loadStart = os.loadavg()
  const runsDir = path.join(dataDir, "runs")
  fs.mkdirSync(runsDir, { recursive: true })
  log(
    `Ferry ${benchmark} benchmark, ${startedAt.toISOString()}: ${os.cpus().length} CPUs, ` +
      `load average ${loadStart.map((value) => value.toFixed(2)).join(" ")}`
  )
  log(
    hasGnuTime(runsDir)
      ? "peak RSS and CPU from GNU time"
      : "GNU time not found: peak RSS polled from /proc every 20 ms, CPU from /proc"
  )
  const instance = await DuckDBInstance.create(":memory:")
  const duckdb = await instance.connect()
  await duckdb.run("SET TimeZone = 'UTC'")
  return {
    startedAt,
    loadStart,
    runsDir,
    env: { repository, duckdb, peerThreads },
    close: () => {
      duckdb.closeSync()
      instance.closeSync()
    }
  }
}

const runJobs = async (jobs: ReadonlyArray<Job>, repeat: number, runsDir: string): Promise<Array<SideResult>> => {
  const results: Array<SideResult> = []
  for (const job of jobs) {
    log(isStartup(job.name) ? `${job.title}:` : `${job.title}, ${job.count.toLocaleString("en-US")} ${job.unit}:`)
    results.push(...(await runJob(job, repeat, runsDir)))
  }
  return results
}

const writeResults = (
  session: Pick<Session, "startedAt" | "loadStart" | "runsDir">,
  mode: string,
  rows: number | undefined,
  repeat: number,
  extra: object,
  benchmark = "transfer-core"
): void => {
  const loadEnd = os.loadavg()
  log(`load average at the end: ${loadEnd.map((value) => value.toFixed(2)).join(" ")}`)
  fs.mkdirSync(resultsDir, { recursive: true })
  const resultFile = path.join(
    resultsDir,
    `${session.startedAt.toISOString().replace(/[:.]/g, "-")}-${mode}${rows === undefined ? "" : `-${rows}`}.json`
  )
  fs.writeFileSync(
    resultFile,
    JSON.stringify(
      {
        benchmark,
        mode,
        startedAt: session.startedAt.toISOString(),
        finishedAt: new Date().toISOString(),
        rows,
        repeat,
        git: gitState(),
        machine: machine(),
        loadAverage: { start: session.loadStart, end: loadEnd },
        measuredWith: hasGnuTime(session.runsDir) ? "gnu-time" : "proc-poll",
        ...extra
      },
      null,
      2
    )
  )
  log(`results: ${path.relative(process.cwd(), resultFile)}`)
}

/** CSV and Parquet files against DuckDB, and a folder copy against cp. */
const filesBenchmark = async () => {
  const rows = positiveInteger("rows", flags.rows ?? "1000000")
  const repeat = positiveInteger("repeat", flags.repeat ?? "1")
  const peerThreads =
    flags["peer-threads"] === undefined ? undefined : positiveInteger("peer-threads", flags["peer-threads"])
  const jobNames = jobList(flags.jobs, TABLE_JOBS)
  const scale = flags["scale-check"]
  const session = await openSession(peerThreads)
  const { env } = session

  const jobs: Array<Job> = []
  if (scale) {
    for (const size of [rows, rows * 5]) jobs.push(csvToParquet(env, await tableInput(dataDir, size, log)))
  } else {
    jobs.push(csvToParquet(env, await tableInput(dataDir, 1, log), "startup"))
    const input = await tableInput(dataDir, rows, log)
    if (jobNames.includes("csv-to-parquet")) jobs.push(csvToParquet(env, input))
    if (jobNames.includes("parquet-to-csv")) jobs.push(parquetToCsv(env, input))
    if (jobNames.includes("folder-copy")) jobs.push(folderCopy(env, await folderInput(dataDir, rows, log)))
  }
  const results = await runJobs(jobs, repeat, session.runsDir)
  session.close()

  const check = scale ? scaleCheck(results, rows, rows * 5) : undefined
  log("")
  log(table(results))
  log("")
  for (const line of ratioLines(results)) log(line)
  if (jobs.some((job) => job.name === "folder-copy")) {
    log(
      "folder copy peer: cp -r (GNU coreutils), since DuckDB cannot copy files; Ferry also fsyncs and hashes each file."
    )
  }
  if (check !== undefined) {
    log(
      `scale check: Ferry's peak RSS at ${check.rows[1].toLocaleString("en-US")} rows is ×${check.ferryPeakRssRatio.toFixed(2)} ` +
        `its peak at ${check.rows[0].toLocaleString("en-US")} (DuckDB ×${check.peerPeakRssRatio.toFixed(2)}): ` +
        (check.flat ? "flat" : "NOT flat") +
        ` (target ≤ ×${FLAT_RSS_FACTOR})`
    )
  }
  writeResults(session, scale ? "scale-check" : "bench", rows, repeat, {
    results,
    ratios: ratios(results),
    ...(check === undefined ? {} : { scaleCheck: check })
  })
}

/** A generated PostgreSQL table to CSV, Parquet and PostgreSQL against psql, and an incremental run. */
const postgresBenchmark = async () => {
  const client = await connect(flags.url)
  try {
    if (flags.clean) {
      await cleanPostgres(client, dataDir, log)
      return
    }
    const rows = positiveInteger("rows", flags.rows ?? "2000000")
    const repeat = positiveInteger("repeat", flags.repeat ?? "1")
    const jobNames = jobList(flags.jobs, POSTGRES_JOBS)
    const scale = flags["scale-check"]
    const session = await openSession(undefined)
    const env: PostgresEnvironment = { ...session.env, url: flags.url, client }
    const input = (size: number) => postgresInput(client, flags.url, dataDir, size, log)

    const jobs: Array<Job> = []
    if (scale) {
      for (const size of [rows, rows * 5]) {
        const sized = await input(size)
        jobs.push(postgresToCsv(env, sized), postgresToParquet(env, sized))
      }
    } else {
      jobs.push(postgresStartup(env, await input(1)))
      const sized = await input(rows)
      if (jobNames.includes("pg-to-csv")) jobs.push(postgresToCsv(env, sized))
      if (jobNames.includes("pg-to-parquet")) jobs.push(postgresToParquet(env, sized))
      if (jobNames.includes("pg-to-postgres")) jobs.push(postgresToPostgres(env, sized))
    }
    const results = await runJobs(jobs, repeat, session.runsDir)
    let incremental: IncrementalResult | undefined
    if (!scale && jobNames.includes("pg-incremental")) {
      log(`incremental run of 1,000 changed rows, ${rows.toLocaleString("en-US")}-row table:`)
      incremental = await incrementalJob(env, await input(rows), repeat, session.runsDir, log)
      results.push(...incrementalResults(incremental))
    }
    session.close()

    log("")
    log(table(results))
    log("")
    for (const line of targetLines(results)) log(line)
    const scaleLines = scale ? postgresScaleLines(results, rows, rows * 5) : undefined
    for (const line of scaleLines?.lines ?? []) log(line)
    if (incremental !== undefined) for (const line of incrementalLines(incremental)) log(line)
    writeResults(session, scale ? "postgres-scale-check" : "postgres", rows, repeat, {
      results,
      ratios: ratios(results),
      ...(scaleLines === undefined ? {} : { scaleCheck: scaleLines.check }),
      ...(incremental === undefined ? {} : { incremental })
    })
  } finally {
    await client.end()
  }
}

const listOf = <A extends string>(
  name: string,
  text: string | undefined,
  known: ReadonlyArray<A>
): ReadonlyArray<A> => {
  const isKnown = (item: string): item is A => (known as ReadonlyArray<string>).includes(item)
  const names = (text ?? known.join(",")).split(",").map((item) => item.trim())
  const unknown = names.filter((item) => !isKnown(item))
  if (unknown.length > 0) {
    throw new BenchmarkError({ message: `unknown ${name} ${unknown.join(", ")}; they are ${known.join(", ")}` })
  }
  return names.filter(isKnown)
}

/** The service: `ferry serve` against a node:http peer under autocannon, and the scheduler's tick. */
const apiBenchmarkMode = async () => {
  const startedAt = new Date()
  const loadStart = os.loadavg()
  const repeat = positiveInteger("repeat", flags.repeat ?? "3")
  const jobs = listOf<ApiJob>("job", flags.jobs, API_JOBS)
  const databases = listOf<DatabaseKind>("database", flags.databases, API_DATABASES)
  const runsDir = path.join(dataDir, "runs")
  fs.mkdirSync(runsDir, { recursive: true })
  log(
    `Ferry service benchmark, ${startedAt.toISOString()}: ${os.cpus().length} CPUs, ` +
      `load average ${loadStart.map((value) => value.toFixed(2)).join(" ")}`
  )
  const seconds = positiveInteger("duration", flags.duration)
  const connections = positiveInteger("connections", flags.connections)
  const results = await apiBenchmark({
    repository,
    dataDir,
    url: flags.url,
    repeat,
    seconds,
    warmupSeconds: Math.min(seconds, 2),
    connections,
    databases,
    jobs,
    log
  })
  log("")
  if (results.requests.length > 0) {
    log(`HTTP, ${connections} connections, ${seconds} s per sample, medians of ${repeat}:`)
    log(requestTable(results.requests))
    log("")
    for (const ratio of requestRatios(results.requests)) {
      log(
        `${ratio.database} ${ratio.request}: Ferry/peer p50 ${times(ratio.p50)}, p99 ${times(ratio.p99)}, ` +
          `throughput ${times(ratio.requestsPerSecond)}, CPU per request ${times(ratio.cpuPerRequest)}`
      )
    }
    for (const line of memoryLines(results.memory)) log(line)
    log("")
  }
  if (results.scheduler.length > 0) {
    log(`Scheduler, one tick, medians of ${repeat}:`)
    log(schedulerTable(results.scheduler))
  }
  writeResults(
    { startedAt, loadStart, runsDir },
    "api",
    undefined,
    repeat,
    { seconds, connections, ...results },
    "service"
  )
}

/** Blob copies against the Azure SDK, and PostgreSQL into a Parquet blob against into a local file, on Azurite. */
const azureBenchmarkMode = async () => {
  const repeat = positiveInteger("repeat", flags.repeat ?? "1")
  const jobs = listOf<AzureJobName>("job", flags.jobs, AZURE_JOBS)
  const rows = positiveInteger("rows", flags.rows ?? "2000000")
  const gib = Number(flags.gib)
  if (!(gib > 0)) throw new BenchmarkError({ message: `--gib takes a positive number, got ${flags.gib}` })
  const scale = flags["scale-check"]
  const client = await connect(flags.url)
  const session = await openSession(undefined, "Azure Blob Storage")
  try {
    const results = await azureBenchmark({
      env: session.env,
      dataDir,
      url: flags.url,
      client,
      repeat,
      jobs,
      scale,
      blobs: 200,
      bytes: Math.round((gib * 2 ** 30) / 4) * 4,
      rows,
      log
    })
    log("")
    log(table(results.results))
    log("")
    for (const line of ratioLines(results.results)) log(line)
    for (const line of azureLines(results)) log(line)
    writeResults(
      session,
      scale ? "azure-scale-check" : "azure",
      rows,
      repeat,
      { gib, ...results, ratios: ratios(results.results) },
      "azure-blob"
    )
  } finally {
    session.close()
    await client.end()
  }
}

const main = async () => {
  if (flags.help) {
    log(
      fs
        .readFileSync(fileURLToPath(import.meta.url), "utf8")
        .split("*/")[0]!
        .replace(/^\/\*\*|^ \* ?/gm, "")
        .trim()
    )
    return
  }
  await (flags.azure
    ? azureBenchmarkMode()
    : flags.api
      ? apiBenchmarkMode()
      : flags.postgres
        ? postgresBenchmark()
        : filesBenchmark())
}

main().catch((error: unknown) => {
  process.stderr.write(`benchmark failed: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exitCode = 1
})
