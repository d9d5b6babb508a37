/**
 * The transfer-core benchmark: Ferry against a peer on the same machine in the same
 * run, each side in a child process of its own (peak RSS is that process's).
 *
 *   npm run bench -- [--rows N] [--repeat N] [--jobs csv-to-parquet,parquet-to-csv,folder-copy]
 *                    [--peer-threads N] [--scale-check]
 *
 * Jobs: CSV → Parquet and Parquet → CSV against DuckDB, a folder copy against
 * coreutils' `cp -r` (DuckDB cannot copy files), and the start-up cost of both on a
 * one-row CSV → Parquet. `--scale-check` runs CSV → Parquet at N and 5×N rows and
 * compares peak RSS. Figures are printed as a table and written as JSON to
 * benchmarks/results/. See benchmarks/README.md.
 */
import { DuckDBInstance } from "@duckdb/node-api"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import type { Environment, Job, JobName } from "./internal/Jobs.js"
import { csvToParquet, folderCopy, parquetToCsv } from "./internal/Jobs.js"
import { folderInput, tableInput } from "./internal/Inputs.js"
import { BenchmarkError, hasGnuTime, measure } from "./internal/Measure.js"
import type { Sample, SideResult } from "./internal/Report.js"
import { ratioLines, ratios, summarise, table } from "./internal/Report.js"

const repository = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const dataDir = path.join(repository, "benchmarks", ".data")
const resultsDir = path.join(repository, "benchmarks", "results")

const TABLE_JOBS: ReadonlyArray<JobName> = ["csv-to-parquet", "parquet-to-csv", "folder-copy"]
/** `--scale-check` passes when Ferry's peak RSS at 5×N rows is within this factor of N's. */
const FLAT_RSS_FACTOR = 1.2

const { values: flags } = parseArgs({
  options: {
    rows: { type: "string", default: "1000000" },
    repeat: { type: "string", default: "1" },
    jobs: { type: "string", default: TABLE_JOBS.join(",") },
    "peer-threads": { type: "string" },
    "scale-check": { type: "boolean", default: false },
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
  for (let round = 0; round < repeat; round++) {
    const order = job.sides.map((_, i) => i)
    if (round % 2 === 1) order.reverse()
    for (const i of order) {
      const side = job.sides[i]!
      const run = fs.mkdtempSync(path.join(runsDir, `${job.name}-${side.name.replace(/\W+/g, "-")}-`))
      const logFile = path.join(run, "output.log")
      const loadBefore = load()
      const measurement = await measure({ ...side.prepare(run), log: logFile }, runsDir)
      const digest = await job.digest(side.output(run))
      if (digest !== expected) {
        throw new BenchmarkError({
          message: `${side.name} wrote something else than the input on ${job.title}:\n  input  ${expected}\n  output ${digest}\n  (kept in ${run})`
        })
      }
      if (!side.isFerry) settings[i] = peerSettings(logFile)
      samples[i]!.push({ ...measurement, loadBefore })
      fs.rmSync(run, { recursive: true, force: true })
      log(
        `  ${job.title} ${side.name}: ${measurement.wallSeconds.toFixed(2)} s, ` +
          `${(measurement.peakRssBytes / 1024 / 1024).toFixed(0)} MiB (load ${loadBefore.toFixed(1)})`
      )
    }
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
  const rows = positiveInteger("rows", flags.rows)
  const repeat = positiveInteger("repeat", flags.repeat)
  const peerThreads =
    flags["peer-threads"] === undefined ? undefined : positiveInteger("peer-threads", flags["peer-threads"])
  const jobNames = flags.jobs.split(",").map((name) => name.trim())
  const unknown = jobNames.filter((name) => !TABLE_JOBS.includes(name as JobName))
  if (unknown.length > 0) {
    throw new BenchmarkError({ message: `unknown job ${unknown.join(", ")}; jobs are ${TABLE_JOBS.join(", ")}` })
  }
  const scale = flags["scale-check"]

  const startedAt = new Date()
  const loadStart = os.loadavg()
  const git = gitState()
  const runsDir = path.join(dataDir, "runs")
  fs.mkdirSync(runsDir, { recursive: true })
  log(
    `Ferry transfer-core benchmark, ${startedAt.toISOString()}: ${os.cpus().length} CPUs, ` +
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
  const env: Environment = { repository, duckdb, peerThreads }

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

  const results: Array<SideResult> = []
  for (const job of jobs) {
    log(job.name === "startup" ? `${job.title}:` : `${job.title}, ${job.count.toLocaleString("en-US")} ${job.unit}:`)
    results.push(...(await runJob(job, repeat, runsDir)))
  }
  duckdb.closeSync()
  instance.closeSync()

  const loadEnd = os.loadavg()
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
  log(`load average at the end: ${loadEnd.map((value) => value.toFixed(2)).join(" ")}`)

  fs.mkdirSync(resultsDir, { recursive: true })
  const resultFile = path.join(
    resultsDir,
    `${startedAt.toISOString().replace(/[:.]/g, "-")}-${scale ? "scale-check" : "bench"}-${rows}.json`
  )
  fs.writeFileSync(
    resultFile,
    JSON.stringify(
      {
        benchmark: "transfer-core",
        mode: scale ? "scale-check" : "bench",
        startedAt: startedAt.toISOString(),
        finishedAt: new Date().toISOString(),
        rows,
        repeat,
        git,
        machine: {
          cpus: os.cpus().length,
          cpuModel: os.cpus()[0]?.model,
          memoryBytes: os.totalmem(),
          platform: `${os.type()} ${os.release()}`,
          node: process.version
        },
        loadAverage: { start: loadStart, end: loadEnd },
        measuredWith: hasGnuTime(runsDir) ? "gnu-time" : "proc-poll",
        results,
        ratios: ratios(results),
        ...(check === undefined ? {} : { scaleCheck: check })
      },
      null,
      2
    )
  )
  log(`results: ${path.relative(process.cwd(), resultFile)}`)
}

main().catch((error: unknown) => {
  process.stderr.write(`benchmark failed: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exitCode = 1
})
