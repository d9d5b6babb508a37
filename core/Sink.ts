/**
 * The sink side of a connector. A sink publishes atomically: nothing a consumer can
 * read changes until `commit`, and `commit` is idempotent per run id, so a run that
 * crashed after the sink committed is recognised and never applied twice.
 */
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { Batch } from "./Batch.js"
import type { SinkError } from "./Errors.js"
import type { KeySide } from "./Reconcile.js"
import type { ConfigSchema, FileLocation, StoreContext } from "./Source.js"
import type { Column } from "./Types.js"

/**
 * `replace`: after the commit the target holds exactly this run's data (full snapshots).
 * `append`: this run's data is added (incremental snapshots; files with the same path are overwritten).
 * `merge`: rows are upserted on the key (sinks that can).
 */
export type WriteMode = "replace" | "append" | "merge"

export interface WriteOptions {
  readonly runId: string
  readonly dataset: string
  readonly mode: WriteMode
  /** The key to merge on, when `mode` is `merge`. */
  readonly key: ReadonlyArray<string>
}

export interface CommitRequest {
  readonly runId: string
  /** The watermark this commit delivers, as stored JSON; recorded in the sink's manifest. */
  readonly watermark: unknown
  /** Rows carried by the files, when they were encoded from a table. */
  readonly rows: number
}

/** What a commit published. */
export interface Delivery {
  readonly rows: number
  readonly bytes: number
  readonly files: number
  /** True when this run id had already been committed and nothing changed. */
  readonly alreadyCommitted: boolean
  /** Rows the commit deleted by key (`TableDeletes.stage`), when any were staged. */
  readonly deleted?: number
}

/**
 * Deleting rows by key in the commit, for `deletes: reconcile`. A writer opened to
 * merge on a key gives it when its sink declares `capabilities.deletes`.
 */
export interface TableDeletes {
  /** The target's keys as they are before this writer's commit, in key order. */
  readonly keys: Effect.Effect<KeySide<SinkError>, SinkError>
  /**
   * Stages keys (batches of the key columns) whose rows the commit deletes, in the same
   * transaction as the rows written: a reader sees both or neither. A key the writer
   * also wrote a row for is not deleted. Called once, after the last `write`; resolves
   * to the number of keys staged.
   */
  readonly stage: <E>(keys: Stream.Stream<Batch, E>) => Effect.Effect<number, SinkError | E>
}

export interface TableWriter {
  readonly write: (batch: Batch) => Effect.Effect<void, SinkError>
  readonly commit: (request: CommitRequest) => Effect.Effect<Delivery, SinkError>
  /** Drops everything staged. Closing the writer's scope without a commit aborts too. */
  readonly abort: Effect.Effect<void>
  readonly deletes?: TableDeletes
}

/** A file to write: its path relative to the target, and its source's metadata. */
export interface FileToWrite {
  readonly path: string
  /** Milliseconds since the epoch; kept on the copy where the store can. */
  readonly lastModified?: number
}

export interface WrittenFile {
  readonly path: string
  readonly bytes: number
  /**
   * Hex SHA-256 of the content. Absent only when the file was copied inside a storage
   * service that keeps no SHA-256 of it: reading it back to compute one would pass its
   * bytes through Ferry.
   */
  readonly sha256?: string
  /** Hex MD5 of the content, as a storage service keeps it (a blob's Content-MD5), when it does. */
  readonly md5?: string
}

export interface FileWriter {
  readonly write: <E>(
    file: FileToWrite,
    content: Stream.Stream<Uint8Array, E>
  ) => Effect.Effect<WrittenFile, SinkError | E>
  /**
   * True when `write` is done with every chunk of its content by the time it pulls
   * more (it writes and hashes each before asking for the next, keeping no view of it),
   * so that the caller may reuse a chunk's memory from then on. A writer that gathers
   * chunks into larger blocks leaves it unset.
   */
  readonly releasesChunks?: boolean
  /**
   * Copies a file from where its source keeps it, inside the storage (a file system
   * copy, a server-side copy), so that its bytes do not pass through Ferry. `None`
   * when this writer cannot copy from there; the file is then streamed with `write`.
   */
  readonly copy?: (file: FileToWrite, from: FileLocation) => Effect.Effect<Option.Option<WrittenFile>, SinkError>
  readonly commit: (request: CommitRequest) => Effect.Effect<Delivery, SinkError>
  readonly abort: Effect.Effect<void>
}

export interface SinkSession<T> {
  /** A short description of the target for messages, such as `received/sales/`. */
  readonly describeTarget: (target: T) => string
  /** Present when the store receives rows into tables. */
  readonly tables?: {
    readonly open: (
      target: T,
      columns: ReadonlyArray<Column>,
      options: WriteOptions
    ) => Effect.Effect<TableWriter, SinkError, Scope.Scope>
  }
  /** Present when the store receives files (tables arrive encoded as CSV, Parquet or JSONL parts). */
  readonly files?: {
    readonly open: (target: T, options: WriteOptions) => Effect.Effect<FileWriter, SinkError, Scope.Scope>
  }
  /** True when a commit of this run id is already published in the target. */
  readonly isCommitted: (target: T, runId: string) => Effect.Effect<boolean, SinkError>
}

/** What a sink can do beyond writing, declared so that config validation can check it before anything opens. */
export interface SinkCapabilities {
  /** Its table writers opened to merge on a key can delete rows by key in the commit (`TableWriter.deletes`). */
  readonly deletes?: boolean
}

export interface SinkConnector<C = unknown, T = unknown> {
  /** The YAML `type:` of the store, snake_case; the same as its source side's, if it has one. */
  readonly type: string
  readonly description: string
  readonly storeConfig: ConfigSchema<C>
  /** A mapping's target settings (beside `store`, `format` and its options). */
  readonly targetConfig: ConfigSchema<T>
  readonly capabilities?: SinkCapabilities
  readonly open: (config: C, context: StoreContext) => Effect.Effect<SinkSession<T>, SinkError, Scope.Scope>
}
