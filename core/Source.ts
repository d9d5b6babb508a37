/**
 * The source side of a connector. A connector is declared as a value: its `type` (the
 * YAML `type:`), the Schemas of its store and dataset config, and `open`, which opens
 * a session in a Scope. Importing a connector has no side effects.
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { Batch } from "./Batch.js"
import type { SourceError } from "./Errors.js"
import type { Filter } from "./Filter.js"
import type { KeySide } from "./Reconcile.js"
import type { Column } from "./Types.js"

/**
 * A Schema that decodes one block of a share config into `A`. What it decodes from is
 * whatever YAML gives, and Schema's encoded type parameter is invariant, so it is
 * left open here rather than forcing every connector to spell its encoded form.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ConfigSchema<A> = Schema.Schema<A, any>

/** What a connector is told about the store it opens. */
export interface StoreContext {
  /** The store's name in the config, for messages. */
  readonly store: string
  /** The folder of the config file: relative paths in a store config resolve against it. */
  readonly baseDir: string
}

export type DatasetDescription =
  { readonly kind: "table"; readonly columns: ReadonlyArray<Column> } | { readonly kind: "files" }

export interface IncrementalSpec {
  /** The column whose value grows as rows are added or changed. */
  readonly cursor: string
  /** Columns that identify a row: they order rows sharing a cursor value, and sinks merge on them. */
  readonly key: ReadonlyArray<string>
  /** A window re-read before the watermark, for rows that commit late with an older cursor. */
  readonly lookback: Option.Option<Duration.Duration>
  /**
   * `reconcile`: after an incremental run, rows whose key the source no longer has are
   * deleted from the target in the same commit (core/Reconcile.ts). Absent means `ignore`.
   */
  readonly deletes?: "ignore" | "reconcile"
}

export interface ReadPlan<W> {
  /** The dataset's name in the share, for messages. */
  readonly dataset: string
  readonly mode: "full" | "incremental"
  /** The last committed watermark; `None` on a full run or the first incremental one. */
  readonly after: Option.Option<W>
  /** Columns to read, in order; `None` reads them all. */
  readonly columns: Option.Option<ReadonlyArray<string>>
  /** Rows to keep; pushed into the read where the store can evaluate it. */
  readonly filter: Option.Option<Filter>
  readonly incremental: Option.Option<IncrementalSpec>
}

/** A batch and the watermark that is safe to commit once a sink has durably written it and every page before it. */
export interface Page<W> {
  readonly batch: Batch
  readonly watermark: Option.Option<W>
}

/** A file in a file store. `path` is relative to the dataset's folder and uses `/`. */
export interface FileEntry {
  readonly path: string
  readonly size: number
  /** Milliseconds since the epoch. */
  readonly lastModified: number
  /** Changes whenever the content does; detects a file rewritten while it is copied. */
  readonly etag: string
}

/** Which files a file listing returns. */
export interface FileRange {
  /** Only files after this (last_modified, path) pair. */
  readonly after: Option.Option<{ readonly lastModified: number; readonly path: string }>
  /** Only files modified at or before this instant (ms), frozen when the run starts. */
  readonly until: number
}

/**
 * Where a sink can copy a file from without its bytes passing through Ferry: a path on
 * this machine, or a URL that a storage service fetches by itself (a server-side copy,
 * such as Azure's Copy Blob From URL).
 */
export type FileLocation = LocalFileLocation | UrlFileLocation

export interface LocalFileLocation {
  readonly kind: "local"
  readonly path: string
}

export interface UrlFileLocation {
  readonly kind: "url"
  /** The URL without its credential, for messages. */
  readonly url: string
  /**
   * The URL with a short-lived, read-only credential (a SAS) that lets a storage service
   * read the file; a secret, never logged.
   */
  readonly signed: Redacted.Redacted<string>
  /** When `signed` stops working, in milliseconds since the epoch. */
  readonly expires: number
  /** The version listed: a copy of another version fails rather than deliver it in its place. */
  readonly etag: string
  readonly size: number
}

export interface FileAccess<D> {
  /** Files of the dataset in the range, in (last_modified, path) order. */
  readonly list: (dataset: D, range: FileRange) => Stream.Stream<FileEntry, SourceError>
  /** The bytes of one file, as stored. */
  readonly read: (dataset: D, file: FileEntry) => Stream.Stream<Uint8Array, SourceError>
  /** The file as it is now, to tell whether it changed while it was read. */
  readonly stat: (dataset: D, path: string) => Effect.Effect<FileEntry, SourceError>
  /** Where a sink may copy the file from by itself, when the store can say. */
  readonly locate?: (dataset: D, file: FileEntry) => Effect.Effect<FileLocation, SourceError>
}

/** Which keys of a table dataset a key side lists. */
export interface KeyRequest {
  /** The dataset's name in the share, for messages. */
  readonly dataset: string
  /** The key columns, in key order. */
  readonly key: ReadonlyArray<string>
  /** The dataset's row filter: only the keys of rows it keeps belong to the dataset. */
  readonly filter: Option.Option<Filter>
}

/**
 * A file format a source may write a table in by itself: CSV in Ferry's own text forms
 * (docs/formats.md), with this dialect, without the header line.
 */
export interface EncodedFormat {
  readonly format: "csv"
  readonly delimiter: string
  readonly quote: string
  /** The text of NULL, written unquoted; a value equal to it is quoted. */
  readonly null: string
}

/** A table read as the bytes of files (see `SourceSession.readEncoded`). */
export interface EncodedTable<W> {
  /**
   * The rows, encoded, in one or more parts that the caller reads at the same time and
   * writes as a file each: a source that can read disjoint pieces of the table at once
   * (PostgreSQL: ranges of a large table's pages on connections of their own) returns
   * several; no order holds between the parts.
   */
  readonly parts: ReadonlyArray<Stream.Stream<Uint8Array, SourceError>>
  /** Rows in the bytes pulled so far, over all parts: all of them once every part has ended. */
  readonly rows: () => number
  /** What the last page of `readTable` would carry: safe to commit once the whole file is written. */
  readonly watermark: Option.Option<W>
  /**
   * Optional: takes back a chunk of a part that nothing reads any more, so that the
   * source may write later chunks into its memory instead of allocating more. The
   * caller gives a chunk back only when its writer is done with it
   * (`FileWriter.releasesChunks`), and may give back chunks that are not the source's,
   * which it ignores.
   */
  readonly recycle?: (chunk: Uint8Array) => void
}

export interface SourceSession<D, W> {
  readonly describe: (dataset: D) => Effect.Effect<DatasetDescription, SourceError>
  /** Present when the store holds table datasets. */
  readonly readTable?: (dataset: D, plan: ReadPlan<W>) => Stream.Stream<Page<W>, SourceError>
  /**
   * Optional, for stores that can render Ferry's text forms themselves: the rows of
   * `readTable(dataset, plan)` already encoded, byte for byte what encoding its batches
   * in `format` would give, so that they need not pass through Arrow. `None` when this
   * read cannot be rendered exactly (a type, the dialect, the dataset's kind); the
   * caller then reads batches. The caller asks only when no cast applies.
   */
  readonly readEncoded?: (
    dataset: D,
    plan: ReadPlan<W>,
    format: EncodedFormat
  ) => Effect.Effect<Option.Option<EncodedTable<W>>, SourceError, Scope.Scope>
  /** Present when the store holds file datasets. */
  readonly files?: FileAccess<D>
  /**
   * The keys of a table dataset as the session sees it (the same snapshot as its reads),
   * for `deletes: reconcile`. Present when the connector declares `capabilities.keys`.
   */
  readonly keys?: (dataset: D, request: KeyRequest) => Effect.Effect<KeySide<SourceError>, SourceError, Scope.Scope>
}

/** What a source can do beyond reading, declared so that config validation can check it before anything opens. */
export interface SourceCapabilities {
  /** Its sessions list a table dataset's keys in key order (`SourceSession.keys`). */
  readonly keys?: boolean
}

export interface SourceConnector<C = unknown, D = unknown, W = unknown> {
  /** The YAML `type:` of the store, snake_case. */
  readonly type: string
  readonly description: string
  /** The store's connection settings (beside `type` and `account`). */
  readonly storeConfig: ConfigSchema<C>
  /** A dataset's `source:` settings (beside `store`). */
  readonly datasetConfig: ConfigSchema<D>
  readonly watermark: ConfigSchema<W>
  readonly capabilities?: SourceCapabilities
  readonly open: (config: C, context: StoreContext) => Effect.Effect<SourceSession<D, W>, SourceError, Scope.Scope>
}
