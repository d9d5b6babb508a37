/**
 * The benchmark's figures: medians of each side's samples, Ferry-to-peer ratios, and
 * the table printed at the end of a run.
 */
import type { JobName } from "./Jobs.js"
import { isStartup } from "./Jobs.js"
import type { Measurement } from "./Measure.js"

export interface Sample extends Measurement {
  /** One-minute load average when the sample started. */
  readonly loadBefore: number
  /** The dataset's time as `ferry run` reports it (opening the stores to the commit), without the process's start-up. */
  readonly transferSeconds?: number
}

export interface SideResult {
  readonly job: JobName
  readonly title: string
  readonly side: string
  readonly isFerry: boolean
  readonly unit: "rows" | "files"
  readonly count: number
  readonly inputBytes: number
  readonly wallSeconds: number
  readonly cpuSeconds: number
  readonly peakRssBytes: number
  /** Median of the samples' `transferSeconds`, when Ferry reported them. */
  readonly transferSeconds?: number
  readonly samples: ReadonlyArray<Sample>
  /** What the peer reported about itself (DuckDB's version and threads). */
  readonly settings?: Readonly<Record<string, string>>
}

export interface Ratio {
  readonly job: JobName
  readonly count: number
  readonly peer: string
  readonly wall: number
  readonly cpu: number
  readonly peakRss: number
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

export const summarise = (
  base: Omit<SideResult, "wallSeconds" | "cpuSeconds" | "peakRssBytes" | "transferSeconds">
): SideResult => {
  const transfer = base.samples.flatMap((sample) =>
    sample.transferSeconds === undefined ? [] : [sample.transferSeconds]
  )
  return {
    ...base,
    wallSeconds: median(base.samples.map((sample) => sample.wallSeconds)),
    cpuSeconds: median(base.samples.map((sample) => sample.cpuSeconds)),
    peakRssBytes: median(base.samples.map((sample) => sample.peakRssBytes)),
    ...(transfer.length === 0 ? {} : { transferSeconds: median(transfer) })
  }
}

/** Ferry's figures over each peer's, job by job (and size by size). */
export const ratios = (results: ReadonlyArray<SideResult>): ReadonlyArray<Ratio> =>
  results
    .filter((result) => result.isFerry)
    .flatMap((ferry) =>
      results
        .filter((peer) => !peer.isFerry && peer.job === ferry.job && peer.count === ferry.count)
        .map((peer) => ({
          job: ferry.job,
          count: ferry.count,
          peer: peer.side,
          wall: ferry.wallSeconds / peer.wallSeconds,
          cpu: ferry.cpuSeconds / peer.cpuSeconds,
          peakRss: ferry.peakRssBytes / peer.peakRssBytes
        }))
    )

const MIB = 1024 * 1024

const count = (n: number): string => Math.round(n).toLocaleString("en-US")
const fixed = (n: number, digits: number): string =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
const times = (ratio: number): string => `×${fixed(ratio, ratio >= 10 ? 0 : ratio >= 1 ? 1 : 2)}`

const rate = (result: SideResult): string => {
  if (isStartup(result.job)) return "—"
  const perSecond = result.count / result.wallSeconds
  return `${perSecond >= 100 ? count(perSecond) : fixed(perSecond, 1)} ${result.unit}/s`
}

/** The results as an aligned text table; a Ferry row carries its ratios to the job's first peer. */
export const table = (results: ReadonlyArray<SideResult>): string => {
  const all = ratios(results)
  const header = ["job", "side", "rows", "wall s", "CPU s", "rate", "MB/s", "peak RSS MiB", "wall ×", "CPU ×", "RSS ×"]
  const lines = results.map((result) => {
    const ratio = result.isFerry ? all.find((r) => r.job === result.job && r.count === result.count) : undefined
    return [
      result.title,
      result.side,
      result.unit === "files" ? `${count(result.count)} files` : count(result.count),
      fixed(result.wallSeconds, 2),
      fixed(result.cpuSeconds, 2),
      rate(result),
      isStartup(result.job) ? "—" : fixed(result.inputBytes / 1e6 / result.wallSeconds, 1),
      count(result.peakRssBytes / MIB),
      ratio === undefined ? "" : times(ratio.wall),
      ratio === undefined ? "" : times(ratio.cpu),
      ratio === undefined ? "" : times(ratio.peakRss)
    ]
  })
  const widths = header.map((title, c) => Math.max(title.length, ...lines.map((line) => line[c]!.length)))
  const left = new Set([0, 1])
  const format = (cells: ReadonlyArray<string>) =>
    cells.map((cell, c) => (left.has(c) ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ")
  return [format(header), widths.map((width) => "-".repeat(width)).join("  "), ...lines.map(format)].join("\n")
}

/** One line per Ferry-to-peer comparison, ratios first. */
export const ratioLines = (results: ReadonlyArray<SideResult>): ReadonlyArray<string> =>
  ratios(results).map((ratio) => {
    const result = results.find((candidate) => candidate.job === ratio.job && candidate.count === ratio.count)!
    const size = isStartup(ratio.job) ? "" : `, ${count(ratio.count)} ${result.unit}`
    return `${result.title}${size}: Ferry/${ratio.peer} wall ${times(ratio.wall)}, CPU ${times(ratio.cpu)}, peak RSS ${times(ratio.peakRss)}`
  })
