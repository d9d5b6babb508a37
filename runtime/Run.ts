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
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { v7 as uuidv7 } from "uuid"
import { planCasts, applyCasts } from "../core/Cast.js"
import { location, SinkError, SourceError } from "../core/Errors.js"
import type { FileWriter, SinkSession, TableWriter, WriteMode } from "../core/Sink.js"
import type { ReadPlan, SourceConnector, SourceSession } from "../core/Source.js"
import type { Batch } from "../core/Batch.js"
import type { Progress, Transferred } from "../core/Transfer.js"
import { copyFiles, transferToFile, transferToTable } from "../core/Transfer.js"
import type { Column } from "../core/Types.js"
import { FileWatermark } from "../core/Watermark.js"
import type { Dataset, FerryConfig, Mapping, Share, Store, Subscription } from "../config/FerryConfig.js"
import { formatNamed } from "../sinks/formats/Formats.js"
import type { DatasetOutcome } from "./Progress.js"
import { ProgressDisplay } from "./Progress.js"
import type { RunMode } from "./state/StateStore.js"
import { StateStore } from "./state/StateStore.js"

/**
 * Files modified this recently before a run starts wait for the next run: their last
 * write may still be going on, and file systems with coarse timestamps could give a
 * later file the same modification time as one already delivered.
 */
export const FILE_SETTLE_MS = 1_000

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
  readonly subscription: string
  readonly share: string
  readonly status: "succeeded" | "failed" | "canceled"
  readonly datasets: ReadonlyArray<DatasetResult>
}

/** The options select nothing to run: a usage problem, not a failed run. */
export class RunSelectionError extends Schema.TaggedError<RunSelectionError>()("RunSelectionError", {
  message: Schema.String
}) {}

/** A dataset's run cannot proceed for a reason of the config or the stores, told in the message. */
class DatasetError extends Schema.TaggedError<DatasetError>()("DatasetError", { message: Schema.String }) {}

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

type Opener<S> = (store: Store) => Effect.Effect<S, SourceError | SinkError | DatasetError>

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

interface Task {
  readonly runId: string
  readonly subscription: Subscription
  readonly share: Share
  readonly dataset: Dataset
  readonly mapping: Mapping
}

const encodeWatermark = (connector: SourceConnector, watermark: unknown) =>
  Schema.encodeUnknown(connector.watermark)(watermark).pipe(
    Effect.mapError(() => new DatasetError({ message: "the source produced a watermark its own Schema rejects" }))
  )

const decodeWatermark = (connector: SourceConnector, stored: unknown) =>
  Schema.decodeUnknown(connector.watermark)(stored).pipe(
    Effect.mapError(
      () =>
        new DatasetError({
          message:
            "the stored checkpoint does not fit this dataset any more (its source changed?); run it once with --full"
        })
    )
  )

const partPath = (runId: string, extension: string) => `part-00000-${runId}.${extension}`

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
        const tasks: ReadonlyArray<Task> = share.datasets.map((dataset) => ({
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
            subscription: run.subscription.name,
            share: shareName(run.share),
            mode: runMode,
            startedAt: new Date()
          })
          .pipe(Effect.orDie)
        yield* display.note(`run ${run.runId}: ${shareName(run.share)} -> ${run.subscription.name}`)
      }

      const transfer = transferDataset({ config, state, openSource, openSink })
      const runTask = (task: Task): Effect.Effect<DatasetResult> => {
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
          const outcome = yield* transfer(
            task,
            runMode,
            (progress) => {
              counters = progress
              return display.update(label, progress)
            },
            (chosen) => {
              mode = chosen
            }
          )
          counters = { rows: outcome.rows, bytes: outcome.bytes, files: outcome.files }
          return outcome.note
        }).pipe(
          Effect.matchCauseEffect({
            onSuccess: (note) => finish("succeeded", note),
            onFailure: (cause) =>
              Cause.isInterruptedOnly(cause)
                ? finish("canceled", "interrupted")
                : finish("failed", describeCause(cause))
          })
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
            subscription: run.subscription.name,
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

interface Environment {
  readonly config: FerryConfig
  readonly state: StateStore["Type"]
  readonly openSource: Opener<SourceSession<unknown, unknown>>
  readonly openSink: Opener<SinkSession<unknown>>
}

interface TransferOutcome extends Progress {
  readonly mode: RunMode
  /** Anything worth telling beside the counts. */
  readonly note?: string
}

type Writer =
  { readonly kind: "table"; readonly writer: TableWriter } | { readonly kind: "files"; readonly writer: FileWriter }

/** One dataset of one run, from resolving a left-over commit to publishing its watermark. */
const transferDataset =
  ({ config, openSink, openSource, state }: Environment) =>
  (
    task: Task,
    runMode: RunMode,
    report: (progress: Progress) => Effect.Effect<void>,
    chooseMode: (mode: RunMode) => void
  ): Effect.Effect<TransferOutcome, unknown> =>
    Effect.scoped(
      Effect.gen(function* () {
        const { dataset, mapping, runId } = task
        const key = { subscription: task.subscription.name, dataset: dataset.name }
        const sourceStore = config.stores.get(dataset.source.store)!
        const sinkStore = config.stores.get(mapping.store)!
        const connector = config.registry.types.get(sourceStore.type)!.source!
        const source = yield* openSource(sourceStore)
        const sink = yield* openSink(sinkStore)

        // A run that died between the sink's commit and the checkpoint left an intent:
        // the sink knows whether that commit happened.
        const pending = yield* state.pendingCommit(key)
        if (Option.isSome(pending)) {
          const pendingKey = { ...key, runId: pending.value.runId }
          const committed = yield* sink.isCommitted(mapping.target, pending.value.runId)
          yield* committed ? state.completeCommit(pendingKey) : state.discardPending(pendingKey)
        }

        const checkpoint = yield* state.checkpoint(key)
        // Without a checkpoint the run is a full one, whatever fails next.
        if (Option.isNone(checkpoint)) chooseMode("full")
        const description = yield* source.describe(dataset.source.config)
        const incremental =
          runMode === "incremental" &&
          Option.isSome(checkpoint) &&
          (description.kind === "files" || Option.isSome(dataset.incremental))
        const mode: RunMode = incremental ? "incremental" : "full"
        chooseMode(mode)
        const after = incremental
          ? Option.some(yield* decodeWatermark(connector, Option.getOrThrow(checkpoint).watermark))
          : Option.none()
        const writeOptions = (writeMode: WriteMode) => ({
          runId,
          dataset: dataset.name,
          mode: writeMode,
          key: Option.match(dataset.incremental, { onNone: () => [], onSome: (spec) => spec.key })
        })

        let writer: Writer
        let transferred: Transferred<unknown>
        if (description.kind === "files") {
          if (sink.files === undefined) {
            return yield* new DatasetError({
              message: `${dataset.name} is a folder of files, and store ${sinkStore.name} takes tables only`
            })
          }
          if (source.files === undefined) {
            return yield* new DatasetError({ message: `store ${sourceStore.name} does not list files` })
          }
          // A full snapshot mirrors the folder: files deleted at the source leave the target too.
          const fileWriter = yield* sink.files.open(
            mapping.target,
            writeOptions(mode === "full" ? "replace" : "append")
          )
          writer = { kind: "files", writer: fileWriter }
          const since = Option.map(after, (watermark) => {
            const file = watermark as FileWatermark
            return { lastModified: Date.parse(file.last_modified), path: file.path }
          })
          if (Option.isSome(after) && !Schema.is(FileWatermark)(after.value)) {
            return yield* new DatasetError({
              message: "the stored checkpoint is not a file watermark; run it once with --full"
            })
          }
          transferred = yield* copyFiles({
            access: source.files,
            dataset: dataset.source.config,
            range: { after: since, until: Date.now() - FILE_SETTLE_MS },
            writer: fileWriter,
            report,
            store: sourceStore.name
          })
        } else {
          if (source.readTable === undefined) {
            return yield* new DatasetError({ message: `store ${sourceStore.name} does not read tables` })
          }
          const selected = Option.match(dataset.columns, {
            onNone: () => description.columns,
            onSome: (names) => names.map((name) => description.columns.find((column) => column.name === name))
          })
          const missing = Option.match(dataset.columns, {
            onNone: () => [],
            onSome: (names) => names.filter((_, i) => selected[i] === undefined)
          })
          if (missing.length > 0) {
            return yield* new DatasetError({
              message: `columns ${missing.join(", ")} are not in the dataset; its columns are ${description.columns.map((c) => c.name).join(", ")}`
            })
          }
          const casts = yield* Either.match(
            planCasts(selected as ReadonlyArray<Column>, dataset.casts, dataset.allowLossy),
            {
              onLeft: (message) => Effect.fail(new DatasetError({ message })),
              onRight: Effect.succeed
            }
          )
          const plan: ReadPlan<unknown> = {
            dataset: dataset.name,
            mode,
            after,
            columns: dataset.columns,
            filter: dataset.filter,
            incremental: dataset.incremental
          }
          const pages = source.readTable(dataset.source.config, plan)
          const transform = (batch: Batch) => applyCasts(casts, batch)
          if (sink.tables !== undefined) {
            const merge =
              mode === "incremental" && Option.isSome(dataset.incremental) && dataset.incremental.value.key.length > 0
            const tableWriter = yield* sink.tables.open(
              mapping.target,
              casts.columns,
              writeOptions(mode === "full" ? "replace" : merge ? "merge" : "append")
            )
            writer = { kind: "table", writer: tableWriter }
            transferred = yield* transferToTable({ pages, transform, writer: tableWriter, report })
          } else if (sink.files !== undefined) {
            if (Option.isNone(mapping.format)) {
              return yield* new DatasetError({
                message: `${dataset.name} is a table and store ${sinkStore.name} holds files: give the mapping a format (csv, parquet or jsonl)`
              })
            }
            const format = formatNamed(mapping.format.value.name)
            const options = mapping.format.value.options
            const fileWriter = yield* sink.files.open(
              mapping.target,
              writeOptions(mode === "full" ? "replace" : "append")
            )
            writer = { kind: "files", writer: fileWriter }
            transferred = yield* transferToFile({
              pages,
              transform,
              columns: casts.columns,
              encode: (columns, batches) => format.encode(columns, batches, options),
              writer: fileWriter,
              path: partPath(runId, format.extensions[0]!),
              writeEmpty: mode === "full",
              report
            })
          } else {
            return yield* new DatasetError({ message: `store ${sinkStore.name} cannot be written to` })
          }
        }

        const nothingNew = mode === "incremental" && transferred.rows === 0 && transferred.files === 0
        if (nothingNew) return { mode, rows: 0, bytes: 0, files: 0, note: "nothing new" }

        const watermark = Option.orElse(transferred.watermark, () => Option.map(checkpoint, (c) => c.watermark))
        const encoded = Option.isSome(transferred.watermark)
          ? yield* encodeWatermark(connector, transferred.watermark.value)
          : Option.getOrNull(watermark)
        yield* state.prepareCommit({ ...key, runId, watermark: encoded })
        const delivery = yield* writer.writer.commit({ runId, watermark: encoded, rows: transferred.rows })
        yield* state.completeCommit({ ...key, runId })
        return {
          mode,
          rows: delivery.rows,
          bytes: writer.kind === "files" ? delivery.bytes : transferred.bytes,
          files: delivery.files
        }
      })
    )
