import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import { v7 as uuidv7 } from "uuid"
import type { Actor, Spec } from "../../../runtime/control/ControlStore.js"
import { ControlStore } from "../../../runtime/control/ControlStore.js"
import { Executor } from "../../../runtime/service/Executor.js"
import { Metrics } from "../../../runtime/service/Metrics.js"
import * as Scheduler from "../../../runtime/service/Scheduler.js"
import type { Run } from "../../../runtime/state/StateStore.js"
import { StateStore } from "../../../runtime/state/StateStore.js"
import { gateCounts, openGate } from "../../fixtures/plugins/gate-plugin.js"
import type { ServiceSpace } from "./ServiceSupport.js"
import {
  CONFIG_ACTOR,
  executorLayer,
  GATED_CUSTOMERS,
  gatedSettings,
  mappingPerSubscription,
  seed,
  serviceSpace,
  storesLayer
} from "./ServiceSupport.js"

const FABRIKAM: Actor = { kind: "account", account: "fabrikam" }
const HEADER = "id,name,updated_at\n"

type Services = Executor | ControlStore | StateStore | Metrics

/** Polls `check` in real time (the test's clock stands still unless moved), for at most 30 seconds. */
const until = <E, R>(what: string, check: Effect.Effect<boolean, E, R>) =>
  Effect.gen(function* () {
    const started = Date.now()
    while (!(yield* check)) {
      if (Date.now() - started > 30_000) return yield* Effect.die(new Error(`timed out: ${what}`))
      yield* TestServices.provideLive(Effect.sleep("10 millis"))
    }
  })

const lastTick = Effect.flatMap(ControlStore, (control) => Effect.orDie(control.lastTick("contoso", "retail")))

const tickIs = (iso: string) => Effect.map(lastTick, (tick) => Option.isSome(tick) && tick.value.toISOString() === iso)

const runsOf = (subscription: string): Effect.Effect<ReadonlyArray<Run>, never, StateStore> =>
  Effect.flatMap(StateStore, (state) =>
    Effect.orDie(state.listRuns({ subscription: `fabrikam/${subscription}`, limit: 100 }))
  )

const endedRuns = (subscription: string, count: number) =>
  until(
    `${count} ended runs of ${subscription}`,
    Effect.map(runsOf(subscription), (runs) => runs.filter((run) => run.status !== "running").length >= count)
  )

/**
 * The control store seeded, then the executor and the scheduler over it, with the test
 * clock at `at`, and log messages collected; the folder goes afterwards.
 */
const withScheduler = <A, E>(
  at: string,
  prepare: (space: ServiceSpace) => Effect.Effect<void, unknown, ControlStore>,
  use: (space: ServiceSpace, logs: ReadonlyArray<string>) => Effect.Effect<A, E, Services | Scope.Scope>
) =>
  Effect.acquireUseRelease(
    Effect.sync(serviceSpace),
    (space) =>
      Effect.gen(function* () {
        yield* TestClock.setTime(Date.parse(at))
        yield* prepare(space).pipe(Effect.provide(storesLayer(space)), Effect.orDie)
        const logs: Array<string> = []
        const collect = Logger.replace(
          Logger.defaultLogger,
          Logger.make(({ message }) => void logs.push(Array.isArray(message) ? message.join(" ") : String(message)))
        )
        return yield* Effect.scoped(use(space, logs)).pipe(
          Effect.provide(Layer.provideMerge(Scheduler.layer(), executorLayer(space, { poll: "1 day" }))),
          Effect.provide(collect)
        )
      }),
    (space) => Effect.sync(space.remove)
  )

const scheduled = (schedule: Spec, subscriptions: ReadonlyArray<string>) =>
  seed({ schedule, trigger: "schedule", subscriptions, mappings: mappingPerSubscription })

describe("Scheduler", () => {
  it.effect("queues an incremental run of each scheduled subscription at each cron tick, and none before", () =>
    withScheduler(
      "2026-03-02T10:07:00Z",
      (space) =>
        Effect.gen(function* () {
          space.write("customers.csv", `${HEADER}1,ann,2026-01-01T00:00:01Z\n`)
          yield* scheduled({ cron: "*/15 * * * *" }, ["a", "b"])
          const control = yield* ControlStore
          yield* control.putSubscription(CONFIG_ACTOR, {
            account: "fabrikam",
            name: "m",
            provider: "contoso",
            share: "retail",
            trigger: "manual"
          })
          yield* control.putMapping(CONFIG_ACTOR, {
            account: "fabrikam",
            subscription: "m",
            ...mappingPerSubscription("m")[0]!
          })
        }),
      () =>
        Effect.gen(function* () {
          // First seen at 10:07: the share's ticks start from there.
          yield* until("the first pass", tickIs("2026-03-02T10:07:00.000Z"))
          expect(yield* runsOf("a")).toEqual([])

          yield* TestClock.adjust("7 minutes")
          yield* TestServices.provideLive(Effect.sleep("100 millis"))
          expect(yield* runsOf("a")).toEqual([])

          yield* TestClock.adjust("1 minute")
          yield* until("the 10:15 tick", tickIs("2026-03-02T10:15:00.000Z"))
          yield* endedRuns("a", 1)
          yield* endedRuns("b", 1)
          for (const subscription of ["a", "b"]) {
            expect(yield* runsOf(subscription)).toMatchObject([{ mode: "incremental", status: "succeeded" }])
          }
          expect(yield* runsOf("m")).toEqual([])

          yield* TestClock.adjust("15 minutes")
          yield* until("the 10:30 tick", tickIs("2026-03-02T10:30:00.000Z"))
          yield* endedRuns("a", 2)
          expect(yield* runsOf("a")).toHaveLength(2)
          const requests = yield* Effect.flatMap(ControlStore, (control) =>
            Effect.orDie(control.listAudit({ account: "fabrikam" }, { limit: 100 }))
          )
          expect(requests.items.filter((entry) => entry.action === "run.request").map((entry) => entry.actor)).toEqual([
            "service",
            "service",
            "service",
            "service"
          ])
          const text = yield* Effect.flatMap(Metrics, (metrics) => metrics.exposition)
          expect(text).toContain("ferry_scheduler_lag_seconds_count 2")
          expect(text).toContain('ferry_scheduler_lag_seconds_bucket{le="0.01"} 2')
        })
    )
  )

  it.effect("skips, with a log line, a subscription whose run is still going, and queues the others", () => {
    const gate = `tick-${uuidv7()}`
    return withScheduler(
      "2026-03-02T10:07:00Z",
      () =>
        Effect.gen(function* () {
          yield* seed({
            schedule: { cron: "*/15 * * * *" },
            trigger: "schedule",
            subscriptions: ["a", "b"],
            mappings: mappingPerSubscription,
            stores: [{ account: "contoso", name: "slow", type: "gated_memory", settings: gatedSettings(gate, 2) }],
            datasets: [{ name: "customers", spec: GATED_CUSTOMERS }]
          })
        }),
      (_space, logs) =>
        Effect.gen(function* () {
          yield* until("the first pass", tickIs("2026-03-02T10:07:00.000Z"))
          const executor = yield* Executor
          const going = yield* executor.synchronize(FABRIKAM, {
            account: "fabrikam",
            subscription: "a",
            mode: "full"
          })
          yield* until(
            "a's run at the gate",
            Effect.sync(() => gateCounts(gate).waiting === 1)
          )

          yield* TestClock.adjust("8 minutes")
          yield* until("the 10:15 tick", tickIs("2026-03-02T10:15:00.000Z"))
          yield* until(
            "b's run at the gate",
            Effect.sync(() => gateCounts(gate).waiting === 2)
          )
          expect(logs).toContain("Skipped fabrikam/a at the tick of contoso/retail: a run of it is queued or going")
          expect(
            logs.some((line) => /^Queued run \S+ of fabrikam\/b for the tick of contoso\/retail$/.test(line))
          ).toBe(true)

          yield* openGate(gate)
          yield* endedRuns("a", 1)
          yield* endedRuns("b", 1)
          expect((yield* runsOf("a")).map((run) => run.runId)).toEqual([going.runId])
        })
    )
  })

  it.effect("runs the ticks missed while the service was down once at start, not once per missed tick", () =>
    withScheduler(
      "2026-03-02T10:07:00Z",
      (space) =>
        Effect.gen(function* () {
          space.write("customers.csv", `${HEADER}1,ann,2026-01-01T00:00:01Z\n`)
          yield* scheduled({ every: "hour", at: "00:00" }, ["feed"])
          const control = yield* ControlStore
          // The service last ticked at 06:00; 07:00, 08:00, 09:00 and 10:00 went by while it was down.
          yield* control.recordTick("contoso", "retail", new Date("2026-03-02T06:00:00Z"))
        }),
      () =>
        Effect.gen(function* () {
          yield* until("the catch-up tick", tickIs("2026-03-02T10:00:00.000Z"))
          yield* endedRuns("feed", 1)
          yield* TestServices.provideLive(Effect.sleep("200 millis"))
          expect(yield* runsOf("feed")).toHaveLength(1)
          const text = yield* Effect.flatMap(Metrics, (metrics) => metrics.exposition)
          // Queued at 10:07 for the tick due at 10:00: seven minutes late.
          expect(text).toContain('ferry_scheduler_lag_seconds_bucket{le="300"} 0')
          expect(text).toContain('ferry_scheduler_lag_seconds_bucket{le="3600"} 1')
          expect(text).toContain("ferry_scheduler_lag_seconds_sum 420")

          yield* TestClock.adjust("53 minutes")
          yield* until("the 11:00 tick", tickIs("2026-03-02T11:00:00.000Z"))
          yield* endedRuns("feed", 2)
          expect(yield* runsOf("feed")).toHaveLength(2)
        })
    )
  )
})
