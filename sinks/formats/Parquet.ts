/**
 * Parquet, through parquet-wasm (the Rust `parquet` crate compiled to WebAssembly),
 * chosen by measurement: see docs/parquet.md.
 *
 * Batches cross into WebAssembly as Arrow IPC bytes. The writer embeds the Arrow
 * schema in the file (`ARROW:schema`), so what Parquet's own logical types cannot say
 * survives a round trip through Ferry: the time zone name of a timestamp, and the
 * extension names that mark JSON and UUID columns. Other readers see the Parquet
 * logical types: DECIMAL, TIMESTAMP (isAdjustedToUTC when zoned), DATE, TIME, INT(8/16),
 * STRING, LIST.
 */
import * as Arrow from "apache-arrow"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { availableParallelism } from "node:os"
import type * as ParquetWasm from "parquet-wasm"
import type { Batch } from "../../core/Batch.js"
import { DEFAULT_BATCH_ROWS, emptyBatch } from "../../core/Batch.js"
import { FormatError, type SourceError } from "../../core/Errors.js"
import type { Column, LogicalType } from "../../core/Types.js"
import { columnsOf, isSameType, toSchema, typeName } from "../../core/Types.js"
import type { FileInput, TableFormat } from "./Format.js"
import type { FieldPlan } from "./internal/ForeignArrow.js"
import type { Annotation } from "./internal/ParquetFooter.js"
import { annotateField, annotateFooter, readAnnotations } from "./internal/ParquetFooter.js"
import { hasSeconds, restoredType, SECONDS_KEY, storedType, toMillis, toSeconds } from "./internal/SecondTimestamps.js"
import { planField } from "./internal/ForeignArrow.js"
import { joinChunks, ParquetWorker } from "./internal/ParquetWorker.js"
import { ParquetOptions } from "./Options.js"

/**
 * parquet-wasm compiles a 5 MB WebAssembly module when it loads, which costs about
 * 17 MiB of memory and 80 ms: loaded on first use, so that a run that touches no
 * Parquet file (and a main thread that leaves writing to a worker) never pays for it.
 */
let parquetWasmModule: Promise<typeof ParquetWasm> | undefined
const loadParquetWasm: Effect.Effect<typeof ParquetWasm> = Effect.promise(
  () => (parquetWasmModule ??= import("parquet-wasm"))
)

const formatError = (fields: { file?: string; column?: string; message: string }) =>
  new FormatError({ format: "parquet", ...fields })

/** WebAssembly errors arrive as strings or Errors. */
const describe = (cause: unknown): string =>
  cause instanceof Error ? cause.message : typeof cause === "string" ? cause : String(cause)

// ---- opening a file ----------------------------------------------------------------

/** A local copy of a remote file; Parquet reads its footer first, which a stream cannot give. */
const spool = (input: FileInput): Effect.Effect<string, FormatError | SourceError, Scope.Scope> =>
  Effect.gen(function* () {
    const directory = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => fs.promises.mkdtemp(path.join(os.tmpdir(), "ferry-parquet-")),
        catch: (cause) =>
          formatError({ file: input.name, message: `cannot create a temporary file: ${describe(cause)}` })
      }),
      (directory) => Effect.promise(() => fs.promises.rm(directory, { recursive: true, force: true }))
    )
    const spooled = path.join(directory, "input.parquet")
    const handle = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => fs.promises.open(spooled, "w"),
        catch: (cause) => formatError({ file: input.name, message: `cannot spool the file: ${describe(cause)}` })
      }),
      (handle) => Effect.promise(() => handle.close())
    )
    yield* Stream.runForEach(input.stream(), (chunk) =>
      Effect.tryPromise({
        try: () => handle.write(chunk),
        catch: (cause) => formatError({ file: input.name, message: `cannot spool the file: ${describe(cause)}` })
      })
    )
    return spooled
  })

interface OpenFile {
  readonly file: ParquetWasm.ParquetFile
  /** The file's Arrow schema, read from the footer alone, with the footer's JSON and UUID annotations. */
  readonly schema: Arrow.Schema
  /** Columns Ferry stored as milliseconds for being timestamp(s). */
  readonly seconds: ReadonlySet<string>
}

const secondsColumns = (file: ParquetWasm.ParquetFile): ReadonlySet<string> => {
  try {
    const names: unknown = JSON.parse(
      String(file.metadata().fileMetadata().keyValueMetadata().get(SECONDS_KEY) ?? "[]")
    )
    return new Set(Array.isArray(names) ? names.filter((name): name is string => typeof name === "string") : [])
  } catch {
    return new Set()
  }
}

/** The bytes that end the file: its footer, its length and the magic number. */
const readTail = async (local: string): Promise<Uint8Array> => {
  const handle = await fs.promises.open(local, "r")
  try {
    const { size } = await handle.stat()
    const trailer = Buffer.alloc(Math.min(8, size))
    await handle.read(trailer, 0, trailer.length, size - trailer.length)
    const length = trailer.length === 8 ? trailer.readUInt32LE(0) + 8 : 0
    if (length === 0 || length > size) return trailer
    const tail = Buffer.alloc(length)
    await handle.read(tail, 0, length, size - length)
    return tail
  } finally {
    await handle.close()
  }
}

/** Annotations the Arrow reader drops; a footer Ferry cannot parse simply has none. */
const readFileAnnotations = (local: string): Effect.Effect<ReadonlyMap<string, Annotation>> =>
  Effect.tryPromise(async () => readAnnotations(await readTail(local))).pipe(
    Effect.orElseSucceed((): ReadonlyMap<string, Annotation> => new Map())
  )

const openFile = (input: FileInput): Effect.Effect<OpenFile, FormatError | SourceError, Scope.Scope> =>
  Effect.gen(function* () {
    const local = input.localPath ?? (yield* spool(input))
    const blob = yield* Effect.tryPromise({
      try: () => fs.openAsBlob(local),
      catch: (cause) => formatError({ file: input.name, message: `cannot open the file: ${describe(cause)}` })
    })
    const wasm = yield* loadParquetWasm
    const file = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => wasm.ParquetFile.fromFile(blob),
        catch: (cause) => formatError({ file: input.name, message: `not a readable Parquet file: ${describe(cause)}` })
      }),
      (file) => Effect.sync(() => file.free())
    )
    const arrowSchema = yield* Effect.try({
      try: () => Arrow.tableFromIPC(file.schema().intoIPCStream()).schema,
      catch: (cause) => formatError({ file: input.name, message: `unreadable schema: ${describe(cause)}` })
    })
    const annotations = yield* readFileAnnotations(local)
    const schema = new Arrow.Schema(
      arrowSchema.fields.map((field) => annotateField(field, annotations.get(field.name))),
      arrowSchema.metadata
    )
    return { file, schema, seconds: secondsColumns(file) }
  })

/** Plans the fields to read; a column Ferry cannot carry fails only if it is asked for. */
const planFields = (
  { schema, seconds }: OpenFile,
  input: FileInput,
  wanted: (name: string) => boolean = () => true
): Effect.Effect<ReadonlyMap<string, FieldPlan>, FormatError> =>
  Effect.forEach(
    schema.fields.filter((field) => wanted(field.name)),
    (field) =>
      Either.mapLeft(
        Either.map(planField(field), (plan) => (seconds.has(field.name) ? restoreSeconds(plan) : plan)),
        (message) => formatError({ file: input.name, column: field.name, message })
      )
  ).pipe(Effect.map((plans) => new Map(plans.map((plan) => [plan.field.name, plan]))))

const restoreSeconds = (plan: FieldPlan): FieldPlan => {
  const type = restoredType(plan.type)
  const convert = plan.convert
  return {
    field: plan.field,
    type,
    convert: (data) =>
      Either.flatMap(convert === undefined ? Either.right(data) : convert(data), (stored) => toSeconds(stored, type))
  }
}

// ---- inspect -----------------------------------------------------------------------

const inspect = (
  input: FileInput,
  _options: ParquetOptions,
  declared: ReadonlyMap<string, LogicalType>
): Effect.Effect<ReadonlyArray<Column>, FormatError | SourceError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const plans = yield* planFields(yield* openFile(input), input)
      const columns = [...plans.values()].map((plan): Column => ({
        name: plan.field.name,
        type: plan.type,
        nullable: plan.field.nullable
      }))
      for (const [name, type] of declared) {
        const column = columns.find((candidate) => candidate.name === name)
        if (column === undefined) {
          return yield* formatError({
            file: input.name,
            column: name,
            message: `declared column "${name}" is not in the file`
          })
        }
        if (!isSameType(column.type, type)) {
          return yield* formatError({
            file: input.name,
            column: name,
            message: `column "${name}" is declared ${typeName(type)}, but the file holds ${typeName(column.type)}`
          })
        }
      }
      return columns
    })
  )

// ---- decode ------------------------------------------------------------------------

/** How each requested column is found in the batches the file yields. */
interface ReadPlan {
  readonly schema: Arrow.Schema
  readonly columns: ReadonlyArray<{ readonly name: string; readonly type: Arrow.DataType; readonly plan: FieldPlan }>
}

const readPlan = (
  plans: ReadonlyMap<string, FieldPlan>,
  columns: ReadonlyArray<Column>,
  input: FileInput
): Effect.Effect<ReadPlan, FormatError> =>
  Effect.gen(function* () {
    const schema = toSchema(columns)
    const read: Array<ReadPlan["columns"][number]> = []
    for (const [i, column] of columns.entries()) {
      const plan = plans.get(column.name)
      if (plan === undefined) {
        return yield* formatError({
          file: input.name,
          column: column.name,
          message: `column "${column.name}" is not in the file`
        })
      }
      if (!isSameType(plan.type, column.type)) {
        return yield* formatError({
          file: input.name,
          column: column.name,
          message: `column "${column.name}" is expected as ${typeName(column.type)}, but the file holds ${typeName(plan.type)}`
        })
      }
      read.push({ name: column.name, type: schema.fields[i]!.type as Arrow.DataType, plan })
    }
    return { schema, columns: read }
  })

/** A batch of the file as a Ferry batch: requested order, Ferry's types, foreign types converted. */
const toFerryBatch = (
  wasmBatch: ParquetWasm.RecordBatch,
  plan: ReadPlan,
  input: FileInput
): Either.Either<Batch | undefined, FormatError> => {
  const source = Arrow.tableFromIPC(wasmBatch.intoIPCStream()).batches[0]
  if (source === undefined || source.numRows === 0) return Either.right(undefined)
  const children: Array<Arrow.Data> = []
  for (const column of plan.columns) {
    const index = source.schema.fields.findIndex((field) => field.name === column.name)
    const data = source.data.children[index]
    if (data === undefined) {
      return Either.left(
        formatError({ file: input.name, column: column.name, message: "column missing from a row group" })
      )
    }
    const converted = column.plan.convert === undefined ? Either.right(data) : column.plan.convert(data)
    if (Either.isLeft(converted)) {
      return Either.left(formatError({ file: input.name, column: column.name, message: converted.left }))
    }
    children.push(converted.right.clone(column.type))
  }
  const length = source.numRows
  return Either.right(
    new Arrow.RecordBatch(
      plan.schema,
      Arrow.makeData({ type: new Arrow.Struct(plan.schema.fields), length, nullCount: 0, children })
    )
  )
}

/** Batches without columns still carry their row counts, one per row group. */
const rowCountBatches = (file: ParquetWasm.ParquetFile): Stream.Stream<Batch> =>
  Stream.fromIterable(
    file
      .metadata()
      .rowGroups()
      .map((group) => group.numRows())
  ).pipe(
    Stream.filter((rows) => rows > 0),
    Stream.map(
      (length) =>
        new Arrow.RecordBatch(
          new Arrow.Schema([]),
          Arrow.makeData({ type: new Arrow.Struct([]), length, nullCount: 0, children: [] })
        )
    )
  )

const decode = (
  input: FileInput,
  columns: ReadonlyArray<Column>,
  _options: ParquetOptions
): Stream.Stream<Batch, FormatError | SourceError> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const opened = yield* openFile(input)
      if (columns.length === 0) return rowCountBatches(opened.file)
      const names = new Set(columns.map((column) => column.name))
      const plans = yield* planFields(opened, input, (name) => names.has(name))
      const plan = yield* readPlan(plans, columns, input)
      const readable = yield* Effect.tryPromise({
        // The reader fetches one row group's projected column chunks at a time.
        try: () => opened.file.stream({ batchSize: DEFAULT_BATCH_ROWS, columns: [...names] }),
        catch: (cause) => formatError({ file: input.name, message: describe(cause) })
      })
      return Stream.fromReadableStream<ParquetWasm.RecordBatch, FormatError>(
        () => readable,
        (cause) => formatError({ file: input.name, message: describe(cause) })
      ).pipe(
        Stream.mapEffect((wasmBatch) => toFerryBatch(wasmBatch, plan, input)),
        Stream.filter((batch): batch is Batch => batch !== undefined)
      )
    })
  )

// ---- encode ------------------------------------------------------------------------

/**
 * A column chunk stays dictionary-encoded while its dictionary fits this many bytes,
 * and falls back to plain encoding after. The writer's default (1 MiB) lets a column of
 * mostly distinct values (keys, amounts, instants) hash a whole row group before giving
 * up: on a mixed 1M-row table, 256 KiB writes 2.5 times faster and a sixth smaller, and
 * a table of repeated names and codes smaller too (docs/parquet.md).
 */
const DICTIONARY_PAGE_BYTES = 256 * 1024

/** parquet-wasm's Compression values, known without loading it. */
const compressions: Record<ParquetOptions["compression"], ParquetWasm.Compression> = {
  none: 0,
  snappy: 1,
  zstd: 5
}

const writerProperties = (
  wasm: typeof ParquetWasm,
  options: ParquetOptions,
  columns: ReadonlyArray<Column>
): ParquetWasm.WriterProperties => {
  const builder = new wasm.WriterPropertiesBuilder()
    .setCompression(compressions[options.compression])
    .setMaxRowGroupSize(options.row_group_rows)
    .setDictionaryPageSizeLimit(DICTIONARY_PAGE_BYTES)
    .setCreatedBy("ferry")
  const seconds = columns.filter((column) => hasSeconds(column.type)).map((column) => column.name)
  return (
    seconds.length === 0 ? builder : builder.setKeyValueMetadata(new Map([[SECONDS_KEY, JSON.stringify(seconds)]]))
  ).build()
}

/** Rewrites timestamp(s) columns as milliseconds, the schema being written (see SecondTimestamps). */
const makeSecondsStore = (columns: ReadonlyArray<Column>, schema: Arrow.Schema) => {
  const indices = columns.flatMap((column, i) => (hasSeconds(column.type) ? [i] : []))
  return (batch: Batch): Either.Either<Batch, FormatError> => {
    if (indices.length === 0) return Either.right(batch)
    const children = [...batch.data.children]
    for (const i of indices) {
      const column = columns[i]!
      const stored = toMillis(children[i]!, column.type)
      if (Either.isLeft(stored)) return Either.left(formatError({ column: column.name, message: stored.left }))
      children[i] = stored.right
    }
    const data = Arrow.makeData({
      type: new Arrow.Struct(schema.fields),
      length: batch.numRows,
      nullCount: 0,
      children
    })
    return Either.right(new Arrow.RecordBatch(schema, data))
  }
}

/**
 * Checks a batch against the columns being written. The writer drops a batch it cannot
 * write without saying so, so whatever it would refuse is refused here first: other
 * columns or types, and nulls in a column declared not nullable.
 */
const makeBatchCheck = (columns: ReadonlyArray<Column>) => {
  let checked: Arrow.Schema | undefined
  const required = columns.flatMap((column, i) => (column.nullable ? [] : [i]))
  return (batch: Batch): FormatError | undefined => {
    for (const i of required) {
      if ((batch.data.children[i]?.nullCount ?? 0) > 0) {
        const name = columns[i]!.name
        return formatError({ column: name, message: `column "${name}" is not nullable, but a batch holds nulls in it` })
      }
    }
    if (batch.schema === checked) return undefined
    const actual = columnsOf(batch.schema)
    if (Either.isLeft(actual)) return formatError({ message: actual.left })
    const expected = columns.map((column) => `${column.name} ${typeName(column.type)}`).join(", ")
    const found = actual.right.map((column) => `${column.name} ${typeName(column.type)}`).join(", ")
    if (
      actual.right.length !== columns.length ||
      actual.right.some((column, i) => column.name !== columns[i]!.name || !isSameType(column.type, columns[i]!.type))
    ) {
      return formatError({ message: `a batch has columns (${found}), expected (${expected})` })
    }
    checked = batch.schema
    return undefined
  }
}

/** Keeps the chunks an Arrow IPC writer writes: views of the batch's buffers, and the messages' headers. */
class ChunkSink extends Arrow.AsyncByteQueue {
  readonly chunks: Array<Uint8Array> = []
  override write(value: Parameters<Arrow.AsyncByteQueue["write"]>[0]): void {
    // The writer passes Uint8Arrays only (it views each buffer as bytes first).
    this.chunks.push(value as Uint8Array)
  }
}

/**
 * A batch as the Arrow IPC stream the writer reads, under the schema being written, in
 * the chunks apache-arrow's writer makes (the same bytes as `tableToIPC`), so that the
 * caller joins them into a buffer it reuses rather than a new buffer per batch.
 */
const ipcChunks = (schema: Arrow.Schema, batch: Batch): ReadonlyArray<Uint8Array> => {
  const sink = new ChunkSink()
  const writer = new Arrow.RecordBatchStreamWriter().reset(sink)
  writer.write(new Arrow.RecordBatch(schema, batch.data))
  writer.finish()
  return sink.chunks
}

/**
 * Moves batches into WebAssembly memory, under the schema being written, each through
 * the same IPC buffer (the writer copies it in).
 */
const makeWasmBatches = (wasm: typeof ParquetWasm, schema: Arrow.Schema) => {
  let buffer: ArrayBuffer | undefined
  return (batch: Batch): ReadonlyArray<ParquetWasm.RecordBatch> => {
    const ipc = joinChunks(ipcChunks(schema, batch), buffer)
    buffer = ipc.buffer as ArrayBuffer
    const table = wasm.Table.fromIPCStream(ipc)
    try {
      return table.recordBatches()
    } finally {
      table.free()
    }
  }
}

const finishFooter = (tail: Uint8Array, columns: ReadonlyArray<Column>): Effect.Effect<Uint8Array, FormatError> =>
  Effect.try({
    try: () => annotateFooter(tail, columns),
    catch: (cause) => formatError({ message: `cannot annotate the Parquet footer: ${describe(cause)}` })
  })

/** Holds back the last chunk, which holds the footer, to give it the JSON and UUID annotations. */
const annotateLastChunk = <E>(
  raw: Stream.Stream<Uint8Array, E>,
  columns: ReadonlyArray<Column>
): Stream.Stream<Uint8Array, E | FormatError> =>
  Stream.suspend(() => {
    let held: Uint8Array | undefined
    return raw.pipe(
      Stream.mapConcat((bytes) => {
        const previous = held
        held = bytes
        return previous === undefined ? [] : [previous]
      }),
      Stream.concat(
        Stream.suspend(() => (held === undefined ? Stream.empty : Stream.fromEffect(finishFooter(held, columns))))
      )
    )
  })

/**
 * The writer on a worker thread (internal/ParquetWorker.ts): the main thread checks
 * each batch and turns it into IPC bytes, the worker encodes. An upstream failure
 * stops the worker before it writes a footer, and fails the stream with the upstream's
 * own error.
 */
const encodeOnWorker = <E>(
  columns: ReadonlyArray<Column>,
  batches: Stream.Stream<Batch, E>,
  options: ParquetOptions
): Stream.Stream<Uint8Array, E | FormatError> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const schema = toSchema(columns.map((column) => ({ ...column, type: storedType(column.type) })))
      const check = makeBatchCheck(columns)
      const store = makeSecondsStore(columns, schema)
      const seconds = columns.filter((column) => hasSeconds(column.type)).map((column) => column.name)
      const worker = yield* Effect.acquireRelease(
        Effect.sync(
          () =>
            new ParquetWorker({
              compression: compressions[options.compression],
              rowGroupRows: options.row_group_rows,
              dictionaryPageBytes: DICTIONARY_PAGE_BYTES,
              metadata: seconds.length === 0 ? [] : [[SECONDS_KEY, JSON.stringify(seconds)]]
            })
        ),
        (worker) => Effect.promise(() => worker.close())
      )
      let sentAny = false
      const send = (batch: Batch): Effect.Effect<void, FormatError> =>
        Either.match(store(batch), {
          onLeft: (error) => Effect.fail(error),
          onRight: (stored) =>
            Effect.promise(() => {
              sentAny = true
              return worker.send(ipcChunks(schema, stored))
            })
        })
      const feed = batches.pipe(
        Stream.runForEach((batch) => {
          const mismatch = check(batch)
          if (mismatch !== undefined) return Effect.fail(mismatch)
          return batch.numRows > 0 ? send(batch) : Effect.void
        }),
        // A file without rows still needs its schema, which the writer takes from a batch.
        Effect.zipRight(Effect.suspend(() => (sentAny ? Effect.void : send(emptyBatch(columns))))),
        Effect.zipRight(Effect.sync(() => worker.end())),
        Effect.onError(() => Effect.sync(() => worker.abort()))
      )
      const feeder = yield* Effect.forkScoped(feed)
      const pull: Effect.Effect<Uint8Array, Option.Option<E | FormatError>> = Effect.flatMap(
        Effect.promise(() => worker.next()),
        (output) => {
          switch (output.kind) {
            case "bytes":
              return Effect.succeed(output.bytes)
            case "end":
              return Effect.fail(Option.none())
            case "failed":
              return Effect.fail(Option.some(formatError({ message: `cannot write Parquet: ${output.message}` })))
            case "aborted":
              return Effect.flatMap(Effect.mapError(Fiber.join(feeder), Option.some), () => Effect.fail(Option.none()))
          }
        }
      )
      return annotateLastChunk(Stream.repeatEffectOption(pull), columns)
    })
  )

/**
 * Feeds the upstream batches to the WebAssembly writer on demand, so the writer pulls
 * at its own pace and flushes one row group at a time. An upstream failure is kept
 * aside to be re-raised as it was, since it crosses WebAssembly as an opaque value.
 */
const encodeInThread = <E>(
  columns: ReadonlyArray<Column>,
  batches: Stream.Stream<Batch, E>,
  options: ParquetOptions
): Stream.Stream<Uint8Array, E | FormatError> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const wasm = yield* loadParquetWasm
      const schema = toSchema(columns.map((column) => ({ ...column, type: storedType(column.type) })))
      const check = makeBatchCheck(columns)
      const store = makeSecondsStore(columns, schema)
      const pull = yield* Stream.toPull(batches)
      const runPromiseExit = Runtime.runPromiseExit(yield* Effect.runtime<never>())
      let upstreamFailure: Cause.Cause<E | FormatError> | undefined
      let sentAny = false
      let held: Uint8Array | undefined
      const toWasmBatches = makeWasmBatches(wasm, schema)
      const send = (controller: ReadableStreamDefaultController<ParquetWasm.RecordBatch>, batch: Batch) => {
        for (const wasmBatch of toWasmBatches(batch)) controller.enqueue(wasmBatch)
        sentAny = true
      }
      const trySend = (controller: ReadableStreamDefaultController<ParquetWasm.RecordBatch>, batch: Batch) => {
        const stored = store(batch)
        if (Either.isLeft(stored)) return stored.left
        try {
          send(controller, stored.right)
          return undefined
        } catch (cause) {
          return formatError({ message: `cannot pass a batch to the Parquet writer: ${describe(cause)}` })
        }
      }
      const input = new ReadableStream<ParquetWasm.RecordBatch>(
        {
          pull: async (controller) => {
            let exit = await runPromiseExit(pull)
            // A pull that enqueues nothing is never called again (the stream waits for
            // a chunk), so keep pulling past empty chunks and empty batches.
            while (Exit.isSuccess(exit)) {
              let sent = false
              for (const batch of exit.value) {
                const mismatch = check(batch) ?? (batch.numRows > 0 ? trySend(controller, batch) : undefined)
                if (mismatch !== undefined) {
                  upstreamFailure = Cause.fail(mismatch)
                  return controller.error(mismatch)
                }
                sent ||= batch.numRows > 0
              }
              if (sent) return
              exit = await runPromiseExit(pull)
            }
            const failure = Cause.failureOrCause(exit.cause)
            if (Either.isLeft(failure)) {
              const error = failure.left
              if (Option.isNone(error)) {
                // A file without rows still needs its schema, which the writer takes from a batch.
                const mismatch = sentAny ? undefined : trySend(controller, emptyBatch(columns))
                if (mismatch === undefined) return controller.close()
                upstreamFailure = Cause.fail(mismatch)
                return controller.error(mismatch)
              }
              upstreamFailure = Cause.fail(error.value)
            } else {
              upstreamFailure = failure.right
            }
            controller.error(Cause.squash(exit.cause))
          }
        },
        { highWaterMark: 0 }
      )
      const output = yield* Effect.tryPromise({
        try: () => wasm.transformParquetStream(input, writerProperties(wasm, options, columns)),
        catch: (cause) => formatError({ message: `cannot start the Parquet writer: ${describe(cause)}` })
      }).pipe(
        // The writer starts by reading the first batch, so a failed upstream shows here first.
        Effect.catchAll((error) =>
          upstreamFailure === undefined ? Effect.fail(error) : Effect.failCause(upstreamFailure)
        )
      )
      return Stream.fromReadableStream<Uint8Array, FormatError>(
        () => output as ReadableStream<Uint8Array>,
        (cause) => formatError({ message: `cannot write Parquet: ${describe(cause)}` })
      ).pipe(
        Stream.catchAll((error) =>
          upstreamFailure === undefined ? Stream.fail(error) : Stream.failCause(upstreamFailure)
        ),
        // The writer treats a failed input as its end and closes the file: never let that
        // footer out, or a failed transfer would look like a complete file.
        Stream.mapEffect((bytes) =>
          upstreamFailure === undefined ? Effect.succeed(bytes) : Effect.failCause(upstreamFailure)
        ),
        // The last chunk holds the footer, which gets the JSON and UUID annotations.
        Stream.mapConcat((bytes) => {
          const previous = held
          held = bytes
          return previous === undefined ? [] : [previous]
        }),
        Stream.concat(
          Stream.suspend(() =>
            upstreamFailure !== undefined
              ? Stream.failCause(upstreamFailure)
              : held === undefined
                ? Stream.empty
                : Stream.fromEffect(finishFooter(held, columns))
          )
        )
      )
    })
  )

/**
 * On a worker thread when the machine has a second core: encoding a row group then
 * overlaps decoding the next batches (about a tenth faster from PostgreSQL on two
 * cores that the server shares, for about 45 MiB more memory: docs/benchmarks.md).
 * On one core, in this thread.
 */
const encode = <E>(
  columns: ReadonlyArray<Column>,
  batches: Stream.Stream<Batch, E>,
  options: ParquetOptions
): Stream.Stream<Uint8Array, E | FormatError> =>
  encodeOn(availableParallelism() > 1 ? "worker" : "this thread", columns, batches, options)

/** The file's bytes, written on a worker thread or on this one (`encode` picks). */
export const encodeOn = <E>(
  thread: "worker" | "this thread",
  columns: ReadonlyArray<Column>,
  batches: Stream.Stream<Batch, E>,
  options: ParquetOptions
): Stream.Stream<Uint8Array, E | FormatError> =>
  thread === "worker" ? encodeOnWorker(columns, batches, options) : encodeInThread(columns, batches, options)

export const Parquet: TableFormat<ParquetOptions> = {
  name: "parquet",
  extensions: ["parquet"],
  options: ParquetOptions,
  inspect,
  decode,
  encode
}
