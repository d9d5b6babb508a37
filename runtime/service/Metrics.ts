/**
 * The service's metrics, in Prometheus' text format for `/metrics`: runs by outcome and
 * how long they took, rows and bytes delivered per share and subscription, runs running
 * and queued, and how late the scheduler queues a tick's runs. Each layer holds its own
 * registry (prom-client's), so that two services in one process, or two tests, never
 * count into each other.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Prometheus from "prom-client"

export type RunOutcome = "succeeded" | "failed" | "canceled"

export interface Delivery {
  /** `provider/share` */
  readonly share: string
  /** `consumer/subscription` */
  readonly subscription: string
  readonly rows: number
  readonly bytes: number
}

export class Metrics extends Context.Tag("ferry/Metrics")<
  Metrics,
  {
    /** The exposition text of every metric. */
    readonly exposition: Effect.Effect<string>
    /** The `Content-Type` of `exposition`. */
    readonly contentType: string
    /** A run ended: counted by outcome, its duration observed. */
    readonly runEnded: (run: { readonly status: RunOutcome; readonly seconds: number }) => Effect.Effect<void>
    /** What a dataset of a run delivered. */
    readonly delivered: (delivery: Delivery) => Effect.Effect<void>
    /** The executor's current load. */
    readonly runsInFlight: (counts: { readonly running: number; readonly queued: number }) => Effect.Effect<void>
    /** From a schedule tick's due time to its runs queued. */
    readonly schedulerLag: (seconds: number) => Effect.Effect<void>
  }
>() {}

/** Seconds: from a quick incremental run to a long full snapshot. */
const RUN_BUCKETS = [0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600]
/** Seconds: a tick queued at once, after a busy moment, or at start after downtime. */
const LAG_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 3600]

export const make: Effect.Effect<Metrics["Type"]> = Effect.sync(() => {
  const registry = new Prometheus.Registry()
  Prometheus.collectDefaultMetrics({ register: registry })
  const runs = new Prometheus.Counter({
    name: "ferry_runs_total",
    help: "Runs ended, by status (succeeded, failed, canceled).",
    labelNames: ["status"] as const,
    registers: [registry]
  })
  const duration = new Prometheus.Histogram({
    name: "ferry_run_duration_seconds",
    help: "How long runs took, from start to end, by status.",
    labelNames: ["status"] as const,
    buckets: RUN_BUCKETS,
    registers: [registry]
  })
  const rows = new Prometheus.Counter({
    name: "ferry_delivered_rows_total",
    help: "Rows delivered, by share (provider/share) and subscription (consumer/subscription).",
    labelNames: ["share", "subscription"] as const,
    registers: [registry]
  })
  const bytes = new Prometheus.Counter({
    name: "ferry_delivered_bytes_total",
    help: "Bytes delivered, by share (provider/share) and subscription (consumer/subscription).",
    labelNames: ["share", "subscription"] as const,
    registers: [registry]
  })
  const running = new Prometheus.Gauge({
    name: "ferry_runs_running",
    help: "Runs going now.",
    registers: [registry]
  })
  const queued = new Prometheus.Gauge({
    name: "ferry_runs_queued",
    help: "Runs requested and waiting for the executor.",
    registers: [registry]
  })
  const lag = new Prometheus.Histogram({
    name: "ferry_scheduler_lag_seconds",
    help: "From a schedule tick's due time to its runs queued.",
    buckets: LAG_BUCKETS,
    registers: [registry]
  })
  for (const status of ["succeeded", "failed", "canceled"] as const) runs.inc({ status }, 0)
  return Metrics.of({
    contentType: registry.contentType,
    exposition: Effect.promise(() => registry.metrics()),
    runEnded: ({ seconds, status }) =>
      Effect.sync(() => {
        runs.inc({ status })
        duration.observe({ status }, seconds)
      }),
    delivered: ({ bytes: byteCount, rows: rowCount, share, subscription }) =>
      Effect.sync(() => {
        rows.inc({ share, subscription }, rowCount)
        bytes.inc({ share, subscription }, byteCount)
      }),
    runsInFlight: (counts) =>
      Effect.sync(() => {
        running.set(counts.running)
        queued.set(counts.queued)
      }),
    schedulerLag: (seconds) => Effect.sync(() => lag.observe(Math.max(0, seconds)))
  })
})

export const layer: Layer.Layer<Metrics> = Layer.effect(Metrics, make)
