import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import { v7 as uuidv7 } from "uuid"
import type { Actor } from "../../../runtime/control/ControlStore.js"
import { ControlStore } from "../../../runtime/control/ControlStore.js"
import { Executor } from "../../../runtime/service/Executor.js"
import { Metrics } from "../../../runtime/service/Metrics.js"
import { StateStore } from "../../../runtime/state/StateStore.js"
import { gateCounts, openGate } from "../../fixtures/plugins/gate-plugin.js"
import { csvLines, dataFiles } from "../RunSupport.js"
import type { ServiceOptions, ServiceSpace } from "./ServiceSupport.js"
import {
  awaitRun,
  CONFIG_ACTOR,
  eventually,
  executorLayer,
  GATED_CUSTOMERS,
  gatedSettings,
  mappingPerSubscription,
  seed,
  serviceSpace,
  storesLayer
} from "./ServiceSupport.js"

const FABRIKAM: Actor = { kind: "account", account: "fabrikam" }
const CONTOSO: Actor = { kind: "account", account: "contoso" }

type Services = Executor | ControlStore | StateStore | Metrics

/** A test in a fresh folder with the executor running over it; the folder goes afterwards. */
const withService = <A, E>(
  use: (space: ServiceSpace) => Effect.Effect<A, E, Services | Scope.Scope>,
  options: ServiceOptions = {}
) =>
  Effect.acquireUseRelease(
    Effect.sync(serviceSpace),
    (space) => Effect.scoped(use(space)).pipe(Effect.provide(executorLayer(space, options))),
    (space) => Effect.sync(space.remove)
  )

const synchronize = (subscription: string, mode: "full" | "incremental") =>
  Effect.flatMap(Executor, (executor) => executor.synchronize(FABRIKAM, { account: "fabrikam", subscription, mode }))

const checkpoint = (subscription: string) =>
  Effect.flatMap(StateStore, (state) =>
    Effect.orDie(state.checkpoint({ subscription: `fabrikam/${subscription}`, dataset: "customers" }))
  )

const auditOf = (runId: string, account: string) =>
  Effect.flatMap(ControlStore, (control) =>
    Effect.orDie(control.listAudit({ account, resource: `run:${runId}` }, { limit: 100 }))
  ).pipe(Effect.map((page) => page.items.map((entry) => entry.action).reverse()))

const HEADER = "id,name,updated_at\n"

describe("Executor", () => {
  it.live("synchronizes Full then Incremental, with audit entries for both sides and metrics", () =>
    withService((space) =>
      Effect.gen(function* () {
        yield* seed()
        space.write("customers.csv", `${HEADER}1,ann,2026-01-01T00:00:01Z\n2,bob,2026-01-01T00:00:02Z\n`)
        const full = yield* synchronize("feed", "full")
        expect(full).toMatchObject({ account: "fabrikam", subscription: "feed", mode: "full", requestedBy: "fabrikam" })
        const first = yield* awaitRun(full.runId)
        expect(first).toMatchObject({ status: "succeeded", mode: "full", subscription: "fabrikam/feed" })
        expect(first.datasets).toMatchObject([{ dataset: "customers", status: "succeeded", rows: 2 }])
        expect(dataFiles(space.out("customers"))).toEqual([`part-00000-${full.runId}.csv`])

        fs.appendFileSync(space.src("customers.csv"), "3,cy,2026-01-01T00:00:03Z\n")
        const incremental = yield* synchronize("feed", "incremental")
        const second = yield* awaitRun(incremental.runId)
        expect(second).toMatchObject({ status: "succeeded", mode: "incremental" })
        expect(second.datasets).toMatchObject([{ status: "succeeded", rows: 1 }])
        expect(csvLines(space.out("customers"))).toHaveLength(3)
        expect(Option.map(yield* checkpoint("feed"), (c) => c.runId)).toEqual(Option.some(incremental.runId))

        for (const account of ["fabrikam", "contoso"]) {
          expect(yield* auditOf(full.runId, account)).toEqual(["run.request", "run.start", "run.succeed"])
        }
        const text = yield* Effect.flatMap(Metrics, (metrics) => metrics.exposition)
        expect(text).toContain('ferry_runs_total{status="succeeded"} 2')
        expect(text).toContain('ferry_delivered_rows_total{share="contoso/retail",subscription="fabrikam/feed"} 3')
        expect(text).toMatch(
          /^ferry_delivered_bytes_total\{share="contoso\/retail",subscription="fabrikam\/feed"\} [1-9]/m
        )
        expect(text).toContain('ferry_run_duration_seconds_count{status="succeeded"} 2')
      })
    )
  )

  it.live(
    "runs at most limits.runs at once, and refuses a second run of a subscription while one is queued or going",
    () =>
      withService(
        (_space) =>
          Effect.gen(function* () {
            const gate = `runs-${uuidv7()}`
            yield* seed({
              stores: [{ account: "contoso", name: "slow", type: "gated_memory", settings: gatedSettings(gate, 3) }],
              datasets: [{ name: "customers", spec: GATED_CUSTOMERS }],
              subscriptions: ["a", "b", "c"],
              mappings: mappingPerSubscription
            })
            const requests = [
              yield* synchronize("a", "full"),
              yield* synchronize("b", "full"),
              yield* synchronize("c", "full")
            ]
            yield* eventually("two runs at the gate", () => gateCounts(gate).waiting === 2)
            yield* Effect.sleep("200 millis")
            expect(gateCounts(gate)).toEqual({ waiting: 2, arrived: 2 })
            const control = yield* ControlStore
            expect((yield* Effect.orDie(control.pendingRunRequests())).map((r) => r.subscription)).toEqual(["c"])
            const metrics = yield* Metrics
            const text = yield* metrics.exposition
            expect(text).toContain("ferry_runs_running 2")
            expect(text).toContain("ferry_runs_queued 1")

            for (const subscription of ["a", "c"]) {
              const refused = yield* Effect.flip(synchronize(subscription, "incremental"))
              expect(refused).toMatchObject({
                _tag: "ConflictError",
                resource: `subscription:fabrikam/${subscription}`
              })
            }

            yield* openGate(gate)
            for (const request of requests) {
              expect(yield* awaitRun(request.runId)).toMatchObject({ status: "succeeded" })
            }
            expect(gateCounts(gate).arrived).toBe(3)
          }),
        { runs: 2 }
      )
  )

  it.live("cancels a queued run and a running one; watermarks stay, and the next run picks up", () =>
    withService(
      (space) =>
        Effect.gen(function* () {
          const first = `first-${uuidv7()}`
          const second = `second-${uuidv7()}`
          yield* seed({
            stores: [{ account: "contoso", name: "slow", type: "gated_memory", settings: gatedSettings(first, 3) }],
            datasets: [{ name: "customers", spec: GATED_CUSTOMERS }],
            subscriptions: ["a", "b"],
            mappings: mappingPerSubscription
          })
          const control = yield* ControlStore
          const executor = yield* Executor
          yield* openGate(first)
          const initial = yield* synchronize("a", "full")
          expect(yield* awaitRun(initial.runId)).toMatchObject({ status: "succeeded" })
          const watermark = yield* checkpoint("a")
          expect(Option.map(watermark, (c) => c.watermark)).toEqual(
            Option.some({ cursor: "2026-01-01T00:00:03Z", key: ["3"] })
          )

          // Two rows more, behind a closed gate; a's run waits there and b's waits in the queue (runs: 1).
          yield* Effect.orDie(
            control.putStore(CONFIG_ACTOR, {
              account: "contoso",
              name: "slow",
              type: "gated_memory",
              settings: gatedSettings(second, 5)
            })
          )
          const running = yield* synchronize("a", "incremental")
          yield* eventually("a's run at the gate", () => gateCounts(second).waiting === 1)
          const queued = yield* synchronize("b", "full")

          expect(yield* executor.cancel(FABRIKAM, queued.runId)).toBe(true)
          expect(yield* awaitRun(queued.runId)).toMatchObject({
            status: "canceled",
            message: "canceled by fabrikam before it started",
            datasets: []
          })
          expect(yield* Effect.orDie(control.pendingRunRequests())).toEqual([])

          expect(yield* executor.cancel(FABRIKAM, running.runId)).toBe(true)
          expect(yield* awaitRun(running.runId)).toMatchObject({
            status: "canceled",
            message: "canceled by fabrikam",
            datasets: [expect.objectContaining({ dataset: "customers", status: "canceled" })]
          })
          expect(gateCounts(second).waiting).toBe(0)
          expect(yield* checkpoint("a")).toEqual(watermark)
          expect(dataFiles(space.out("a"))).toEqual([`part-00000-${initial.runId}.csv`])
          expect(yield* executor.cancel(FABRIKAM, running.runId)).toBe(false)
          expect(yield* auditOf(running.runId, "contoso")).toEqual(["run.request", "run.start", "run.cancel"])
          expect(yield* auditOf(queued.runId, "fabrikam")).toEqual(["run.request", "run.cancel"])

          yield* openGate(second)
          const next = yield* synchronize("a", "incremental")
          expect(yield* awaitRun(next.runId)).toMatchObject({
            status: "succeeded",
            datasets: [expect.objectContaining({ rows: 2 })]
          })
          expect(csvLines(space.out("a")).map((line) => line.split(",")[0])).toEqual(["1", "2", "3", "4", "5"])
          const text = yield* Effect.flatMap(Metrics, (metrics) => metrics.exposition)
          expect(text).toContain('ferry_runs_total{status="canceled"} 2')
        }),
      { runs: 1 }
    )
  )

  it.live("a revoked subscription is refused, and its running run canceled", () =>
    withService(() =>
      Effect.gen(function* () {
        const gate = `revoke-${uuidv7()}`
        yield* seed({
          stores: [{ account: "contoso", name: "slow", type: "gated_memory", settings: gatedSettings(gate, 2) }],
          datasets: [{ name: "customers", spec: GATED_CUSTOMERS }]
        })
        const control = yield* ControlStore
        const executor = yield* Executor
        const running = yield* synchronize("feed", "full")
        yield* eventually("the run at the gate", () => gateCounts(gate).waiting === 1)

        const key = { account: "fabrikam", name: "feed" }
        yield* Effect.orDie(control.setSubscriptionStatus(CONTOSO, key, "Revoked", new Date()))
        yield* executor.cancelSubscription(CONTOSO, key)
        expect(yield* awaitRun(running.runId)).toMatchObject({ status: "canceled", message: "canceled by contoso" })
        expect(yield* checkpoint("feed")).toEqual(Option.none())

        const refused = yield* Effect.flip(synchronize("feed", "full"))
        expect(refused).toMatchObject({
          _tag: "RevokedError",
          subscription: "fabrikam/feed",
          message: "subscription fabrikam/feed was revoked by its provider contoso"
        })
      })
    )
  )

  it.live("a subscription that cannot run is refused with the plan's problems, and nothing is queued", () =>
    withService(() =>
      Effect.gen(function* () {
        yield* seed({
          datasets: [
            { name: "customers", spec: { source: { store: "src", table: "customers.csv" } } },
            { name: "docs", spec: { source: { store: "src", files: "docs/" } } }
          ]
        })
        const refused = yield* Effect.flip(synchronize("feed", "full"))
        expect(refused).toMatchObject({
          _tag: "PlanError",
          issues: [{ path: "mappings.docs", message: 'dataset "docs" has no mapping' }]
        })
        const control = yield* ControlStore
        expect(yield* Effect.orDie(control.pendingRunRequests())).toEqual([])
        expect(yield* Effect.flip(synchronize("nope", "full"))).toMatchObject({ _tag: "NotFoundError" })
      })
    )
  )
})

describe("Executor across restarts", () => {
  it.live("runs requests a previous process left queued, and marks its runs left going as interrupted", () =>
    Effect.acquireUseRelease(
      Effect.sync(serviceSpace),
      (space) =>
        Effect.gen(function* () {
          space.write("customers.csv", `${HEADER}1,ann,2026-01-01T00:00:01Z\n`)
          const left = uuidv7()
          const dead = uuidv7()
          // The previous process: a request queued, and a run it never finished.
          yield* Effect.gen(function* () {
            yield* seed()
            const control = yield* ControlStore
            const state = yield* StateStore
            yield* state.startRun({
              runId: dead,
              subscription: "fabrikam/other",
              share: "contoso/retail",
              mode: "full",
              startedAt: new Date()
            })
            yield* control.requestRun(FABRIKAM, {
              runId: left,
              account: "fabrikam",
              subscription: "feed",
              mode: "full",
              requestedAt: new Date(),
              requestedBy: "fabrikam"
            })
          }).pipe(Effect.provide(storesLayer(space)), Effect.orDie)

          yield* Effect.scoped(
            Effect.gen(function* () {
              yield* Executor
              expect(yield* awaitRun(left)).toMatchObject({ status: "succeeded" })
              expect(yield* awaitRun(dead)).toMatchObject({ status: "failed", message: "interrupted" })
            })
          ).pipe(Effect.provide(executorLayer(space)))
        }),
      (space) => Effect.sync(space.remove)
    )
  )

  it.live("closing the executor's scope leaves the requests still queued for the next start", () =>
    Effect.acquireUseRelease(
      Effect.sync(serviceSpace),
      (space) =>
        Effect.gen(function* () {
          const gate = `queued-${uuidv7()}`
          const scope = yield* Scope.make()
          const context = yield* Layer.buildWithScope(executorLayer(space, { runs: 1 }), scope)
          const [running, queued] = yield* Effect.gen(function* () {
            yield* seed({
              stores: [{ account: "contoso", name: "slow", type: "gated_memory", settings: gatedSettings(gate, 2) }],
              datasets: [{ name: "customers", spec: GATED_CUSTOMERS }],
              subscriptions: ["a", "b", "c"],
              mappings: mappingPerSubscription
            })
            const requests = [yield* synchronize("a", "full"), yield* synchronize("b", "full")]
            yield* eventually("a run at the gate", () => gateCounts(gate).waiting === 1)
            yield* synchronize("c", "full")
            return requests
          }).pipe(Effect.provide(context))
          yield* Scope.close(scope, Exit.void)

          yield* Effect.gen(function* () {
            const state = yield* StateStore
            const control = yield* ControlStore
            expect(yield* state.getRun(running!.runId)).toEqual(
              Option.some(expect.objectContaining({ status: "canceled", message: "the service stopped" }))
            )
            // The slot the canceled run freed was not refilled while stopping: b and c wait.
            expect((yield* control.pendingRunRequests()).map((request) => request.subscription)).toEqual(["b", "c"])
            expect(yield* state.getRun(queued!.runId)).toEqual(Option.none())
          }).pipe(Effect.provide(storesLayer(space)), Effect.orDie)
        }),
      (space) => Effect.sync(space.remove)
    )
  )

  it.live("closing the executor's scope (the service stopping) cancels its running runs cleanly", () =>
    Effect.acquireUseRelease(
      Effect.sync(serviceSpace),
      (space) =>
        Effect.gen(function* () {
          const gate = `stop-${uuidv7()}`
          const scope = yield* Scope.make()
          const context = yield* Layer.buildWithScope(executorLayer(space), scope)
          const runId = yield* Effect.gen(function* () {
            yield* seed({
              stores: [{ account: "contoso", name: "slow", type: "gated_memory", settings: gatedSettings(gate, 2) }],
              datasets: [{ name: "customers", spec: GATED_CUSTOMERS }]
            })
            const request = yield* synchronize("feed", "full")
            yield* eventually("the run at the gate", () => gateCounts(gate).waiting === 1)
            return request.runId
          }).pipe(Effect.provide(context))
          yield* Scope.close(scope, Exit.void)
          expect(gateCounts(gate).waiting).toBe(0)

          yield* Effect.gen(function* () {
            const state = yield* StateStore
            expect(yield* state.getRun(runId)).toEqual(
              Option.some(
                expect.objectContaining({
                  status: "canceled",
                  message: "the service stopped",
                  datasets: [expect.objectContaining({ status: "canceled", message: "the service stopped" })]
                })
              )
            )
            expect(yield* auditOf(runId, "fabrikam")).toEqual(["run.request", "run.start", "run.cancel"])
          }).pipe(Effect.provide(storesLayer(space)), Effect.orDie)
        }),
      (space) => Effect.sync(space.remove)
    )
  )
})
