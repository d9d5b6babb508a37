/**
 * The run path: for each selected subscription, one run that snapshots every dataset
 * of its share into the subscription's mappings, datasets concurrently up to the
 * config's limit. Each dataset commits on its own, in three steps (see
 * docs/state.md): the state store records the watermark about to be published, the
 * sink publishes, the state store makes the watermark the checkpoint. A dataset that
 * fails or is interrupted leaves its checkpoint where it was.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { v7 as uuidv7 } from "uuid"
import { location, SinkError, SourceError } from "../core/Errors.js"
import type { Progress } from "../core/Transfer.js"
import type { FerryConfig, Store, Subscription } from "../config/FerryConfig.js"
import { subscriptionKey } from "./control/ControlStore.js"
import type { DatasetTask, Opener } from "./DatasetRun.js"
import { DatasetError, runDataset } from "./DatasetRun.js"
import type { DatasetOutcome } from "./Progress.js"
import { ProgressDisplay } from "./Progress.js"
import type { RunMode } from "./state/StateStore.js"
import { StateStore } from "./state/StateStore.js"

export interface RunOptions {
  /** Only subscriptions to this share (`account/name`, or `name`). */
  readonly share?: string
  /** Only this subscription. */
  readonly subscription?: string
  /** Full snapshots even where a checkpoint allows an incremental one. */
  readonly full: boolean
}

export interface DatasetResult extends DatasetOutcome {
  readonly dataset: string
}

export interface RunResult {
  readonly runId: string
  /** `account/name`, as the state store keys the subscription's runs and checkpoints. */
  readonly subscription: string
  readonly share: string
  readonly status: "succeeded" | "failed" | "canceled"
  readonly datasets: ReadonlyArray<DatasetResult>
}

/** The options select nothing to run: a usage problem, not a failed run. */
export class RunSelectionError extends Schema.TaggedError<RunSelectionError>()("RunSelectionError", {
  message: Schema.String
}) {}

const shareName = (share: { readonly account: string; readonly name: string }) => `${share.account}/${share.name}`

const select = (
  config: FerryConfig,
  options: RunOptions
): Effect.Effect<ReadonlyArray<Subscription>, RunSelectionError> => {
  const names = config.subscriptions.map((subscription) => subscription.name)
  if (options.subscription !== undefined && !names.includes(options.subscription)) {
    return Effect.fail(
      new RunSelectionError({
        message: `no subscription named ${options.subscription}; ${names.length === 0 ? "the config has none" : `subscriptions are ${names.join(", ")}`}`
      })
    )
  }
  const chosen = config.subscriptions.filter(
    (subscription) =>
      (options.subscription === undefined || subscription.name === options.subscription) &&
      (options.share === undefined ||
        shareName(subscription.share) === options.share ||
        subscription.share.name === options.share)
  )
  if (chosen.length > 0) return Effect.succeed(chosen)
  return Effect.fail(
    new RunSelectionError({
      message:
        config.subscriptions.length === 0
          ? "nothing to run: the config has no subscriptions (a consumer's subscription maps a share's datasets to its stores)"
          : `no subscription to share ${options.share}; shares subscribed to are ${[...new Set(config.subscriptions.map((s) => shareName(s.share)))].join(", ")}`
    })
  )
}

/** A short, secret-free sentence for any failure of a dataset's run. */
export const describeFailure = (error: unknown): string => {
  if (error instanceof SourceError) {
    const where = location(error.file, error.line)
    // Format errors already start with their file:line and column; say them once.
    if (where !== "" && error.message.includes(where)) return `source ${error.store}: ${error.message}`
    return `source ${error.store}: ${where === "" ? "" : `${where}: `}${error.column === undefined ? "" : `column ${error.column}: `}${error.message}`
  }
  if (error instanceof SinkError)
    return `target ${error.store}${error.target === undefined ? "" : ` ${error.target}`}: ${error.message}`
  if (typeof error === "object" && error !== null && "_tag" in error && "message" in error) {
    const tagged = error as { _tag: string; message: string; column?: string }
    if (tagged._tag === "CastError") return `cast of column ${tagged.column}: ${tagged.message}`
    if (tagged._tag === "StateError") return `state store: ${tagged.message}`
    return tagged.message
  }
  return String(error)
}

/** Opens each store at most once per run side, on first use, for the life of `scope`. */
const memoizedOpener = <S>(
  scope: Scope.Scope,
  open: (store: Store) => Effect.Effect<S, SourceError | SinkError | DatasetError, Scope.Scope>
): Effect.Effect<Opener<S>> =>
  Effect.sync(() => {
    const opened = new Map<string, Effect.Effect<S, SourceError | SinkError | DatasetError>>()
    return (store) =>
      Effect.suspend(() => {
        let cached = opened.get(store.name)
        if (cached === undefined) {
          cached = Effect.runSync(Effect.cached(Scope.extend(open(store), scope)))
          opened.set(store.name, cached)
        }
        return cached
      })
  })

export const runSnapshots = (
  config: FerryConfig,
  options: RunOptions
): Effect.Effect<ReadonlyArray<RunResult>, RunSelectionError, StateStore | ProgressDisplay> =>
  Effect.scoped(
    Effect.gen(function* () {
      const subscriptions = yield* select(config, options)
      const state = yield* StateStore
      const display = yield* ProgressDisplay
      const scope = yield* Effect.scope
      yield* state.markInterruptedRuns(new Date()).pipe(Effect.orDie)

      const context = (store: Store) => ({ store: store.name, baseDir: config.baseDir })
      const connectorOf = (store: Store) => config.registry.types.get(store.type)!
      const openSource = yield* memoizedOpener(scope, (store) => {
        const connector = connectorOf(store).source
        return connector === undefined
          ? new DatasetError({ message: `store ${store.name} (${store.type}) cannot be read from` })
          : connector.open(store.config, context(store))
      })
      const openSink = yield* memoizedOpener(scope, (store) => {
        const connector = connectorOf(store).sink
        return connector === undefined
          ? new DatasetError({ message: `store ${store.name} (${store.type}) cannot be written to` })
          : connector.open(store.config, context(store))
      })
      const runMode: RunMode = options.full ? "full" : "incremental"

      const runs = subscriptions.map((subscription) => {
        const share = config.shares.find(
          (candidate) => candidate.account === subscription.share.account && candidate.name === subscription.share.name
        )!
        const runId = uuidv7()
        const tasks: ReadonlyArray<DatasetTask> = share.datasets.map((dataset) => ({
          runId,
          subscription,
          share,
          dataset,
          mapping: subscription.mappings.get(dataset.name)!
        }))
        return { runId, subscription, share, tasks }
      })

      for (const run of runs) {
        yield* state
          .startRun({
            runId: run.runId,
            subscription: subscriptionKey(run.subscription),
            share: shareName(run.share),
            mode: runMode,
            startedAt: new Date()
          })
          .pipe(Effect.orDie)
        yield* display.note(`run ${run.runId}: ${shareName(run.share)} -> ${run.subscription.name}`)
      }

      const transfer = runDataset({ config, state, openSource, openSink })
      const runTask = (task: DatasetTask): Effect.Effect<DatasetResult> => {
        const label = `${task.subscription.name}: ${task.dataset.name}`
        const started = Date.now()
        let counters: Progress = { rows: 0, bytes: 0, files: 0 }
        let mode: RunMode = runMode
        const finish = (status: DatasetOutcome["status"], message: string | undefined) =>
          Effect.gen(function* () {
            const outcome: DatasetResult = {
              dataset: task.dataset.name,
              status,
              mode,
              seconds: (Date.now() - started) / 1000,
              ...counters,
              ...(message === undefined ? {} : { message })
            }
            yield* state
              .recordDataset({
                runId: task.runId,
                dataset: task.dataset.name,
                status,
                startedAt: new Date(started),
                endedAt: new Date(),
                ...counters,
                ...(message === undefined ? {} : { message })
              })
              .pipe(Effect.orDie)
            yield* display.finish(label, outcome)
            return outcome
          })
        return Effect.gen(function* () {
          yield* display.start(label)
          const outcome = yield* transfer(task, runMode, {
            report: (progress) => {
              counters = progress
              return display.update(label, progress)
            },
            chooseMode: (chosen) => {
              mode = chosen
            }
          })
          counters = { rows: outcome.rows, bytes: outcome.bytes, files: outcome.files }
          return outcome.note
        }).pipe(
          Effect.matchCauseEffect({
            onSuccess: (note) => finish("succeeded", note),
            onFailure: (cause) => finish("failed", describeCause(cause))
          }),
          Effect.onInterrupt(() => finish("canceled", "interrupted"))
        )
      }

      const tasks = runs.flatMap((run) => run.tasks)
      const results = yield* Effect.forEach(tasks, runTask, { concurrency: config.limits.concurrency }).pipe(
        Effect.onInterrupt(() =>
          Effect.forEach(runs, (run) =>
            state
              .finishRun({ runId: run.runId, status: "canceled", endedAt: new Date(), message: "interrupted" })
              .pipe(Effect.ignore)
          )
        )
      )

      return yield* Effect.forEach(runs, (run) =>
        Effect.gen(function* () {
          const datasets = results.filter((_, i) => tasks[i]!.runId === run.runId)
          const failed = datasets.filter((dataset) => dataset.status !== "succeeded")
          const status = failed.length === 0 ? "succeeded" : "failed"
          yield* state
            .finishRun({
              runId: run.runId,
              status,
              endedAt: new Date(),
              ...(failed.length === 0
                ? {}
                : {
                    message: `${failed.length} of ${datasets.length} datasets failed: ${failed.map((d) => d.dataset).join(", ")}`
                  })
            })
            .pipe(Effect.orDie)
          return {
            runId: run.runId,
            subscription: subscriptionKey(run.subscription),
            share: shareName(run.share),
            status,
            datasets
          } satisfies RunResult
        })
      )
    })
  )

const describeCause = (cause: Cause.Cause<unknown>): string =>
  Option.match(Cause.failureOption(cause), {
    onSome: describeFailure,
    onNone: () => {
      const defect = Cause.squash(cause)
      return `unexpected error: ${defect instanceof Error ? defect.message : String(defect)}`
    }
  })
