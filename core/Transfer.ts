/**
 * The transfer core: one pipeline moves one dataset of one run from a source to a
 * sink's writer. Streams are pulled, so a slow sink slows the source and memory stays
 * bounded by a few batches. Committing is the caller's: a pipeline returns what it
 * wrote and the watermark that becomes safe once the writer commits.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { Batch } from "./Batch.js"
import type { CastError, FormatError, SinkError, SourceError } from "./Errors.js"
import { SourceError as SourceErrorClass } from "./Errors.js"
import type { FileWriter, TableWriter, WrittenFile } from "./Sink.js"
import type { EncodedTable, FileAccess, FileEntry, FileRange, Page } from "./Source.js"
import type { Column } from "./Types.js"
import type { FileWatermark } from "./Watermark.js"

/** Counters of a pipeline, reported as it goes. */
export interface Progress {
  readonly rows: number
  readonly bytes: number
  readonly files: number
}

export type ProgressReporter = (progress: Progress) => Effect.Effect<void>

export interface Transferred<W> extends Progress {
  /** The watermark of the last page, or `None` when no page carried one. */
  readonly watermark: Option.Option<W>
}

/** A per-batch transformation (casts), applied after the source honoured the plan. */
export type BatchTransform = (batch: Batch) => Either.Either<Batch, CastError>

const batchBytes = (batch: Batch): number => {
  let bytes = 0
  for (const child of batch.data.children) bytes += child.byteLength
  return bytes
}

/**
 * The batches of a source's pages, transformed, while the last page's watermark and
 * the counters are kept for the caller.
 */
const follow = <W, E>(
  pages: Stream.Stream<Page<W>, E>,
  transform: BatchTransform,
  counters: { rows: number; bytes: number; watermark: Option.Option<W> }
): Stream.Stream<Batch, E | CastError> =>
  pages.pipe(
    Stream.mapEffect((page) => {
      if (Option.isSome(page.watermark)) counters.watermark = page.watermark
      return Either.match(transform(page.batch), {
        onLeft: (error) => Effect.fail(error),
        onRight: (batch) => {
          counters.rows += batch.numRows
          return Effect.succeed(batch)
        }
      })
    }),
    Stream.filter((batch) => batch.numRows > 0)
  )

/** Pages into a table sink's writer. */
export const transferToTable = <W, E>(options: {
  readonly pages: Stream.Stream<Page<W>, E>
  readonly transform: BatchTransform
  readonly writer: TableWriter
  readonly report: ProgressReporter
}): Effect.Effect<Transferred<W>, E | CastError | SinkError> =>
  Effect.gen(function* () {
    const counters = { rows: 0, bytes: 0, watermark: Option.none<W>() }
    yield* follow(options.pages, options.transform, counters).pipe(
      Stream.runForEach((batch) =>
        options.writer.write(batch).pipe(
          Effect.zipRight(
            Effect.suspend(() => {
              counters.bytes += batchBytes(batch)
              return options.report({ rows: counters.rows, bytes: counters.bytes, files: 0 })
            })
          )
        )
      )
    )
    return { rows: counters.rows, bytes: counters.bytes, files: 0, watermark: counters.watermark }
  })

/** The first non-empty chunk a pull gives, or an empty chunk when the stream ends first. */
const firstChunk = <A, E>(pull: Effect.Effect<Chunk.Chunk<A>, Option.Option<E>>): Effect.Effect<Chunk.Chunk<A>, E> =>
  Effect.matchEffect(pull, {
    onFailure: Option.match({ onNone: () => Effect.succeed(Chunk.empty<A>()), onSome: (error) => Effect.fail(error) }),
    onSuccess: (chunk) => (Chunk.isEmpty(chunk) ? firstChunk(pull) : Effect.succeed(chunk))
  })

/** The format a table is encoded with when it lands in a file store. */
export type Encoder = <E>(
  columns: ReadonlyArray<Column>,
  batches: Stream.Stream<Batch, E>
) => Stream.Stream<Uint8Array, E | FormatError>

/**
 * Pages into one file of a file sink, encoded on the way. `writeEmpty` decides whether
 * a run without rows still writes a file (a full snapshot does, so the target keeps
 * the columns; an incremental run with nothing new does not).
 */
export const transferToFile = <W, E>(options: {
  readonly pages: Stream.Stream<Page<W>, E>
  readonly transform: BatchTransform
  readonly columns: ReadonlyArray<Column>
  readonly encode: Encoder
  readonly writer: FileWriter
  readonly path: string
  readonly writeEmpty: boolean
  readonly report: ProgressReporter
}): Effect.Effect<Transferred<W>, E | CastError | FormatError | SinkError> =>
  Effect.gen(function* () {
    const counters = { rows: 0, bytes: 0, watermark: Option.none<W>() }
    return yield* Effect.scoped(
      Effect.gen(function* () {
        // Pull the first batches before opening a file, so that an empty incremental run
        // writes none. (Not Stream.peel: it turns a failure after the peeled part into a defect.)
        const pull = yield* Stream.toPull(follow(options.pages, options.transform, counters))
        const first = yield* firstChunk(pull)
        if (Chunk.isEmpty(first) && !options.writeEmpty) {
          return { rows: 0, bytes: 0, files: 0, watermark: counters.watermark }
        }
        const batches = Chunk.isEmpty(first)
          ? Stream.empty
          : Stream.concat(Stream.fromChunk(first), Stream.repeatEffectChunkOption(pull))
        const content = options.encode(options.columns, batches).pipe(
          Stream.tap((chunk) =>
            Effect.suspend(() => {
              counters.bytes += chunk.byteLength
              return options.report({ rows: counters.rows, bytes: counters.bytes, files: 0 })
            })
          )
        )
        yield* options.writer.write({ path: options.path }, content)
        return { rows: counters.rows, bytes: counters.bytes, files: 1, watermark: counters.watermark }
      })
    )
  })

/**
 * `content` for a writer that is done with its chunks once it pulls more
 * (`FileWriter.releasesChunks`): each pull gives the chunks of the one before it back.
 * The chunks of the last pull are not given back: nothing would reuse them.
 */
const returnedOnPull = <E>(
  content: Stream.Stream<Uint8Array, E>,
  recycle: (chunk: Uint8Array) => void
): Stream.Stream<Uint8Array, E> =>
  Stream.suspend(() => {
    let pulled = Chunk.empty<Uint8Array>()
    return Stream.mapChunks(content, (chunk) => {
      for (const done of pulled) recycle(done)
      pulled = chunk
      return chunk
    })
  })

/** Chunks of an encoded table read ahead of the sink. */
const ENCODED_READ_AHEAD = 4

/**
 * A table its source encoded itself (`SourceSession.readEncoded`) into files of a file
 * sink, one per part, written at the same time, each starting with the format's header.
 * Like `transferToFile`, a part's first bytes are pulled before its file is opened: a
 * part without rows writes no file. When no part had rows, `writeEmpty` decides: a full
 * snapshot writes one file of the header alone (the target keeps the columns), an
 * incremental run with nothing new writes none.
 */
export const transferEncodedToFile = <W>(options: {
  readonly encoded: EncodedTable<W>
  /** What the format writes before the rows (a CSV header line), if anything. */
  readonly header: ReadonlyArray<Uint8Array>
  readonly writer: FileWriter
  /** The path of the file of each part, by its index. */
  readonly path: (part: number) => string
  readonly writeEmpty: boolean
  readonly report: ProgressReporter
}): Effect.Effect<Transferred<W>, SourceError | SinkError> =>
  Effect.gen(function* () {
    const { encoded } = options
    let bytes = 0
    const writePart = (part: Stream.Stream<Uint8Array, SourceError>, index: number) =>
      Effect.scoped(
        Effect.gen(function* () {
          const pull = yield* Stream.toPull(part.pipe(Stream.filter((chunk) => chunk.length > 0)))
          const first = yield* firstChunk(pull)
          if (Chunk.isEmpty(first)) return 0
          const rows = Stream.concat(Stream.fromChunk(first), Stream.repeatEffectChunkOption(pull))
          yield* writeFile(index, rows)
          return 1
        })
      )
    const recycle = options.writer.releasesChunks === true ? encoded.recycle : undefined
    const writeFile = <E>(index: number, rows: Stream.Stream<Uint8Array, E>) => {
      // A few chunks read ahead, so that the source's socket is read while the sink writes.
      const content = Stream.concat(Stream.fromIterable(options.header), rows).pipe(
        Stream.bufferChunks({ capacity: ENCODED_READ_AHEAD }),
        Stream.tap((chunk) =>
          Effect.suspend(() => {
            bytes += chunk.byteLength
            return options.report({ rows: encoded.rows(), bytes, files: 0 })
          })
        )
      )
      return options.writer.write(
        { path: options.path(index) },
        recycle === undefined ? content : returnedOnPull(content, recycle)
      )
    }
    const written = yield* Effect.forEach(encoded.parts, writePart, { concurrency: "unbounded" })
    let files = written.reduce((sum: number, count) => sum + count, 0)
    if (files === 0 && options.writeEmpty) {
      yield* writeFile(0, Stream.empty)
      files = 1
    }
    const count = encoded.rows()
    return { rows: count, bytes, files, watermark: count === 0 ? Option.none<W>() : encoded.watermark }
  })

/** Attempts per file before a file that keeps changing while it is copied fails the run. */
const COPY_ATTEMPTS = 3

/** Files copied at once: enough to overlap one file's I/O waits with another's hashing. */
const COPY_CONCURRENCY = 4

export interface CopiedFiles extends Transferred<FileWatermark> {
  /** Files the sink copied inside the storage; their bytes did not pass through Ferry. */
  readonly copiedInStore: number
  /** Bytes of the files streamed through Ferry (those not copied inside the storage). */
  readonly streamedBytes: number
}

const fileWatermark = (file: FileEntry): FileWatermark => ({
  last_modified: new Date(file.lastModified).toISOString(),
  path: file.path
})

/**
 * Copies the files of a file dataset byte for byte: inside the storage when the source
 * can say where a file is and the sink can copy from there, streamed through Ferry
 * otherwise. A file whose etag changes while it is copied is copied again, up to three
 * times; one that keeps changing fails the run rather than be delivered half-changed.
 * A copy that fails while its file changed (a store that reads or copies on the
 * condition that the etag still holds fails when it does not) is retried the same way.
 */
export const copyFiles = <D>(options: {
  readonly access: FileAccess<D>
  readonly dataset: D
  readonly range: FileRange
  readonly writer: FileWriter
  readonly report: ProgressReporter
  readonly store: string
}): Effect.Effect<CopiedFiles, SourceError | SinkError> =>
  Effect.gen(function* () {
    const { access, dataset, writer } = options
    const counters = {
      rows: 0,
      bytes: 0,
      files: 0,
      copiedInStore: 0,
      streamedBytes: 0,
      watermark: Option.none<FileWatermark>()
    }
    const copyOnce = (
      file: FileEntry
    ): Effect.Effect<{ written: WrittenFile; inStore: boolean }, SourceError | SinkError> =>
      Effect.gen(function* () {
        const target = { path: file.path, lastModified: file.lastModified }
        if (writer.copy !== undefined && access.locate !== undefined) {
          const copied = yield* writer.copy(target, yield* access.locate(dataset, file))
          if (Option.isSome(copied)) return { written: copied.value, inStore: true }
        }
        return { written: yield* writer.write(target, access.read(dataset, file)), inStore: false }
      })
    const copyStable = (
      file: FileEntry,
      attempt: number
    ): Effect.Effect<{ written: WrittenFile; inStore: boolean }, SourceError | SinkError> =>
      Effect.gen(function* () {
        const copied = yield* Effect.either(copyOnce(file))
        const after = yield* Either.match(copied, {
          // The failure stands unless the file changed; a file that cannot be stat'ed says nothing more.
          onLeft: (error) => Effect.orElseFail(access.stat(dataset, file.path), () => error),
          onRight: () => access.stat(dataset, file.path)
        })
        if (after.etag === file.etag) {
          if (Either.isLeft(copied)) return yield* Effect.fail(copied.left)
          if (copied.right.written.bytes === after.size) return copied.right
        }
        if (attempt >= COPY_ATTEMPTS) {
          return yield* new SourceErrorClass({
            store: options.store,
            file: file.path,
            message: `${file.path} kept changing while it was copied (${COPY_ATTEMPTS} attempts); try again when it is stable`
          })
        }
        return yield* copyStable(after, attempt + 1)
      })
    yield* access.list(dataset, options.range).pipe(
      // Results come back in listing order, so the watermark only moves forward.
      Stream.mapEffect((file) => Effect.map(copyStable(file, 1), (copied) => ({ file, ...copied })), {
        concurrency: COPY_CONCURRENCY
      }),
      Stream.runForEach(({ file, inStore, written }) =>
        Effect.suspend(() => {
          counters.files += 1
          counters.bytes += written.bytes
          if (inStore) counters.copiedInStore += 1
          else counters.streamedBytes += written.bytes
          // The listed entry, not a re-read one: a watermark past the run's upper
          // bound would skip files modified in between.
          counters.watermark = Option.some(fileWatermark(file))
          return options.report(counters)
        })
      )
    )
    return counters
  })
