/**
 * The scheduler's part of the service benchmark: one share of `contoso` scheduled every
 * hour, and 1,000 subscriptions of `fabrikam` to it with `trigger: schedule`. The real
 * Scheduler and ExecutorLive layers run in this process on the real state store (its
 * own settings: SQLite with synchronous FULL, a PostgreSQL pool), and the time measured
 * is from the moment the scheduler handles the share's tick (it reads the share's
 * scheduled subscriptions) to the moment the 1,000th run request is committed to the
 * queue. For each subscription that is `Executor.synchronize`: the subscription read,
 * the subscription planned by the config loader, the run request written (a transaction
 * with its audit entry), the executor woken (which reads the queue).
 *
 * The tick is one missed while the service was down (the share's last tick is two hours
 * old), which the scheduler handles as soon as it starts, so no measurement waits for
 * the clock. The runs must not run while the queue is written: the share's dataset
 * reads a `parked` store, whose reads never start, so the executor takes `limits.runs`
 * (4) requests and their runs wait there, and the other requests stay queued. Closing
 * the layers cancels the parked runs.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as SqlClient from "@effect/sql/SqlClient"
import type { Plugin } from "../../core/Plugin.js"
import type { SourceConnector } from "../../core/Source.js"
import { builtins } from "../../runtime/Builtins.js"
import type { Actor } from "../../runtime/control/ControlStore.js"
import * as ControlStore from "../../runtime/control/ControlStore.js"
import * as ExecutorLive from "../../runtime/service/ExecutorLive.js"
import * as Metrics from "../../runtime/service/Metrics.js"
import * as Planner from "../../runtime/service/Planner.js"
import * as Scheduler from "../../runtime/service/Scheduler.js"
import type { ApiDatabase } from "./ApiSeed.js"
import { CONSUMER, DATASET, logToFile, PROVIDER, seedingLayer, storesLayer } from "./ApiSeed.js"
import { BenchmarkError } from "./Measure.js"

/** A store whose sessions never open: a run reading it waits until it is canceled. */
const ParkedStore = Schema.Struct({})
const ParkedDataset = Schema.Struct({ table: Schema.String })

const parkedSource: SourceConnector<typeof ParkedStore.Type, typeof ParkedDataset.Type, unknown> = {
  type: "parked",
  description: "A store whose reads never start (the service benchmark's runs wait there).",
  storeConfig: ParkedStore,
  datasetConfig: ParkedDataset,
  watermark: Schema.Unknown,
  open: () => Effect.never
}

const parkedPlugin: Plugin = { name: "benchmark-parked", sources: [parkedSource] }

export const SCHEDULED_SUBSCRIPTIONS = 1_000
/** The executor's default `limits.runs` and `limits.concurrency`. */
const LIMITS = { runs: 4, concurrency: 4 }

const ACTOR: Actor = { kind: "config", file: "benchmark.yaml" }
const SHARE = "hourly"

export const scheduledName = (i: number) => `scheduled-${String(i).padStart(4, "0")}`

const seedScheduled = (subscriptions: number) =>
  Effect.gen(function* () {
    const control = yield* ControlStore.ControlStore
    yield* control.putAccount(ACTOR, { name: PROVIDER })
    yield* control.putAccount(ACTOR, { name: CONSUMER })
    yield* control.putStore(ACTOR, { account: PROVIDER, name: "desk", type: "parked", settings: {} })
    yield* control.putStore(ACTOR, { account: CONSUMER, name: "out", type: "local", settings: { root: "./out" } })
    yield* control.putShare(ACTOR, {
      account: PROVIDER,
      name: SHARE,
      kind: "snapshot",
      schedule: { every: "hour", at: "00:00" }
    })
    yield* control.putDataset(ACTOR, {
      account: PROVIDER,
      share: SHARE,
      name: DATASET,
      spec: { source: { store: "desk", table: "orders" } }
    })
    for (let i = 0; i < subscriptions; i++) {
      const name = scheduledName(i)
      yield* control.putSubscription(ACTOR, {
        account: CONSUMER,
        name,
        provider: PROVIDER,
        share: SHARE,
        trigger: "schedule"
      })
      yield* control.putMapping(ACTOR, {
        account: CONSUMER,
        subscription: name,
        dataset: DATASET,
        spec: { store: "out", path: `${name}/`, format: "csv" }
      })
    }
    // A tick two hours ago: the next one is due, missed while the service was down.
    yield* control.recordTick(PROVIDER, SHARE, new Date(Date.now() - 2 * 3_600_000))
  })

export interface SchedulerRound {
  readonly subscriptions: number
  /** From the scheduler handling the tick to the last run request committed. */
  readonly tickToQueuedSeconds: number
  /** From starting the layers to the scheduler handling the tick (the executor's start, reading the shares). */
  readonly startSeconds: number
  /** Runs recorded: requests the executor took, whose runs waited at the parked store until canceled. */
  readonly taken: number
  /** Requests still queued once the layers closed. */
  readonly queued: number
  /**
   * Requests neither queued nor recorded as runs once the layers closed: taken from the
   * queue while the executor stopped, after its runs were canceled, and dropped.
   */
  readonly lost: number
  /** Time spent planning subscriptions (the config loader), summed over the calls. */
  readonly planSeconds: number
  /** Time spent writing run requests (each a transaction with its audit entry), summed over the calls. */
  readonly requestSeconds: number
  /** How often the executor read the queue while it was written, and the requests those reads returned. */
  readonly queueReads: number
  readonly queueRowsRead: number
  readonly seedSeconds: number
}

/** Seeds a fresh database with the scheduled share, then measures one tick. */
export const schedulerRound = async (
  db: ApiDatabase,
  dir: string,
  log: string,
  subscriptions: number = SCHEDULED_SUBSCRIPTIONS
): Promise<SchedulerRound> => {
  const seedStarted = performance.now()
  await Effect.runPromise(
    seedScheduled(subscriptions).pipe(Effect.provide(seedingLayer(db)), Effect.provide(logToFile(log)))
  )
  const seedSeconds = (performance.now() - seedStarted) / 1000

  const program = Effect.gen(function* () {
    const real = yield* ControlStore.ControlStore
    const done = yield* Deferred.make<void>()
    let tick: number | undefined
    let committed = 0
    let last = 0
    const spent = { plan: 0, request: 0, queueReads: 0, queueRowsRead: 0 }
    /** The effect, its wall time added to `spent[key]`. */
    const timed = <A, E, R>(key: "plan" | "request", effect: Effect.Effect<A, E, R>) =>
      Effect.suspend(() => {
        const from = performance.now()
        return Effect.ensuring(
          effect,
          Effect.sync(() => void (spent[key] += performance.now() - from))
        )
      })
    const instrumented = ControlStore.ControlStore.of({
      ...real,
      pendingRunRequests: () =>
        Effect.tap(real.pendingRunRequests(), (pending) =>
          Effect.sync(() => {
            spent.queueReads++
            spent.queueRowsRead += pending.length
          })
        ),
      scheduledSubscriptions: (provider, share) =>
        Effect.suspend(() => {
          tick ??= performance.now()
          return real.scheduledSubscriptions(provider, share)
        }),
      requestRun: (actor, request) =>
        Effect.tap(timed("request", real.requestRun(actor, request)), () =>
          Effect.suspend(() => {
            committed++
            if (committed < subscriptions) return Effect.void
            last = performance.now()
            return Deferred.succeed(done, undefined)
          })
        )
    })
    const planner = Layer.effect(
      Planner.Planner,
      Effect.map(Planner.make({ builtins: [...builtins, parkedPlugin], baseDir: dir }), (made) =>
        Planner.Planner.of({ ...made, plan: (subscription) => timed("plan", made.plan(subscription)) })
      )
    )
    const running = ExecutorLive.layer(LIMITS).pipe(
      Layer.provideMerge(planner),
      Layer.provideMerge(Layer.merge(Layer.succeed(ControlStore.ControlStore, instrumented), Metrics.layer))
    )
    const service = Scheduler.layer().pipe(Layer.provideMerge(running))
    const started = performance.now()
    yield* Effect.scoped(
      Effect.gen(function* () {
        yield* Layer.build(service)
        yield* Deferred.await(done).pipe(
          Effect.timeoutFail({
            duration: "10 minutes",
            onTimeout: () =>
              new BenchmarkError({
                message: `the scheduler queued ${committed} of ${subscriptions} runs in 10 minutes`
              })
          })
        )
      })
    )
    // The layers are closed: the parked runs are recorded canceled, the other requests should still be queued.
    const sql = yield* SqlClient.SqlClient
    const count = (query: Effect.Effect<ReadonlyArray<{ readonly n: number | string }>, unknown>) =>
      Effect.map(Effect.orDie(query), (rows) => Number(rows[0]?.n ?? 0))
    const written = yield* count(sql`SELECT COUNT(*) AS n FROM audit_log WHERE action = 'run.request'`)
    const queued = yield* count(sql`SELECT COUNT(*) AS n FROM run_requests`)
    const taken = yield* count(sql`SELECT COUNT(*) AS n FROM runs`)
    if (written !== subscriptions) {
      return yield* new BenchmarkError({
        message: `the tick wrote ${written} run requests, not one for each of the ${subscriptions} subscriptions`
      })
    }
    return {
      subscriptions,
      tickToQueuedSeconds: (last - tick!) / 1000,
      startSeconds: (tick! - started) / 1000,
      taken,
      queued,
      lost: subscriptions - queued - taken,
      planSeconds: spent.plan / 1000,
      requestSeconds: spent.request / 1000,
      queueReads: spent.queueReads,
      queueRowsRead: spent.queueRowsRead,
      seedSeconds
    } satisfies SchedulerRound
  })
  return Effect.runPromise(program.pipe(Effect.provide(storesLayer(db)), Effect.provide(logToFile(log))))
}
