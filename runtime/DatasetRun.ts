/**
 * One dataset of one run: settle a commit a previous run left half done, choose a full
 * or incremental snapshot, stream the data into the sink's writer, and commit in three
 * steps (docs/state.md): the state store records the watermark about to be published,
 * the sink publishes, the state store makes the watermark the checkpoint.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Batch } from "../core/Batch.js"
import type { CastPlan } from "../core/Cast.js"
import { applyCasts, planCasts } from "../core/Cast.js"
import type { SinkError, SourceError } from "../core/Errors.js"
import { reconcile } from "../core/Reconcile.js"
import type { CommitRequest, Delivery, SinkSession, TableWriter, WriteMode, WriteOptions } from "../core/Sink.js"
import type {
  DatasetDescription,
  EncodedTable,
  IncrementalSpec,
  ReadPlan,
  SourceConnector,
  SourceSession
} from "../core/Source.js"
import type { Progress, Transferred } from "../core/Transfer.js"
import { copyFiles, transferEncodedToFile, transferToFile, transferToTable } from "../core/Transfer.js"
import type { Column } from "../core/Types.js"
import { isSameType, typeName } from "../core/Types.js"
import { FileWatermark } from "../core/Watermark.js"
import type { Dataset, FerryConfig, Mapping, MappingFormat, Share, Store, Subscription } from "../config/FerryConfig.js"
import { formatNamed } from "../sinks/formats/Formats.js"
import { subscriptionKey } from "./control/ControlStore.js"
import { formatBytes } from "./Progress.js"
import type { Checkpoint, DatasetKey, RunMode } from "./state/StateStore.js"
import type { StateStore } from "./state/StateStore.js"

/**
 * Files modified this recently before a run starts wait for the next run: their last
 * write may still be going on, and file systems with coarse timestamps could give a
 * later file the same modification time as one already delivered.
 */
export const FILE_SETTLE_MS = 1_000

/** A dataset's run cannot proceed for a reason of the config or the stores, told in the message. */
export class DatasetError extends Schema.TaggedError<DatasetError>()("DatasetError", { message: Schema.String }) {}

export type Opener<S> = (store: Store) => Effect.Effect<S, SourceError | SinkError | DatasetError>

export interface DatasetEnvironment {
  readonly config: FerryConfig
  readonly state: StateStore["Type"]
  readonly openSource: Opener<SourceSession<unknown, unknown>>
  readonly openSink: Opener<SinkSession<unknown>>
}

export interface DatasetTask {
  readonly runId: string
  readonly subscription: Subscription
  readonly share: Share
  readonly dataset: Dataset
  readonly mapping: Mapping
}

export interface DatasetOutcome extends Progress {
  readonly mode: RunMode
  /** Anything worth telling beside the counts. */
  readonly note?: string
}

export interface DatasetHooks {
  readonly report: (progress: Progress) => Effect.Effect<void>
  /** Told as soon as the mode is known, so that a failure later is reported with it. */
  readonly chooseMode: (mode: RunMode) => void
}

/** What a pipeline wrote and how to publish it. */
interface Written {
  readonly transferred: Transferred<unknown>
  readonly commit: (request: CommitRequest) => Effect.Effect<Delivery, SinkError>
  /** Bytes as published (encoded files), rather than as read (Arrow buffers). */
  readonly publishedBytes: boolean
  readonly note?: string
  /** What reconciling deletes found: the keys staged (the commit deletes their rows), and how they were found. */
  readonly reconciled?: { readonly staged: number; readonly how: string }
}

interface Sides {
  readonly source: SourceSession<unknown, unknown>
  readonly sink: SinkSession<unknown>
  readonly connector: SourceConnector
  readonly sourceStore: Store
  readonly sinkStore: Store
}

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

const encodeWatermark = (connector: SourceConnector, watermark: unknown) =>
  Schema.encodeUnknown(connector.watermark)(watermark).pipe(
    Effect.mapError(() => new DatasetError({ message: "the source produced a watermark its own Schema rejects" }))
  )

const partPath = (runId: string, extension: string, part = 0) =>
  `part-${String(part).padStart(5, "0")}-${runId}.${extension}`

/**
 * A run that died between the sink's commit and the checkpoint left an intent: the
 * sink knows whether that commit happened, and the intent completes or goes.
 */
const settlePendingCommit = (state: StateStore["Type"], sink: SinkSession<unknown>, key: DatasetKey, target: unknown) =>
  Effect.gen(function* () {
    const pending = yield* state.pendingCommit(key)
    if (Option.isNone(pending)) return
    const pendingKey = { ...key, runId: pending.value.runId }
    const committed = yield* sink.isCommitted(target, pending.value.runId)
    yield* committed ? state.completeCommit(pendingKey) : state.discardPending(pendingKey)
  })

/** Incremental when the run asks for it, a checkpoint exists, and the dataset can continue from one. */
const chooseMode = (
  runMode: RunMode,
  checkpoint: Option.Option<Checkpoint>,
  description: DatasetDescription,
  dataset: Dataset
): RunMode =>
  runMode === "incremental" &&
  Option.isSome(checkpoint) &&
  (description.kind === "files" || Option.isSome(dataset.incremental))
    ? "incremental"
    : "full"

const writeOptions = (task: DatasetTask, mode: WriteMode): WriteOptions => ({
  runId: task.runId,
  dataset: task.dataset.name,
  mode,
  key: Option.match(task.dataset.incremental, { onNone: () => [], onSome: (spec) => spec.key })
})

/** A folder of files, byte for byte; a full snapshot mirrors it (deleted files leave the target too). */
const copyFolder = (
  task: DatasetTask,
  sides: Sides,
  mode: RunMode,
  after: Option.Option<unknown>,
  report: DatasetHooks["report"]
): Effect.Effect<Written, SourceError | SinkError | DatasetError, Scope.Scope> =>
  Effect.gen(function* () {
    const { sink, source } = sides
    if (sink.files === undefined) {
      return yield* new DatasetError({
        message: `${task.dataset.name} is a folder of files, and store ${sides.sinkStore.name} takes tables only`
      })
    }
    if (source.files === undefined) {
      return yield* new DatasetError({ message: `store ${sides.sourceStore.name} does not list files` })
    }
    if (Option.isSome(after) && !Schema.is(FileWatermark)(after.value)) {
      return yield* new DatasetError({
        message: "the stored checkpoint is not a file watermark; run it once with --full"
      })
    }
    const since = Option.map(after as Option.Option<FileWatermark>, (file) => ({
      lastModified: Date.parse(file.last_modified),
      path: file.path
    }))
    const writer = yield* sink.files.open(
      task.mapping.target,
      writeOptions(task, mode === "full" ? "replace" : "append")
    )
    const transferred = yield* copyFiles({
      access: source.files,
      dataset: task.dataset.source.config,
      range: { after: since, until: Date.now() - FILE_SETTLE_MS },
      writer,
      report,
      store: sides.sourceStore.name
    })
    const { copiedInStore, files, streamedBytes } = transferred
    const through = `${formatBytes(streamedBytes)} through Ferry`
    const note =
      copiedInStore === 0
        ? undefined
        : copiedInStore === files
          ? `copied inside the store: ${files} file${files === 1 ? "" : "s"}, ${through}`
          : `${copiedInStore} of ${files} files copied inside the store, ${through}`
    return { transferred, commit: writer.commit, publishedBytes: true, ...(note === undefined ? {} : { note }) }
  })

/** The dataset's columns after its column selection and casts. */
const planColumns = (task: DatasetTask, columns: ReadonlyArray<Column>) => {
  const { dataset } = task
  const selected = Option.match(dataset.columns, {
    onNone: () => columns,
    onSome: (names) => names.map((name) => columns.find((column) => column.name === name))
  })
  const missing = Option.match(dataset.columns, {
    onNone: () => [],
    onSome: (names) => names.filter((_, i) => selected[i] === undefined)
  })
  if (missing.length > 0) {
    return Either.left(
      new DatasetError({
        message: `columns ${missing.join(", ")} are not in the dataset; its columns are ${columns.map((c) => c.name).join(", ")}`
      })
    )
  }
  return Either.mapLeft(
    planCasts(selected as ReadonlyArray<Column>, dataset.casts, dataset.allowLossy),
    (message) => new DatasetError({ message })
  )
}

/**
 * The table already encoded by its source, when the source can render the mapping's
 * format exactly (`SourceSession.readEncoded`) and no cast changes a column: CSV only,
 * so far, whose rows PostgreSQL writes itself. `None` sends the table through Arrow.
 */
const readEncoded = (
  sides: Sides,
  task: DatasetTask,
  plan: ReadPlan<unknown>,
  format: MappingFormat,
  casts: CastPlan
): Effect.Effect<Option.Option<EncodedTable<unknown>>, SourceError, Scope.Scope> => {
  const read = sides.source.readEncoded
  if (read === undefined || format.name !== "csv" || casts.casts.some((cast) => cast !== undefined)) {
    return Effect.succeed(Option.none())
  }
  const { delimiter, null: nullText, quote } = format.options
  return read(task.dataset.source.config, plan, { format: "csv", delimiter, quote, null: nullText })
}

/**
 * A table, into a table sink or, encoded in the mapping's format, into a file store:
 * one part, or one per piece a source that encodes the table itself read at once.
 */
const transferTable = (
  task: DatasetTask,
  sides: Sides,
  mode: RunMode,
  after: Option.Option<unknown>,
  columns: ReadonlyArray<Column>,
  report: DatasetHooks["report"]
): Effect.Effect<Written, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const { dataset, mapping } = task
    const { sink, source } = sides
    if (source.readTable === undefined) {
      return yield* new DatasetError({ message: `store ${sides.sourceStore.name} does not read tables` })
    }
    const casts = yield* planColumns(task, columns)
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
      const merge = mode === "incremental" && Option.isSome(dataset.incremental)
      const writer = yield* sink.tables.open(
        mapping.target,
        casts.columns,
        writeOptions(task, mode === "full" ? "replace" : merge ? "merge" : "append")
      )
      const transferred = yield* transferToTable({ pages, transform, writer, report })
      // A full snapshot replaces the target, so only an incremental one has deletes to find.
      const spec = Option.getOrUndefined(dataset.incremental)
      if (merge && spec?.deletes === "reconcile") {
        const reconciled = yield* reconcileDeletes(task, sides, writer, spec)
        return { transferred, commit: writer.commit, publishedBytes: false, reconciled }
      }
      return { transferred, commit: writer.commit, publishedBytes: false }
    }
    if (sink.files === undefined) {
      return yield* new DatasetError({ message: `store ${sides.sinkStore.name} cannot be written to` })
    }
    if (Option.isNone(mapping.format)) {
      return yield* new DatasetError({
        message: `${dataset.name} is a table and store ${sides.sinkStore.name} holds files: give the mapping a format (csv, parquet or jsonl)`
      })
    }
    const format = formatNamed(mapping.format.value.name)
    const options = mapping.format.value.options
    const fileOptions = writeOptions(task, mode === "full" ? "replace" : "append")
    const path = partPath(task.runId, format.extensions[0]!)
    const encoded = yield* readEncoded(sides, task, plan, mapping.format.value, casts)
    if (Option.isSome(encoded)) {
      const header = yield* Stream.runCollect(format.encode(casts.columns, Stream.empty, options))
      const writer = yield* sink.files.open(mapping.target, fileOptions)
      const transferred = yield* transferEncodedToFile({
        encoded: encoded.value,
        header: Chunk.toReadonlyArray(header),
        writer,
        path: (part) => partPath(task.runId, format.extensions[0]!, part),
        writeEmpty: mode === "full",
        report
      })
      return { transferred, commit: writer.commit, publishedBytes: true, note: "encoded by the source" }
    }
    const writer = yield* sink.files.open(mapping.target, fileOptions)
    const transferred = yield* transferToFile({
      pages,
      transform,
      columns: casts.columns,
      encode: (encoded, batches) => format.encode(encoded, batches, options),
      writer,
      path,
      writeEmpty: mode === "full",
      report
    })
    return { transferred, commit: writer.commit, publishedBytes: true }
  })

const describeKey = (columns: ReadonlyArray<Column>) =>
  columns.map((column) => `${column.name} ${typeName(column.type)}`).join(", ")

/**
 * Finds the target's keys that the source no longer has (core/Reconcile.ts) and stages
 * them in the writer, whose commit deletes their rows with the merge.
 */
const reconcileDeletes = (
  task: DatasetTask,
  sides: Sides,
  writer: TableWriter,
  spec: IncrementalSpec
): Effect.Effect<NonNullable<Written["reconciled"]>, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const { dataset } = task
    if (writer.deletes === undefined) {
      return yield* new DatasetError({
        message: `deletes: reconcile needs a sink that can delete rows, and store ${sides.sinkStore.name} cannot`
      })
    }
    if (sides.source.keys === undefined) {
      return yield* new DatasetError({
        message: `deletes: reconcile needs a source that can list the dataset's keys, and store ${sides.sourceStore.name} cannot`
      })
    }
    const source = yield* sides.source.keys(dataset.source.config, {
      dataset: dataset.name,
      key: spec.key,
      filter: dataset.filter
    })
    const target = yield* writer.deletes.keys
    const sameKey =
      source.columns.length === target.columns.length &&
      source.columns.every(
        (column, k) => column.name === target.columns[k]!.name && isSameType(column.type, target.columns[k]!.type)
      )
    if (!sameKey) {
      return yield* new DatasetError({
        message: `the source's key (${describeKey(source.columns)}) and the target's (${describeKey(target.columns)}) differ, so deletes cannot be reconciled`
      })
    }
    const reconciliation = reconcile<SourceError | SinkError>(source, target)
    const staged = yield* writer.deletes.stage(reconciliation.missing)
    const { keysStreamed, rounds } = reconciliation.stats
    yield* Effect.logDebug(`Reconciled the keys of ${dataset.name}`).pipe(
      Effect.annotateLogs({ dataset: dataset.name, ...reconciliation.stats })
    )
    const how =
      rounds === 0
        ? `all keys compared: ${keysStreamed.source} from the source, ${keysStreamed.target} from the target`
        : `${rounds} digest round${rounds === 1 ? "" : "s"}, ${keysStreamed.source + keysStreamed.target} keys compared`
    return { staged, how }
  })

/** The three-step commit; the watermark stays where it was when nothing carried a new one. */
const commit = (
  state: StateStore["Type"],
  key: DatasetKey,
  runId: string,
  connector: SourceConnector,
  checkpoint: Option.Option<Checkpoint>,
  written: Written
) =>
  Effect.gen(function* () {
    const { transferred } = written
    const watermark = Option.isSome(transferred.watermark)
      ? yield* encodeWatermark(connector, transferred.watermark.value)
      : Option.match(checkpoint, { onNone: () => null, onSome: (stored) => stored.watermark })
    yield* state.prepareCommit({ ...key, runId, watermark })
    const delivery = yield* written.commit({ runId, watermark, rows: transferred.rows })
    yield* state.completeCommit({ ...key, runId })
    return delivery
  })

/** Runs one dataset of one run, from settling a left-over commit to publishing its watermark. */
export const runDataset =
  ({ config, openSink, openSource, state }: DatasetEnvironment) =>
  (task: DatasetTask, runMode: RunMode, hooks: DatasetHooks): Effect.Effect<DatasetOutcome, unknown> =>
    Effect.scoped(
      Effect.gen(function* () {
        const { dataset, mapping, runId } = task
        const key = { subscription: subscriptionKey(task.subscription), dataset: dataset.name }
        const sourceStore = config.stores.get(dataset.source.store)!
        const sinkStore = config.stores.get(mapping.store)!
        const sides: Sides = {
          source: yield* openSource(sourceStore),
          sink: yield* openSink(sinkStore),
          connector: config.registry.types.get(sourceStore.type)!.source!,
          sourceStore,
          sinkStore
        }
        yield* settlePendingCommit(state, sides.sink, key, mapping.target)

        const checkpoint = yield* state.checkpoint(key)
        // Without a checkpoint the run is a full one, whatever fails next.
        if (Option.isNone(checkpoint)) hooks.chooseMode("full")
        const description = yield* sides.source.describe(dataset.source.config)
        const mode = chooseMode(runMode, checkpoint, description, dataset)
        hooks.chooseMode(mode)
        const after =
          mode === "incremental" && Option.isSome(checkpoint)
            ? Option.some(yield* decodeWatermark(sides.connector, checkpoint.value.watermark))
            : Option.none()

        const written =
          description.kind === "files"
            ? yield* copyFolder(task, sides, mode, after, hooks.report)
            : yield* transferTable(task, sides, mode, after, description.columns, hooks.report)
        const { reconciled, transferred } = written
        const staged = reconciled?.staged ?? 0
        if (mode === "incremental" && transferred.rows === 0 && transferred.files === 0 && staged === 0) {
          return {
            mode,
            rows: 0,
            bytes: 0,
            files: 0,
            note: reconciled === undefined ? "nothing new" : `nothing new, nothing deleted (${reconciled.how})`
          }
        }
        const delivery = yield* commit(state, key, runId, sides.connector, checkpoint, written)
        const deleted =
          reconciled === undefined ? undefined : `${delivery.deleted ?? staged} deleted (${reconciled.how})`
        const note = [written.note, deleted].filter((part) => part !== undefined).join("; ")
        return {
          mode,
          rows: delivery.rows,
          bytes: written.publishedBytes ? delivery.bytes : transferred.bytes,
          files: delivery.files,
          ...(note === "" ? {} : { note })
        }
      })
    )
