/**
 * The PostgreSQL benchmark's verdicts: each job's rate against psql's, whole run and
 * transfer alone, next to the targets; peak RSS against its bound and from N
 * to 5×N rows; and what the incremental run read and how.
 */
import type { JobName } from "./Jobs.js"
import type { IncrementalResult } from "./PostgresJobs.js"
import type { Sample, SideResult } from "./Report.js"
import { summarise } from "./Report.js"

const MIB = 1024 * 1024

/** Ferry's rate over psql's, at least this. */
export const RATE_TARGETS: Partial<Record<JobName, number>> = { "pg-to-csv": 0.9, "pg-to-parquet": 0.5 }
/** Ferry's peak RSS below this, in MiB. */
export const RSS_TARGET_MIB = 300
/** Peak RSS at 5×N rows within this factor of N's. */
export const FLAT_RSS_FACTOR = 1.2

const count = (n: number): string => Math.round(n).toLocaleString("en-US")
const times = (ratio: number): string => `×${ratio.toFixed(2)}`
const verdict = (met: boolean): string => (met ? "met" : "NOT met")

const peerOf = (results: ReadonlyArray<SideResult>, ferry: SideResult): SideResult | undefined =>
  results.find((result) => !result.isFerry && result.job === ferry.job && result.count === ferry.count)

/** One line per job: rates against psql's, the targets, peak RSS. */
export const targetLines = (results: ReadonlyArray<SideResult>): ReadonlyArray<string> =>
  results
    .filter((result) => result.isFerry && result.job !== "pg-startup")
    .flatMap((ferry) => {
      const peer = peerOf(results, ferry)
      if (peer === undefined) return []
      const whole = peer.wallSeconds / ferry.wallSeconds
      const transfer = ferry.transferSeconds === undefined ? undefined : peer.wallSeconds / ferry.transferSeconds
      const target = RATE_TARGETS[ferry.job]
      const rss = ferry.peakRssBytes / MIB
      const parts = [
        `${ferry.title}, ${count(ferry.count)} rows: Ferry ${count(ferry.count / ferry.wallSeconds)} rows/s ` +
          `(${ferry.wallSeconds.toFixed(2)} s), ${peer.side} ${count(peer.count / peer.wallSeconds)} rows/s ` +
          `(${peer.wallSeconds.toFixed(2)} s): ${times(whole)} psql's rate`,
        transfer === undefined
          ? undefined
          : `transfer alone (${ferry.transferSeconds!.toFixed(2)} s as ferry run reports it, start-up excluded): ${times(transfer)}`,
        target === undefined
          ? undefined
          : `target ≥ ×${target}: ${verdict(whole >= target)} for the whole run` +
            (transfer === undefined ? "" : `, ${verdict(transfer >= target)} for the transfer alone`),
        `peak RSS ${rss.toFixed(0)} MiB (< ${RSS_TARGET_MIB} MiB: ${verdict(rss < RSS_TARGET_MIB)})`
      ]
      return [parts.filter((part) => part !== undefined).join("; ")]
    })

export interface PostgresScaleCheck {
  readonly rows: readonly [number, number]
  readonly jobs: ReadonlyArray<{
    readonly job: JobName
    readonly ferryPeakRssRatio: number
    readonly peerPeakRssRatio: number
    readonly flat: boolean
    /** Rows per second between the two sizes (start-up cancels out), Ferry over psql. */
    readonly marginalRateRatio: number
  }>
}

/** Peak RSS and the marginal rate from N to 5×N rows, per job. */
export const postgresScaleLines = (
  results: ReadonlyArray<SideResult>,
  small: number,
  large: number
): { readonly check: PostgresScaleCheck; readonly lines: ReadonlyArray<string> } => {
  const find = (job: JobName, isFerry: boolean, rows: number) =>
    results.find((result) => result.job === job && result.isFerry === isFerry && result.count === rows)
  const jobs = [...new Set(results.map((result) => result.job))].flatMap((job) => {
    const sides = [find(job, true, small), find(job, true, large), find(job, false, small), find(job, false, large)]
    if (sides.some((side) => side === undefined)) return []
    const [ferrySmall, ferryLarge, peerSmall, peerLarge] = sides as [SideResult, SideResult, SideResult, SideResult]
    const ferryPeakRssRatio = ferryLarge.peakRssBytes / ferrySmall.peakRssBytes
    const marginal = (a: SideResult, b: SideResult) => (large - small) / (b.wallSeconds - a.wallSeconds)
    return [
      {
        job,
        title: ferrySmall.title,
        ferryPeakRssRatio,
        peerPeakRssRatio: peerLarge.peakRssBytes / peerSmall.peakRssBytes,
        flat: ferryPeakRssRatio <= FLAT_RSS_FACTOR,
        marginalRateRatio: marginal(ferrySmall, ferryLarge) / marginal(peerSmall, peerLarge),
        rss: [ferrySmall.peakRssBytes / MIB, ferryLarge.peakRssBytes / MIB]
      }
    ]
  })
  return {
    check: {
      rows: [small, large],
      jobs: jobs.map(({ rss: _rss, title: _title, ...job }) => job)
    },
    lines: jobs.map(
      (job) =>
        `scale check, ${job.title}: Ferry's peak RSS ${job.rss[0]!.toFixed(0)} MiB at ${count(small)} rows, ` +
        `${job.rss[1]!.toFixed(0)} MiB at ${count(large)}: ${times(job.ferryPeakRssRatio)} ` +
        `(${job.flat ? "flat" : "NOT flat"}, target ≤ ×${FLAT_RSS_FACTOR}); rate between the two sizes ` +
        `(start-up cancels out) ${times(job.marginalRateRatio)} psql's`
    )
  }
}

const roundSample = (measurement: IncrementalResult["rounds"][number]["ferry"]): Sample => ({
  wallSeconds: measurement.wallSeconds,
  cpuSeconds: measurement.cpuSeconds,
  peakRssBytes: measurement.peakRssBytes,
  method: measurement.method,
  loadBefore: measurement.loadBefore,
  ...(measurement.transferSeconds === undefined ? {} : { transferSeconds: measurement.transferSeconds })
})

/** The incremental rounds as rows of the results table (the rows counted are the changed ones). */
export const incrementalResults = (result: IncrementalResult): ReadonlyArray<SideResult> =>
  (["ferry", "psql"] as const).map((side) =>
    summarise({
      job: "pg-incremental",
      title: "incremental, 1,000 changed",
      side: side === "ferry" ? "ferry" : "psql \\copy (… WHERE updated_at > …)",
      isFerry: side === "ferry",
      unit: "rows",
      count: result.changed,
      inputBytes: 0,
      samples: result.rounds.map((round) => roundSample(round[side]))
    })
  )

/** Rows read, time, scan counters and the plans of the statements Ferry sent. */
export const incrementalLines = (result: IncrementalResult): ReadonlyArray<string> => {
  const lines: Array<string> = []
  for (const [i, round] of result.rounds.entries()) {
    const { after, before } = round.scans
    lines.push(
      `incremental round ${i + 1}: Ferry read ${count(round.ferry.rowsRead)} rows of ${count(result.rows)} in ` +
        `${round.ferry.wallSeconds.toFixed(2)} s (${round.ferry.transferSeconds?.toFixed(2) ?? "?"} s as ferry run reports it); ` +
        `psql ${count(round.psql.rowsRead)} rows in ${round.psql.wallSeconds.toFixed(2)} s. ` +
        `During Ferry's run the table had ${after.seqScan - before.seqScan} sequential scans ` +
        `(${count(after.seqTupRead - before.seqTupRead)} rows read by them) and ${after.idxScan - before.idxScan} index scans ` +
        `(${count(after.idxTupFetch - before.idxTupFetch)} rows fetched)`
    )
  }
  const scanned = result.rounds.some((round) => round.scans.after.seqScan !== round.scans.before.seqScan)
  const seqPlans = result.plans.filter((plan) => plan.plan.some((line) => line.includes("Seq Scan")))
  lines.push(
    `incremental verdict: ${scanned || seqPlans.length > 0 ? "the table WAS scanned" : "the table was not scanned"} ` +
      `(sequential scans during Ferry's runs: ${scanned ? "some" : "none"}; plans with a Seq Scan: ${seqPlans.length} of ${result.plans.length})`
  )
  for (const plan of result.plans) {
    lines.push(`  ${plan.sql}`)
    for (const line of plan.plan) lines.push(`    ${line}`)
  }
  return lines
}
