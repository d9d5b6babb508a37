/**
 * File formats for table data: each reads a file into Arrow batches and writes
 * batches into the bytes of a file, streaming, with memory bounded by a few batches
 * whatever the file size.
 */
import type * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import type { Batch } from "../../core/Batch.js"
import type { FormatError, SourceError } from "../../core/Errors.js"
import type { ConfigSchema } from "../../core/Source.js"
import type { Column, LogicalType } from "../../core/Types.js"

export type FormatName = "csv" | "parquet" | "jsonl"

/** A file to decode, from whichever store holds it. */
export interface FileInput {
  /** The file as the user knows it (a path or URL), for messages. */
  readonly name: string
  readonly size: number
  /** The whole file as a stream of chunks. */
  readonly stream: () => Stream.Stream<Uint8Array, SourceError>
  /** Bytes [start, end) of the file, for formats that seek (Parquet's footer and row groups). */
  readonly readRange: (start: number, end: number) => Effect.Effect<Uint8Array, SourceError>
  /** Set when the file is on the local disk. */
  readonly localPath?: string
}

export interface TableFormat<O> {
  readonly name: FormatName
  /** File name extensions, without the dot; the first is used for files Ferry writes. */
  readonly extensions: ReadonlyArray<string>
  /** Options of this format in a share config (`csv:`, `parquet:`), all optional. */
  readonly options: ConfigSchema<O>
  /**
   * The columns of a file, from its own metadata or inferred from a sample of its
   * rows. `declared` fixes the types of the columns it names.
   */
  readonly inspect: (
    input: FileInput,
    options: O,
    declared: ReadonlyMap<string, LogicalType>
  ) => Effect.Effect<ReadonlyArray<Column>, FormatError | SourceError>
  /**
   * The rows of a file as batches of `columns`, which `inspect` returned, possibly
   * fewer of them (a format that can skip unread columns does).
   */
  readonly decode: (
    input: FileInput,
    columns: ReadonlyArray<Column>,
    options: O
  ) => Stream.Stream<Batch, FormatError | SourceError>
  /** The bytes of one file holding the batches, which all have `columns`. */
  readonly encode: <E>(
    columns: ReadonlyArray<Column>,
    batches: Stream.Stream<Batch, E>,
    options: O
  ) => Stream.Stream<Uint8Array, E | FormatError>
}
