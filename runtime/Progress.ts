/**
 * Progress of a run as people read it: on a terminal, one live line per dataset in
 * flight (rows, bytes, rate), redrawn a few times a second; otherwise (CI, logs, a
 * pipe) nothing until a dataset ends, then one summary line for it.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Progress } from "../core/Transfer.js"

export interface DatasetOutcome extends Progress {
  readonly status: "succeeded" | "failed" | "canceled"
  readonly mode: "full" | "incremental"
  readonly seconds: number
  readonly message?: string
}

export class ProgressDisplay extends Context.Tag("ferry/ProgressDisplay")<
  ProgressDisplay,
  {
    readonly start: (label: string) => Effect.Effect<void>
    readonly update: (label: string, progress: Progress) => Effect.Effect<void>
    readonly finish: (label: string, outcome: DatasetOutcome) => Effect.Effect<void>
    /** Prints a line above the live ones, e.g. a run's heading or a warning. */
    readonly note: (line: string) => Effect.Effect<void>
  }
>() {}

/**
 * A count with its thousands grouped by commas, as en-US writes them. By hand: the first
 * `toLocaleString` of a process loads ICU's locale data, 25 ms of every run's end.
 */
export const formatCount = (n: number): string =>
  Number.isSafeInteger(n) ? String(n).replace(/\B(?=(\d{3})+$)/g, ",") : n.toLocaleString("en-US")

export const formatBytes = (bytes: number): string => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"]
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`
}

/** Rates over less than a second say more about start-up than about throughput. */
const formatRate = (progress: Progress, seconds: number): string =>
  seconds < 1
    ? ""
    : progress.rows > 0
      ? `${formatCount(Math.round(progress.rows / seconds))} rows/s`
      : `${formatBytes(Math.round(progress.bytes / seconds))}/s`

const plural = (n: number, word: string) => `${formatCount(n)} ${word}${n === 1 ? "" : "s"}`

const describe = (progress: Progress): string =>
  [
    progress.rows > 0 || progress.files === 0 ? plural(progress.rows, "row") : undefined,
    progress.files > 0 ? plural(progress.files, "file") : undefined,
    formatBytes(progress.bytes)
  ]
    .filter((part) => part !== undefined)
    .join(", ")

/** The summary line of a finished dataset. */
export const summaryLine = (label: string, outcome: DatasetOutcome): string => {
  const mark = outcome.status === "succeeded" ? "ok" : outcome.status === "canceled" ? "canceled" : "FAILED"
  const head = `${mark.padEnd(6)} ${label} (${outcome.mode})`
  if (outcome.status !== "succeeded") return `${head}: ${outcome.message ?? "no reason given"}`
  if (outcome.rows === 0 && outcome.files === 0 && outcome.message !== undefined) return `${head}: ${outcome.message}`
  const rate = formatRate(outcome, outcome.seconds)
  return `${head}: ${describe(outcome)} in ${outcome.seconds.toFixed(1)} s${rate === "" ? "" : ` (${rate})`}${
    outcome.message === undefined ? "" : `; ${outcome.message}`
  }`
}

const REDRAW_MS = 200

/** Live lines on a terminal. log-update is imported only then: runs into logs and pipes need not load it. */
const terminal = Effect.gen(function* () {
  const { default: logUpdate } = yield* Effect.promise(() => import("log-update"))
  const active = new Map<string, { started: number; progress: Progress }>()
  let lastDraw = 0
  const draw = (force: boolean) => {
    const now = Date.now()
    if (!force && now - lastDraw < REDRAW_MS) return
    lastDraw = now
    logUpdate(
      [...active.entries()]
        .map(([label, { progress, started }]) => {
          const rate = formatRate(progress, (now - started) / 1000)
          return `  ${label}: ${describe(progress)}${rate === "" ? "" : `, ${rate}`}`
        })
        .join("\n")
    )
  }
  const above = (line: string) => {
    logUpdate.clear()
    process.stdout.write(`${line}\n`)
    draw(true)
  }
  yield* Effect.addFinalizer(() => Effect.sync(() => logUpdate.done()))
  return ProgressDisplay.of({
    start: (label) =>
      Effect.sync(() => {
        active.set(label, { started: Date.now(), progress: { rows: 0, bytes: 0, files: 0 } })
        draw(true)
      }),
    update: (label, progress) =>
      Effect.sync(() => {
        const entry = active.get(label)
        if (entry !== undefined) entry.progress = progress
        draw(false)
      }),
    finish: (label, outcome) =>
      Effect.sync(() => {
        active.delete(label)
        above(summaryLine(label, outcome))
      }),
    note: (line) => Effect.sync(() => above(line))
  })
})

/** Summary lines only, one per finished dataset, for logs and pipes. */
const plain = (write: (line: string) => void) =>
  ProgressDisplay.of({
    start: () => Effect.void,
    update: () => Effect.void,
    finish: (label, outcome) => Effect.sync(() => write(summaryLine(label, outcome))),
    note: (line) => Effect.sync(() => write(line))
  })

/** Live lines when stdout is a terminal, summary lines otherwise. */
export const layer = Layer.scoped(
  ProgressDisplay,
  process.stdout.isTTY === true ? terminal : Effect.succeed(plain((line) => process.stdout.write(`${line}\n`)))
)

/** Collects the lines, for tests. */
export const layerCollect = (lines: Array<string>) =>
  Layer.succeed(
    ProgressDisplay,
    plain((line) => lines.push(line))
  )
