/**
 * The Azure Blob Storage benchmark (`npm run bench -- --azure`): Azurite started as a
 * child process with its data on disk (AzureInputs.ts), a gibibyte of blobs, and the
 * jobs of AzureJobs.ts, each side measured in a child process of its own (wall time,
 * CPU, peak RSS), Azurite's own CPU time read around it, the bytes that passed through
 * the side's process, and its output checked before the sample counts.
 *
 * `--scale-check` runs the blob jobs on a quarter of the blobs and on all of them, and
 * PostgreSQL → Parquet at N and 5×N rows: Ferry's peak RSS must not grow with the size.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type pg from "pg"
import type { BlobDataset } from "./AzureInputs.js"
import { blobInput, firstQuarter, removeOutputs, startAzurite, wholeInput } from "./AzureInputs.js"
import type { AzureEnvironment, AzureJob } from "./AzureJobs.js"
import { blobCopy, blobStream, postgresToBlob } from "./AzureJobs.js"
import type { Environment, JobName } from "./Jobs.js"
import { isStartup, reportedSeconds } from "./Jobs.js"
import { measure, sideTurns } from "./Measure.js"
import { postgresInput } from "./PostgresInputs.js"
import type { Sample, SideResult } from "./Report.js"
import { summarise } from "./Report.js"

export type AzureJobName = Extract<JobName, "blob-copy" | "blob-stream" | "pg-to-blob">
export const AZURE_JOBS: ReadonlyArray<AzureJobName> = ["blob-copy", "blob-stream", "pg-to-blob"]

/** Peak RSS at the larger size within this factor of the smaller's: flat. */
export const FLAT_RSS_FACTOR = 1.2

export interface AzureOptions {
  readonly env: Environment
  readonly dataDir: string
  readonly url: string
  readonly client: pg.Client
  readonly repeat: number
  readonly jobs: ReadonlyArray<AzureJobName>
  readonly scale: boolean
  /** The blob input: this many blobs (a multiple of four) of this many bytes in all. */
  readonly blobs: number
  readonly bytes: number
  readonly rows: number
  readonly log: (line: string) => void
}

export interface AzureSample extends Sample {
  /** Bytes that passed through the side's process (for blob copies). */
  readonly bytesThrough?: number
  /** Bytes of the file the side wrote (for tables). */
  readonly outputBytes?: number
  /** Azurite's CPU seconds during the sample. */
  readonly azuriteCpuSeconds: number
}

export interface AzureSideResult extends SideResult {
  readonly samples: ReadonlyArray<AzureSample>
  readonly bytesThrough?: number
  readonly outputBytes?: number
  readonly azuriteCpuSeconds: number
}

export interface AzureScaleCheck {
  readonly job: AzureJobName
  readonly title: string
  readonly sizes: readonly [string, string]
  readonly ferryPeakRssBytes: readonly [number, number]
  readonly ferryPeakRssRatio: number
  readonly flat: boolean
}

export interface AzureResults {
  readonly azurite: {
    readonly version: string
    readonly location: string
    readonly peakRssBytes: number
    readonly cpuSeconds: number
  }
  readonly results: ReadonlyArray<AzureSideResult>
  readonly scaleCheck: ReadonlyArray<AzureScaleCheck>
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

const MIB = 1024 * 1024

/** Each side `repeat` times, the order alternating between rounds; a side whose output is wrong fails the run. */
const runJob = async (
  env: AzureEnvironment,
  job: AzureJob,
  repeat: number,
  runsDir: string,
  log: (line: string) => void
): Promise<ReadonlyArray<AzureSideResult>> => {
  const samples = job.sides.map((): Array<AzureSample> => [])
  for (const { index: i, side, run } of sideTurns(job.name, job.sides, repeat, runsDir)) {
    const logFile = path.join(run, "output.log")
    try {
      const command = await side.prepare(run)
      const loadBefore = os.loadavg()[0]!
      const azuriteBefore = env.azurite.cpuSeconds()
      const measurement = await measure({ ...command, log: logFile }, runsDir)
      const azuriteCpuSeconds = env.azurite.cpuSeconds() - azuriteBefore
      const { bytesThrough, outputBytes } = await side.check(run, logFile)
      const transferSeconds = side.name.startsWith("ferry")
        ? reportedSeconds(path.join(run, "state.db"), logFile)
        : undefined
      samples[i]!.push({
        ...measurement,
        loadBefore,
        azuriteCpuSeconds,
        ...(bytesThrough === undefined ? {} : { bytesThrough }),
        ...(outputBytes === undefined ? {} : { outputBytes }),
        ...(transferSeconds === undefined ? {} : { transferSeconds })
      })
      log(
        `  ${job.title} ${side.name}: ${measurement.wallSeconds.toFixed(2)} s, ` +
          `${(measurement.peakRssBytes / MIB).toFixed(0)} MiB, Azurite ${azuriteCpuSeconds.toFixed(1)} CPU s` +
          `${bytesThrough === undefined ? "" : `, ${(bytesThrough / MIB).toFixed(0)} MiB through it`}` +
          `${outputBytes === undefined ? "" : `, wrote ${(outputBytes / MIB).toFixed(0)} MiB`} (load ${loadBefore.toFixed(1)})`
      )
    } finally {
      await side.cleanup(run)
    }
    fs.rmSync(run, { recursive: true, force: true })
  }
  return job.sides.map((side, i) => {
    const taken = samples[i]!
    const through = taken.flatMap((sample) => (sample.bytesThrough === undefined ? [] : [sample.bytesThrough]))
    const written = taken.flatMap((sample) => (sample.outputBytes === undefined ? [] : [sample.outputBytes]))
    return {
      ...summarise({
        job: job.name,
        title: job.title,
        side: side.name,
        isFerry: side.isFerry,
        unit: job.unit,
        count: job.count,
        inputBytes: job.inputBytes,
        samples: taken
      }),
      samples: taken,
      azuriteCpuSeconds: median(taken.map((sample) => sample.azuriteCpuSeconds)),
      ...(through.length === 0 ? {} : { bytesThrough: median(through) }),
      ...(written.length === 0 ? {} : { outputBytes: median(written) })
    }
  })
}

const scaleCheckOf = (
  results: ReadonlyArray<AzureSideResult>,
  job: AzureJobName,
  small: number,
  large: number,
  label: (count: number) => string
): AzureScaleCheck | undefined => {
  const find = (count: number) =>
    results.find((result) => result.job === job && result.isFerry && result.count === count)
  const [a, b] = [find(small), find(large)]
  if (a === undefined || b === undefined) return undefined
  const ratio = b.peakRssBytes / a.peakRssBytes
  return {
    job,
    title: a.title.replace(/, [\d.]+ GiB$/, ""),
    sizes: [label(small), label(large)],
    ferryPeakRssBytes: [a.peakRssBytes, b.peakRssBytes],
    ferryPeakRssRatio: ratio,
    flat: ratio <= FLAT_RSS_FACTOR
  }
}

export const azureBenchmark = async (options: AzureOptions): Promise<AzureResults> => {
  const { log } = options
  const runsDir = path.join(options.dataDir, "runs")
  fs.mkdirSync(runsDir, { recursive: true })
  const location = path.join(options.dataDir, "azurite")
  const azurite = await startAzurite(location)
  log(`Azurite ${azurite.version} on port ${azurite.port}, data in ${path.relative(process.cwd(), location)}`)
  try {
    const removed = await removeOutputs(azurite)
    if (removed > 0) log(`removed ${removed} output containers an interrupted run left`)
    const env: AzureEnvironment = { ...options.env, azurite, url: options.url }
    const wantsBlobs = options.jobs.some((job) => job !== "pg-to-blob")
    const input = wantsBlobs ? await blobInput(azurite, options.blobs, options.bytes, log) : undefined
    const datasets: ReadonlyArray<BlobDataset> =
      input === undefined ? [] : options.scale ? [firstQuarter(input), wholeInput(input)] : [wholeInput(input)]
    const sizes = options.scale ? [options.rows, options.rows * 5] : [options.rows]

    // Each job's input is made (or found) just before it runs.
    const jobs: Array<() => Promise<AzureJob>> = []
    for (const dataset of datasets) {
      if (options.jobs.includes("blob-copy")) jobs.push(() => Promise.resolve(blobCopy(env, dataset)))
      if (options.jobs.includes("blob-stream")) jobs.push(() => Promise.resolve(blobStream(env, dataset)))
    }
    if (options.jobs.includes("pg-to-blob")) {
      for (const rows of sizes) {
        jobs.push(async () =>
          postgresToBlob(env, await postgresInput(options.client, options.url, options.dataDir, rows, log))
        )
      }
    }
    const results: Array<AzureSideResult> = []
    for (const make of jobs) {
      const job = await make()
      log(isStartup(job.name) ? `${job.title}:` : `${job.title}, ${job.count.toLocaleString("en-US")} ${job.unit}:`)
      results.push(...(await runJob(env, job, options.repeat, runsDir, log)))
    }
    const scaleCheck = options.scale
      ? [
          ...(["blob-copy", "blob-stream"] as const).flatMap((job) => {
            if (datasets.length < 2) return []
            const [small, large] = datasets as [BlobDataset, BlobDataset]
            const check = scaleCheckOf(results, job, small.blobs, large.blobs, (count) =>
              count === small.blobs
                ? `${(small.bytes / 2 ** 30).toFixed(2)} GiB`
                : `${(large.bytes / 2 ** 30).toFixed(2)} GiB`
            )
            return check === undefined ? [] : [check]
          }),
          ...[
            scaleCheckOf(results, "pg-to-blob", sizes[0]!, sizes[1] ?? 0, (n) => `${n.toLocaleString("en-US")} rows`)
          ].filter((check) => check !== undefined)
        ]
      : []
    const memory = azurite.memory()
    return {
      azurite: {
        version: azurite.version,
        location,
        peakRssBytes: memory.peakRssBytes,
        cpuSeconds: azurite.cpuSeconds()
      },
      results,
      scaleCheck
    }
  } finally {
    await azurite.stop()
  }
}

const fixed = (n: number, digits: number) =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
const times = (ratio: number) => `×${fixed(ratio, ratio >= 10 ? 0 : ratio >= 1 ? 1 : 2)}`

/** Per side: the bytes through its process and Azurite's CPU time beside its own. */
export const azureLines = (results: AzureResults): ReadonlyArray<string> => {
  const lines = results.results.map((result) => {
    const through =
      result.bytesThrough === undefined ? "" : `${fixed(result.bytesThrough / MIB, 0)} MiB through the process, `
    const wrote = result.outputBytes === undefined ? "" : `wrote ${fixed(result.outputBytes / MIB, 0)} MiB, `
    return (
      `${result.title}${result.unit === "rows" ? `, ${result.count.toLocaleString("en-US")} rows` : ""}, ` +
      `${result.side}: ${through}${wrote}CPU ${fixed(result.cpuSeconds, 2)} s, ` +
      `Azurite's CPU ${fixed(result.azuriteCpuSeconds, 2)} s` +
      (result.transferSeconds === undefined ? "" : `, transfer alone ${fixed(result.transferSeconds, 2)} s`)
    )
  })
  for (const check of results.scaleCheck) {
    lines.push(
      `scale check, ${check.title}: Ferry's peak RSS ${fixed(check.ferryPeakRssBytes[0] / MIB, 0)} MiB at ${check.sizes[0]}, ` +
        `${fixed(check.ferryPeakRssBytes[1] / MIB, 0)} MiB at ${check.sizes[1]}: ${times(check.ferryPeakRssRatio)} ` +
        `(${check.flat ? "flat" : "NOT flat"}, target ≤ ×${FLAT_RSS_FACTOR})`
    )
  }
  lines.push(
    `Azurite ${results.azurite.version}: ${fixed(results.azurite.cpuSeconds, 1)} CPU s in all, ` +
      `peak RSS ${fixed(results.azurite.peakRssBytes / MIB, 0)} MiB (data on disk in ${path.relative(process.cwd(), results.azurite.location)})`
  )
  return lines
}
