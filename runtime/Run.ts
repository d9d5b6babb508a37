/**
 * The run path: one run of one subscription snapshots every dataset of its share into
 * the subscription's mappings, datasets concurrently up to the config's limit
 * (`runSubscription`, which the service's executor calls with the run id of a request);
 * `ferry run` starts one for each selected subscription (`runSnapshots`). Each dataset commits on its own, in three steps (see
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
import type { SinkSession } from "../core/Sink.js"
import type { SourceSession } from "../core/Source.js"
import type { DatasetTask, Opener } from "./DatasetRun.js"
import { DatasetError, runDataset } from "./DatasetRun.js"
import type { DatasetOutcome } from "./Progress.js"
import { ProgressDisplay } from "./Progress.js"
import type { RunMode } from "./state/StateStore.js"
import type { StateError } from "./state/StateError.js"
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

/** A subscription's stores, opened once each on first use, for the life of a scope. */
export interface RunStores {
  readonly openSource: Opener<SourceSession<unknown, unknown>>
  readonly openSink: Opener<SinkSession<unknown>>
}

/** Opens the config's stores on demand, each at most once per side, until `scope` closes. */
export const openStores = (config: FerryConfig): Effect.Effect<RunStores, never, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
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
    return { openSource, openSink }
  })

export interface SubscriptionRun {
  /** The run's id, known before it starts (a UUID v7): the sinks and the state store key its work by it. */
  readonly runId: string
  /** `account/name` of one of the config's subscriptions. */
  readonly subscription: string
  readonly mode: RunMode
}

export interface SubscriptionRunOptions {
  /** Stores already opened, shared with other runs; otherwise the run opens its own and closes them when it ends. */
  readonly stores?: RunStores
  /**
   * Permits for datasets transferring at once, shared across runs; otherwise the run
   * has `limits.concurrency` of its own.
   */
  readonly permits?: Effect.Semaphore
  /** The message a canceled run and its datasets are recorded with; "interrupted" by default. */
  readonly canceledBecause?: Effect.Effect<string>
}

/** The config's subscription of that key, or a selection error naming the ones there are. */
const subscriptionOf = (config: FerryConfig, key: string): Effect.Effect<Subscription, RunSelectionError> => {
  const found = config.subscriptions.find((subscription) => subscriptionKey(subscription) === key)
  return found !== undefined
    ? Effect.succeed(found)
    : new RunSelectionError({
        message: `no subscription ${key}; subscriptions are ${config.subscriptions.map(subscriptionKey).join(", ") || "(none)"}`
      })
}

/**
 * One run of one subscription: every dataset of its share into the subscription's
 * mappings, up to the permits at once. Interrupting it cancels the datasets still going
 * (recorded `canceled`, their checkpoints untouched) and records the run `canceled`.
 */
export const runSubscription = (
  config: FerryConfig,
  request: SubscriptionRun,
  options: SubscriptionRunOptions = {}
): Effect.Effect<RunResult, RunSelectionError | StateError, StateStore | ProgressDisplay> =>
  Effect.scoped(
    Effect.gen(function* () {
      const subscription = yield* subscriptionOf(config, request.subscription)
      const state = yield* StateStore
      const display = yield* ProgressDisplay
      const stores = options.stores ?? (yield* openStores(config))
      const permits = options.permits ?? (yield* Effect.makeSemaphore(config.limits.concurrency))
      const canceledBecause = options.canceledBecause ?? Effect.succeed("interrupted")
      const { runId } = request
      const share = config.shares.find(
        (candidate) => candidate.account === subscription.share.account && candidate.name === subscription.share.name
      )!
      const key = subscriptionKey(subscription)

      yield* state
        .startRun({ runId, subscription: key, share: shareName(share), mode: request.mode, startedAt: new Date() })
        .pipe(Effect.uninterruptible)
      // From here on the run has a row: however it stops, the row says how.
      return yield* Effect.gen(function* () {
        yield* display.note(`run ${runId}: ${shareName(share)} -> ${subscription.name}`)
        const runTask = datasetRunner(config, state, display, stores, request.mode, canceledBecause)
        const tasks = share.datasets.map((dataset): DatasetTask => ({
          runId,
          subscription,
          share,
          dataset,
          mapping: subscription.mappings.get(dataset.name)!
        }))
        const datasets = yield* Effect.forEach(tasks, (task) => permits.withPermits(1)(runTask(task)), {
          concurrency: "unbounded"
        })
        const failed = datasets.filter((dataset) => dataset.status !== "succeeded")
        const status = failed.length === 0 ? "succeeded" : "failed"
        yield* state
          .finishRun({
            runId,
            status,
            endedAt: new Date(),
            ...(failed.length === 0
              ? {}
              : {
                  message: `${failed.length} of ${datasets.length} datasets failed: ${failed.map((d) => d.dataset).join(", ")}`
                })
          })
          .pipe(Effect.uninterruptible)
        return { runId, subscription: key, share: shareName(share), status, datasets } satisfies RunResult
      }).pipe(
        Effect.onInterrupt(() =>
          Effect.flatMap(canceledBecause, (message) =>
            // A run that finished just as it was interrupted keeps its outcome.
            state.finishRun({ runId, status: "canceled", endedAt: new Date(), message }).pipe(Effect.ignore)
          )
        )
      )
    })
  )

/** Runs one dataset of a run and records its outcome, whether it succeeds, fails or is interrupted. */
const datasetRunner = (
  config: FerryConfig,
  state: StateStore["Type"],
  display: ProgressDisplay["Type"],
  stores: RunStores,
  runMode: RunMode,
  canceledBecause: Effect.Effect<string>
) => {
  const transfer = runDataset({ config, state, ...stores })
  return (task: DatasetTask): Effect.Effect<DatasetResult> => {
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
      Effect.onInterrupt(() => Effect.flatMap(canceledBecause, (message) => finish("canceled", message)))
    )
  }
}

/**
 * `ferry run`: a run of each selected subscription, at once, their datasets sharing
 * `limits.concurrency` and each store opened once. Runs a dead process left `running`
 * are marked failed first.
 */
export const runSnapshots = (
  config: FerryConfig,
  options: RunOptions
): Effect.Effect<ReadonlyArray<RunResult>, RunSelectionError | StateError, StateStore | ProgressDisplay> =>
  Effect.scoped(
    Effect.gen(function* () {
      const subscriptions = yield* select(config, options)
      const state = yield* StateStore
      yield* state.markInterruptedRuns(new Date())
      const shared: SubscriptionRunOptions = {
        stores: yield* openStores(config),
        permits: yield* Effect.makeSemaphore(config.limits.concurrency)
      }
      const mode: RunMode = options.full ? "full" : "incremental"
      return yield* Effect.forEach(
        subscriptions,
        (subscription) =>
          runSubscription(config, { runId: uuidv7(), subscription: subscriptionKey(subscription), mode }, shared),
        { concurrency: "unbounded" }
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
