/**
 * The executor of `ferry serve`: run requests wait in the control store (a durable
 * queue: requests left by a stopped service run when it starts again), and a loop takes
 * them oldest first and runs each through the run path (`runSubscription`) with the
 * request's run id, at most `runs` at once across the service, never two of one
 * subscription. Each run is planned from the control store when it starts.
 *
 * A run is a fiber of the layer's scope: cancelling it interrupts the fiber, and closing
 * the scope (the service stopping) interrupts them all; either way the run path records
 * the datasets still going and the run `canceled`, and leaves their watermarks where
 * they were. Every start and end of a run goes to the audit log (`run.start`,
 * `run.succeed`, `run.fail`, `run.cancel`, for the consumer and the provider) and to the
 * metrics.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import { v7 as uuidv7 } from "uuid"
import type { FerryConfig } from "../../config/FerryConfig.js"
import type { Actor, RunRequest, Subscription } from "../control/ControlStore.js"
import { actorName, ConflictError, ControlStore, NotFoundError, subscriptionKey } from "../control/ControlStore.js"
import * as Progress from "../Progress.js"
import type { RunResult } from "../Run.js"
import { describeFailure, runSubscription } from "../Run.js"
import type { StateError } from "../state/StateError.js"
import { StateStore } from "../state/StateStore.js"
import { Executor, RevokedError } from "./Executor.js"
import { Metrics } from "./Metrics.js"
import { Planner } from "./Planner.js"

export interface ExecutorOptions {
  /** Runs at once across the service (`limits.runs`). */
  readonly runs: number
  /** Datasets transferring at once across every run (`limits.concurrency`). */
  readonly concurrency: number
  /**
   * How often the queue is read when nothing wakes the executor, for requests another
   * process wrote; 5 seconds by default. Requests of this process start at once.
   */
  readonly poll?: Duration.DurationInput
}

/** A run this executor took from the queue and has not seen end. */
interface Going {
  readonly request: RunRequest
  readonly key: string
  /** Set as soon as the run is forked. */
  fiber?: Fiber.RuntimeFiber<void>
  /** Why it is being canceled, told to the run path before its fiber is interrupted. */
  reason?: string
}

const SERVICE: Actor = { kind: "service" }

/**
 * How a request and a cancellation name whoever acted: as the audit log does, but the
 * service, which asks for runs only through its scheduler, as the scheduler.
 */
const requesterName = (actor: Actor): string => (actor.kind === "service" ? "scheduler" : actorName(actor))

/** Run-path log lines, one per dataset that ends, annotated with the run. */
const logDisplay = (runId: string, subscription: string) =>
  Progress.ProgressDisplay.of({
    start: () => Effect.void,
    update: () => Effect.void,
    finish: (label, outcome) =>
      Effect.logInfo(Progress.summaryLine(label, outcome)).pipe(Effect.annotateLogs({ run: runId, subscription })),
    note: (line) => Effect.logInfo(line).pipe(Effect.annotateLogs({ run: runId, subscription }))
  })

export const make = (options: ExecutorOptions) =>
  Effect.gen(function* () {
    const control = yield* ControlStore
    const state = yield* StateStore
    const planner = yield* Planner
    const metrics = yield* Metrics
    const scope = yield* Effect.scope
    /**
     * The runs' own scope, made before the loop is forked: closing the layer's scope
     * then stops the loop first and the runs after, so a slot a canceled run frees is
     * not refilled from the queue while the service stops.
     */
    const runs = yield* Scope.fork(scope, ExecutionStrategy.parallel)
    let stopping = false
    /** Requests waiting, as of the last read of the queue and the requests made here since. */
    let queuedHere = 0
    const permits = yield* Effect.makeSemaphore(options.concurrency)
    const wake = yield* Queue.sliding<void>(1)
    const poll = Duration.decode(options.poll ?? "5 seconds")
    /** By run id. */
    const going = new Map<string, Going>()
    const goingOf = (key: string) => [...going.values()].find((entry) => entry.key === key)
    const now = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis))
    const signal = Queue.offer(wake, undefined).pipe(Effect.asVoid)

    // Runs a previous process left going were cut short with it; their requests are gone.
    const interrupted = yield* state.markInterruptedRuns(yield* now)
    if (interrupted.length > 0) {
      yield* Effect.logWarning(`Marked ${interrupted.length} runs of a previous process failed (interrupted)`)
    }

    const subscriptionOf = (request: RunRequest) =>
      control.getSubscription(request.account, request.subscription).pipe(
        Effect.map(Option.getOrUndefined),
        Effect.orElseSucceed(() => undefined)
      )

    const audit = (
      action: string,
      request: RunRequest,
      subscription: Subscription | undefined,
      detail: Record<string, unknown>
    ) =>
      Effect.gen(function* () {
        yield* control.audit(SERVICE, {
          at: yield* now,
          accounts: [request.account, ...(subscription === undefined ? [] : [subscription.provider])],
          action,
          resource: `run:${request.runId}`,
          detail: {
            subscription: subscriptionKey({ account: request.account, name: request.subscription }),
            ...(subscription === undefined ? {} : { share: `${subscription.provider}/${subscription.share}` }),
            mode: request.mode,
            ...detail
          }
        })
      }).pipe(
        Effect.catchAll((error) =>
          Effect.logError(`Could not write ${action} of run ${request.runId} to the audit log: ${error.message}`)
        )
      )

    /** A run that ends before the run path starts it: its row says why. */
    const recordUnstarted = (
      request: RunRequest,
      subscription: Subscription | undefined,
      status: "failed" | "canceled",
      message: string
    ) =>
      Effect.gen(function* () {
        const at = yield* now
        yield* state.startRun({
          runId: request.runId,
          subscription: subscriptionKey({ account: request.account, name: request.subscription }),
          share: subscription === undefined ? "" : `${subscription.provider}/${subscription.share}`,
          mode: request.mode,
          startedAt: at
        })
        yield* state.finishRun({ runId: request.runId, status, endedAt: at, message })
      }).pipe(
        Effect.catchAll((error) =>
          Effect.logError(`Could not record run ${request.runId} ${status}: ${error.message}`)
        ),
        Effect.zipRight(metrics.runEnded({ status, seconds: 0 })),
        Effect.zipRight(
          audit(status === "failed" ? "run.fail" : "run.cancel", request, subscription, { status, message })
        )
      )

    const counted = (result: RunResult) =>
      result.datasets.reduce(
        (total, dataset) => ({
          rows: total.rows + dataset.rows,
          bytes: total.bytes + dataset.bytes,
          files: total.files + dataset.files
        }),
        { rows: 0, bytes: 0, files: 0 }
      )

    /** One taken request, from its plan to its audit entry; never fails. */
    const execute = (entry: Going): Effect.Effect<void> => {
      const { key, request } = entry
      const runId = request.runId
      return Effect.gen(function* () {
        const subscription = yield* subscriptionOf(request)
        if (subscription === undefined) {
          return yield* recordUnstarted(request, undefined, "canceled", "the subscription no longer exists")
        }
        if (subscription.status === "Revoked") {
          return yield* recordUnstarted(request, subscription, "canceled", "the subscription is revoked")
        }
        const planned = yield* Effect.either(planner.plan(subscription))
        if (planned._tag === "Left") {
          return yield* recordUnstarted(request, subscription, "failed", planned.left.message)
        }
        const started = yield* Clock.currentTimeMillis
        const seconds = Effect.map(Clock.currentTimeMillis, (millis) => (millis - started) / 1000)
        yield* audit("run.start", request, subscription, { requested_by: request.requestedBy })
        const exit = yield* runSubscription(
          planned.right,
          { runId, subscription: key, mode: request.mode },
          { permits, canceledBecause: Effect.sync(() => entry.reason ?? "the service stopped") }
        ).pipe(
          Effect.provideService(StateStore, state),
          Effect.provideService(Progress.ProgressDisplay, logDisplay(runId, key)),
          Effect.onInterrupt(() =>
            Effect.gen(function* () {
              yield* metrics.runEnded({ status: "canceled", seconds: yield* seconds })
              yield* audit("run.cancel", request, subscription, {
                status: "canceled",
                message: entry.reason ?? "the service stopped"
              })
            })
          ),
          Effect.exit
        )
        if (Exit.isFailure(exit)) {
          const message = describeFailure(Cause.squash(exit.cause))
          yield* Effect.logError(`Run ${runId} of ${key} could not be carried out: ${message}`)
          yield* metrics.runEnded({ status: "failed", seconds: yield* seconds })
          return yield* audit("run.fail", request, subscription, { status: "failed", message })
        }
        const result = exit.value
        const share = `${subscription.provider}/${subscription.share}`
        for (const dataset of result.datasets) {
          yield* metrics.delivered({ share, subscription: key, rows: dataset.rows, bytes: dataset.bytes })
        }
        yield* metrics.runEnded({ status: result.status, seconds: yield* seconds })
        const failed = result.datasets.filter((dataset) => dataset.status !== "succeeded")
        yield* audit(result.status === "succeeded" ? "run.succeed" : "run.fail", request, subscription, {
          status: result.status,
          ...counted(result),
          ...(failed.length === 0
            ? {}
            : { failed: failed.map((dataset) => ({ dataset: dataset.dataset, message: dataset.message ?? "" })) })
        })
      }).pipe(
        // Stopped before the run path recorded it: the row says so all the same.
        Effect.onInterrupt(() =>
          Effect.gen(function* () {
            const recorded = yield* state.getRun(runId).pipe(Effect.orElseSucceed(() => Option.none()))
            if (Option.isSome(recorded)) return
            const reason = entry.reason ?? "the service stopped"
            yield* recordUnstarted(request, yield* subscriptionOf(request), "canceled", reason)
          })
        ),
        Effect.annotateLogs({ run: runId, subscription: key }),
        Effect.ensuring(
          Effect.zipRight(
            Effect.sync(() => going.delete(runId)),
            signal
          )
        )
      )
    }

    /** Starts what the queue allows: oldest first, up to the limit, one run per subscription. */
    const dispatch = Effect.gen(function* () {
      // Full, or stopping: the queue is not read (a burst of requests would read it once per
      // request), and stays as it is for a later pass or the next start.
      if (stopping || going.size >= options.runs) {
        return yield* metrics.runsInFlight({ running: going.size, queued: queuedHere })
      }
      const pending = yield* control.pendingRunRequests()
      let queued = pending.length
      for (const request of pending) {
        if (going.size >= options.runs) break
        const key = subscriptionKey({ account: request.account, name: request.subscription })
        if (going.has(request.runId) || goingOf(key) !== undefined) continue
        const entry: Going = { request, key }
        going.set(request.runId, entry)
        // A request taken is a run forked: the service stopping cannot come in between.
        const started = yield* Effect.uninterruptibleMask((restore) =>
          Effect.gen(function* () {
            // Gone when canceled meanwhile, or taken by another process.
            const taken = yield* control.takeRunRequest(request.runId)
            if (Option.isNone(taken)) return false
            entry.fiber = yield* Effect.forkIn(restore(execute(entry)), runs)
            return true
          })
        ).pipe(Effect.tapError(() => Effect.sync(() => going.delete(request.runId))))
        if (started) queued--
        else going.delete(request.runId)
      }
      queuedHere = queued
      yield* metrics.runsInFlight({ running: going.size, queued })
    }).pipe(Effect.catchAll((error) => Effect.logError(`Could not read the queue of runs: ${describeFailure(error)}`)))

    yield* Effect.forkIn(
      Effect.forever(Effect.zipRight(dispatch, Effect.timeout(Queue.take(wake), poll).pipe(Effect.ignore))),
      scope
    )
    // Added last, so run first when the scope closes: before the loop stops and the runs are canceled.
    yield* Scope.addFinalizer(
      scope,
      Effect.sync(() => {
        stopping = true
      })
    )

    const interrupt = (entry: Going, reason: string) =>
      Effect.suspend(() => {
        entry.reason ??= reason
        return entry.fiber === undefined ? Effect.void : Fiber.interrupt(entry.fiber).pipe(Effect.asVoid)
      })

    const cancel: Executor["Type"]["cancel"] = (actor, runId) =>
      Effect.gen(function* () {
        const reason = `canceled by ${requesterName(actor)}`
        const running = going.get(runId)
        if (running !== undefined) {
          yield* interrupt(running, reason)
          return true
        }
        const taken = yield* control.takeRunRequest(runId)
        if (Option.isSome(taken)) {
          queuedHere = Math.max(0, queuedHere - 1)
          const subscription = yield* subscriptionOf(taken.value)
          yield* recordUnstarted(taken.value, subscription, "canceled", `${reason} before it started`)
          yield* signal
          return true
        }
        // Taken by the executor between the two looks.
        const late = going.get(runId)
        if (late === undefined) return false
        yield* interrupt(late, reason)
        return true
      })

    const cancelSubscription: Executor["Type"]["cancelSubscription"] = (actor, subscription) =>
      Effect.gen(function* () {
        const key = subscriptionKey(subscription)
        // Full, or stopping: the queue stays as it is, for a later pass or the next start.
        if (stopping || going.size >= options.runs) return
        const pending = yield* control.pendingRunRequests()
        for (const request of pending) {
          if (request.account === subscription.account && request.subscription === subscription.name) {
            yield* cancel(actor, request.runId)
          }
        }
        const running = goingOf(key)
        if (running !== undefined) yield* interrupt(running, `canceled by ${requesterName(actor)}`)
      })

    const synchronize: Executor["Type"]["synchronize"] = (actor, request) =>
      Effect.gen(function* () {
        const key = subscriptionKey({ account: request.account, name: request.subscription })
        const found = yield* control.getSubscription(request.account, request.subscription)
        if (Option.isNone(found)) {
          return yield* new NotFoundError({
            resource: `subscription:${key}`,
            message: `no subscription ${request.subscription} in account ${request.account}`
          })
        }
        if (found.value.status === "Revoked") {
          return yield* new RevokedError({
            subscription: key,
            message: `subscription ${key} was revoked by its provider ${found.value.provider}`
          })
        }
        const running = goingOf(key)
        if (running !== undefined) {
          return yield* new ConflictError({
            resource: `subscription:${key}`,
            message: `Subscription ${key} has run ${running.request.runId} in progress`
          })
        }
        yield* planner.plan(found.value)
        const queued = yield* control.requestRun(actor, {
          runId: uuidv7(),
          account: request.account,
          subscription: request.subscription,
          mode: request.mode,
          requestedAt: yield* now,
          requestedBy: requesterName(actor)
        })
        queuedHere++
        yield* signal
        return queued
      })

    return Executor.of({ synchronize, cancel, cancelSubscription })
  })

/** The executor as a scoped layer: its loop and runs live until the layer's scope closes. */
export const layer = (
  options: ExecutorOptions
): Layer.Layer<Executor, StateError, ControlStore | StateStore | Planner | Metrics> =>
  Layer.scoped(Executor, make(options))

/** The executor with a served config's limits (`limits.runs`, `limits.concurrency`). */
export const layerFor = (
  config: Pick<FerryConfig, "limits">
): Layer.Layer<Executor, StateError, ControlStore | StateStore | Planner | Metrics> =>
  layer({ runs: config.limits.runs, concurrency: config.limits.concurrency })
