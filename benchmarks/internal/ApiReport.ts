/**
 * The service benchmark's figures: the medians of each side's samples per request, the
 * ratios of Ferry's to the peer's, the servers' memory and the scheduler's rounds, as
 * the tables printed at the end of a run.
 */
import type { LoadResult } from "./ApiLoad.js"
import type { SchedulerRound } from "./ApiScheduler.js"

export type DatabaseKind = "sqlite" | "postgres"
export type Side = "ferry" | "peer"

export interface ApiSample extends LoadResult {
  /** CPU seconds the server spent during the sample. */
  readonly serverCpuSeconds: number
  /** One-minute load average when the sample started. */
  readonly loadBefore: number
}

export interface RequestResult {
  readonly database: DatabaseKind
  readonly request: string
  readonly side: Side
  /** Medians of the samples. */
  readonly p50: number
  readonly p99: number
  readonly requestsPerSecond: number
  readonly cpuMicrosPerRequest: number
  readonly samples: ReadonlyArray<ApiSample>
}

export interface RequestRatio {
  readonly database: DatabaseKind
  readonly request: string
  /** Ferry's over the peer's: above 1, Ferry is slower (latency), serves more (throughput), spends more (CPU). */
  readonly p50: number
  readonly p99: number
  readonly requestsPerSecond: number
  readonly cpuPerRequest: number
}

export interface ServerMemory {
  readonly database: DatabaseKind
  readonly side: Side
  /** Resident memory once started and answering, before the load. */
  readonly restRssBytes: number
  /** The server process's peak resident memory, start to stop (VmHWM). */
  readonly peakRssBytes: number
}

export interface SchedulerResult {
  readonly database: DatabaseKind
  readonly subscriptions: number
  /** Median of the measured rounds. */
  readonly tickToQueuedSeconds: number
  readonly warmup: SchedulerRound
  readonly rounds: ReadonlyArray<SchedulerRound>
}

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

export const summariseRequest = (
  base: Pick<RequestResult, "database" | "request" | "side" | "samples">
): RequestResult => ({
  ...base,
  p50: median(base.samples.map((sample) => sample.p50)),
  p99: median(base.samples.map((sample) => sample.p99)),
  requestsPerSecond: median(base.samples.map((sample) => sample.requestsPerSecond)),
  cpuMicrosPerRequest: median(base.samples.map((sample) => (sample.serverCpuSeconds / sample.requests) * 1e6))
})

export const requestRatios = (results: ReadonlyArray<RequestResult>): ReadonlyArray<RequestRatio> =>
  results
    .filter((result) => result.side === "ferry")
    .flatMap((ferry) => {
      const peer = results.find(
        (result) => result.side === "peer" && result.database === ferry.database && result.request === ferry.request
      )
      return peer === undefined
        ? []
        : [
            {
              database: ferry.database,
              request: ferry.request,
              p50: ferry.p50 / peer.p50,
              p99: ferry.p99 / peer.p99,
              requestsPerSecond: ferry.requestsPerSecond / peer.requestsPerSecond,
              cpuPerRequest: ferry.cpuMicrosPerRequest / peer.cpuMicrosPerRequest
            }
          ]
    })

const MIB = 1024 * 1024

const fixed = (n: number, digits: number): string =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
const count = (n: number): string => Math.round(n).toLocaleString("en-US")
export const times = (ratio: number): string => `×${fixed(ratio, ratio >= 10 ? 0 : ratio >= 1 ? 1 : 2)}`
const millis = (ms: number): string => fixed(ms, ms >= 100 ? 0 : ms >= 10 ? 1 : 2)

const SIDE_NAME: Record<Side, string> = { ferry: "Ferry", peer: "node:http peer" }
const DATABASE_NAME: Record<DatabaseKind, string> = { sqlite: "SQLite", postgres: "PostgreSQL" }

const aligned = (header: ReadonlyArray<string>, lines: ReadonlyArray<ReadonlyArray<string>>, left: number): string => {
  const widths = header.map((title, c) => Math.max(title.length, ...lines.map((line) => line[c]!.length)))
  const format = (cells: ReadonlyArray<string>) =>
    cells.map((cell, c) => (c < left ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ")
  return [format(header), widths.map((width) => "-".repeat(width)).join("  "), ...lines.map(format)].join("\n")
}

/** Each request on each side; a Ferry row carries its ratios to the peer's. */
export const requestTable = (results: ReadonlyArray<RequestResult>): string => {
  const all = requestRatios(results)
  const header = ["database", "request", "side", "p50 ms", "p99 ms", "req/s", "CPU µs/req", "p50 ×", "p99 ×", "req/s ×"]
  const lines = results.map((result) => {
    const ratio =
      result.side === "ferry"
        ? all.find((r) => r.database === result.database && r.request === result.request)
        : undefined
    return [
      DATABASE_NAME[result.database],
      result.request,
      SIDE_NAME[result.side],
      millis(result.p50),
      millis(result.p99),
      count(result.requestsPerSecond),
      count(result.cpuMicrosPerRequest),
      ratio === undefined ? "" : times(ratio.p50),
      ratio === undefined ? "" : times(ratio.p99),
      ratio === undefined ? "" : times(ratio.requestsPerSecond)
    ]
  })
  return aligned(header, lines, 3)
}

export const memoryLines = (memory: ReadonlyArray<ServerMemory>): ReadonlyArray<string> =>
  (["sqlite", "postgres"] as const).flatMap((database) => {
    const ferry = memory.find((entry) => entry.database === database && entry.side === "ferry")
    const peer = memory.find((entry) => entry.database === database && entry.side === "peer")
    if (ferry === undefined || peer === undefined) return []
    const mib = (bytes: number) => `${count(bytes / MIB)} MiB`
    return [
      `${DATABASE_NAME[database]}: server peak RSS Ferry ${mib(ferry.peakRssBytes)} (${mib(ferry.restRssBytes)} before the load), ` +
        `peer ${mib(peer.peakRssBytes)} (${mib(peer.restRssBytes)}): ${times(ferry.peakRssBytes / peer.peakRssBytes)}`
    ]
  })

export const schedulerTable = (results: ReadonlyArray<SchedulerResult>): string => {
  const header = [
    "database",
    "subscriptions",
    "tick → queued s",
    "ms per run",
    "runs queued/s",
    "planning s",
    "queue writes s",
    "rounds s"
  ]
  const lines = results.map((result) => [
    DATABASE_NAME[result.database],
    count(result.subscriptions),
    fixed(result.tickToQueuedSeconds, 2),
    fixed((result.tickToQueuedSeconds * 1000) / result.subscriptions, 2),
    count(result.subscriptions / result.tickToQueuedSeconds),
    fixed(median(result.rounds.map((round) => round.planSeconds)), 2),
    fixed(median(result.rounds.map((round) => round.requestSeconds)), 2),
    result.rounds.map((round) => fixed(round.tickToQueuedSeconds, 2)).join(", ")
  ])
  return aligned(header, lines, 1)
}
