/**
 * The state store: runs, what each run delivered per dataset, and the checkpointed
 * watermark of every (subscription, dataset). The store is written once against
 * `@effect/sql`'s `SqlClient` in portable SQL; each database is a layer that provides
 * the client and applies the migrations. The commit protocol that moves a watermark is
 * described in docs/state.md.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Postgres from "./internal/Postgres.js"
import * as Sqlite from "./internal/Sqlite.js"
import * as SqlStore from "./internal/SqlStore.js"
import type { StateLocation } from "../../config/FerryConfig.js"
import type { StateError } from "./StateError.js"

export type RunMode = "full" | "incremental"
export type RunStatus = "running" | "succeeded" | "failed" | "canceled"
export type FinishedStatus = Exclude<RunStatus, "running">

export interface Run {
  readonly runId: string
  readonly subscription: string
  readonly share: string
  readonly mode: RunMode
  readonly status: RunStatus
  readonly startedAt: Date
  readonly endedAt?: Date
  readonly message?: string
}

/** What one run did with one dataset. */
export interface DatasetRun {
  readonly runId: string
  readonly dataset: string
  readonly status: RunStatus
  readonly startedAt: Date
  readonly endedAt?: Date
  readonly rows: number
  readonly bytes: number
  readonly files: number
  readonly message?: string
  /** The watermark this run delivered, as JSON; absent when it delivered none. */
  readonly watermark?: unknown
}

export interface RunDetail extends Run {
  /** In dataset name order. */
  readonly datasets: ReadonlyArray<DatasetRun>
}

export interface StartRun {
  /** Chosen by the caller (a UUID v7), so that it can be passed to the sinks before the row exists. */
  readonly runId: string
  readonly subscription: string
  readonly share: string
  readonly mode: RunMode
  readonly startedAt: Date
}

export interface FinishRun {
  readonly runId: string
  readonly status: FinishedStatus
  readonly endedAt: Date
  readonly message?: string
}

export interface ListRuns {
  readonly subscription?: string
  /** Only runs of this provider's shares (`share` is `provider/name`). */
  readonly provider?: string
  /** At most this many runs, newest first. */
  readonly limit: number
  /** The id of the last run of the previous page: the page starts with the run started before it. */
  readonly before?: string
}

export interface DatasetKey {
  readonly subscription: string
  readonly dataset: string
}

export interface RunDatasetKey extends DatasetKey {
  readonly runId: string
}

export interface PrepareCommit extends RunDatasetKey {
  /** Any JSON value; `undefined`, bigints and cycles are refused. */
  readonly watermark: unknown
}

export interface Checkpoint {
  readonly watermark: unknown
  /** The run whose commit published this watermark. */
  readonly runId: string
  readonly committedAt: Date
}

/** The intent of a run to publish a watermark, recorded before its sink commits. */
export interface PendingCommit {
  readonly watermark: unknown
  readonly runId: string
  readonly preparedAt: Date
}

export class StateStore extends Context.Tag("ferry/StateStore")<
  StateStore,
  {
    /** Records a run as `running`. Fails if the id is taken. */
    readonly startRun: (run: StartRun) => Effect.Effect<void, StateError>
    /** Fails if the run is unknown or already finished. */
    readonly finishRun: (finish: FinishRun) => Effect.Effect<void, StateError>
    readonly getRun: (runId: string) => Effect.Effect<Option.Option<RunDetail>, StateError>
    /** Newest first, by start time then run id. */
    readonly listRuns: (query: ListRuns) => Effect.Effect<ReadonlyArray<Run>, StateError>
    /** As `listRuns`, each run with its datasets, read in one more statement for the whole page. */
    readonly listRunDetails: (query: ListRuns) => Effect.Effect<ReadonlyArray<RunDetail>, StateError>
    /** Inserts or replaces what the run did with the dataset. Fails if the run is unknown. */
    readonly recordDataset: (record: DatasetRun) => Effect.Effect<void, StateError>
    /**
     * Marks every run still `running`, and its running datasets, `failed` with the
     * message "interrupted", and returns their ids. Called at start, before any run,
     * for the runs of a process that died; it must not be called while another process
     * shares the store and is running.
     */
    readonly markInterruptedRuns: (now: Date) => Effect.Effect<ReadonlyArray<string>, StateError>

    /** The last committed watermark of the dataset for the subscription. */
    readonly checkpoint: (key: DatasetKey) => Effect.Effect<Option.Option<Checkpoint>, StateError>
    /** The intent left by a run that stopped between `prepareCommit` and `completeCommit`. */
    readonly pendingCommit: (key: DatasetKey) => Effect.Effect<Option.Option<PendingCommit>, StateError>
    /** Every pending intent, of one subscription or all, to resolve at start. */
    readonly pendingCommits: (query: {
      readonly subscription?: string
    }) => Effect.Effect<ReadonlyArray<PendingCommit & DatasetKey>, StateError>
    /**
     * Step 1, before the sink commits: records the watermark the run is about to
     * publish. Repeating it for the same run replaces the watermark; it fails if
     * another run's intent is pending (resolve that first), if the run is unknown, or
     * if the run belongs to another subscription.
     */
    readonly prepareCommit: (intent: PrepareCommit) => Effect.Effect<void, StateError>
    /**
     * Step 3, after the sink committed: moves the run's pending watermark into the
     * checkpoint and clears the intent, in one transaction. Repeating it after it
     * succeeded returns the same checkpoint; without the run's intent it fails and
     * changes nothing.
     */
    readonly completeCommit: (key: RunDatasetKey) => Effect.Effect<Checkpoint, StateError>
    /** Drops the run's pending intent, when its sink did not commit. Does nothing if there is none. */
    readonly discardPending: (key: RunDatasetKey) => Effect.Effect<void, StateError>
  }
>() {}

/** The store over whatever `SqlClient` is provided; the client's database must be migrated. */
export const layer: Layer.Layer<StateStore, never, SqlClient.SqlClient> = Layer.effect(StateStore, SqlStore.make)

export interface SqliteOptions {
  /** The database file; its folder is created if missing. `:memory:` for a private in-memory database. */
  readonly filename: string
  /** How long a statement waits for another process's write lock before failing; 5 seconds by default. */
  readonly busyTimeout?: Duration.DurationInput
}

/** The store in a SQLite file, migrated on open. */
export const layerSqlite = (options: SqliteOptions): Layer.Layer<StateStore, StateError> =>
  Layer.provide(layer, Sqlite.layerClient(options))

/** A fresh in-memory store per build, for the tests of other modules. */
export const layerMemory: Layer.Layer<StateStore> = Layer.orDie(layerSqlite({ filename: ":memory:" }))

export interface PostgresOptions {
  /**
   * A `postgres://` URL. Its `schema` query parameter names the schema the state lives
   * in (`ferry` when absent; lower-case letters, digits and `_`), created if missing;
   * every other parameter goes to the driver.
   */
  readonly url: Redacted.Redacted<string>
  /** How long connecting may take before the store fails to open; 10 seconds by default. */
  readonly connectTimeout?: Duration.DurationInput
}

/**
 * The store in a PostgreSQL schema, migrated on open; several processes may share it.
 * Errors name the database and host, never the URL.
 */
export const layerPostgres = (options: PostgresOptions): Layer.Layer<StateStore, StateError> =>
  Layer.provide(layer, Postgres.layerClient(options))

/** The store a config's `state:` names; the config has already checked the value's shape. */
export const layerFor = (location: StateLocation): Layer.Layer<StateStore, StateError> =>
  location.kind === "sqlite" ? layerSqlite({ filename: location.file }) : layerPostgres({ url: location.url })
