/**
 * The rows of the state tables as the drivers return them, decoded into the store's
 * types. Decoding accepts what SQLite and PostgreSQL each return for the same column,
 * and nothing inexact: better-sqlite3 returns BIGINT as a number, pg as decimal text,
 * which is refused rather than rounded beyond 2^53 - 1; a time is ISO-8601 text in both
 * (the columns are TEXT), or a Date where a driver parses a timestamp column itself.
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { Checkpoint, DatasetKey, DatasetRun, PendingCommit, Run } from "../StateStore.js"
import { StateError } from "../StateError.js"

const Status = Schema.Literal("running", "succeeded", "failed", "canceled")
export const Count = Schema.Union(Schema.Number, Schema.NumberFromString).pipe(
  Schema.filter((count) => Number.isSafeInteger(count) && count >= 0, {
    message: () => "a count must be a non-negative integer below 2^53"
  })
)
export const Time = Schema.Union(Schema.ValidDateFromSelf, Schema.Date)
const Json = Schema.parseJson()

export const RunRow = Schema.Struct({
  run_id: Schema.String,
  subscription: Schema.String,
  share: Schema.String,
  mode: Schema.Literal("full", "incremental"),
  status: Status,
  started_at: Time,
  ended_at: Schema.NullOr(Time),
  message: Schema.NullOr(Schema.String)
})

export const DatasetRow = Schema.Struct({
  run_id: Schema.String,
  dataset: Schema.String,
  status: Status,
  started_at: Time,
  ended_at: Schema.NullOr(Time),
  row_count: Count,
  byte_count: Count,
  file_count: Count,
  message: Schema.NullOr(Schema.String),
  // Left as text: SQL NULL (no watermark) and the JSON text `null` are different things.
  watermark: Schema.NullOr(Schema.String)
})

export const CheckpointRow = Schema.Struct({
  watermark: Json,
  run_id: Schema.String,
  committed_at: Time
})

export const PendingRow = Schema.Struct({
  subscription: Schema.String,
  dataset: Schema.String,
  watermark: Json,
  run_id: Schema.String,
  prepared_at: Time
})

export const toRun = (row: typeof RunRow.Type): Run => ({
  runId: row.run_id,
  subscription: row.subscription,
  share: row.share,
  mode: row.mode,
  status: row.status,
  startedAt: row.started_at,
  ...(row.ended_at === null ? {} : { endedAt: row.ended_at }),
  ...(row.message === null ? {} : { message: row.message })
})

export const toDatasetRun = (row: typeof DatasetRow.Type, doing: string): Effect.Effect<DatasetRun, StateError> =>
  Effect.map(
    row.watermark === null ? Effect.succeed(Option.none()) : Effect.asSome(decodeWatermark(row.watermark, doing)),
    (watermark): DatasetRun => ({
      runId: row.run_id,
      dataset: row.dataset,
      status: row.status,
      startedAt: row.started_at,
      ...(row.ended_at === null ? {} : { endedAt: row.ended_at }),
      rows: row.row_count,
      bytes: row.byte_count,
      files: row.file_count,
      ...(row.message === null ? {} : { message: row.message }),
      ...(Option.isSome(watermark) ? { watermark: watermark.value } : {})
    })
  )

export const toCheckpoint = (row: typeof CheckpointRow.Type): Checkpoint => ({
  watermark: row.watermark,
  runId: row.run_id,
  committedAt: row.committed_at
})

export const toPendingCommit = (row: typeof PendingRow.Type): PendingCommit & DatasetKey => ({
  subscription: row.subscription,
  dataset: row.dataset,
  watermark: row.watermark,
  runId: row.run_id,
  preparedAt: row.prepared_at
})

/** Decodes the rows of a query, failing with what was being done when a row is not what the schema says. */
export const decodeRows =
  <A, I>(schema: Schema.Schema<A, I>, doing: string) =>
  (rows: ReadonlyArray<unknown>): Effect.Effect<ReadonlyArray<A>, StateError> =>
    Effect.mapError(
      Schema.decodeUnknown(Schema.Array(schema))(rows),
      (error) => new StateError({ message: `Cannot ${doing}: a stored row is malformed: ${error.message}` })
    )

/** Watermarks are stored as JSON text; values JSON cannot carry exactly are refused rather than altered. */
export const encodeWatermark = (watermark: unknown, doing: string): Effect.Effect<string, StateError> => {
  const refuse = (reason: string) => new StateError({ message: `Cannot ${doing}: the watermark ${reason}` })
  return Effect.try({
    try: () => JSON.stringify(watermark) as string | undefined,
    catch: (error) => refuse(`is not JSON (${error instanceof Error ? error.message : String(error)})`)
  }).pipe(
    Effect.filterOrFail(
      (text): text is string => typeof text === "string",
      () => refuse("is undefined")
    )
  )
}

export const decodeWatermark = (text: string, doing: string): Effect.Effect<unknown, StateError> =>
  Effect.mapError(
    Schema.decodeUnknown(Json)(text),
    (error) => new StateError({ message: `Cannot ${doing}: the stored watermark is not JSON: ${error.message}` })
  )

/** Counts are checked before they are written, so that both databases store the same exact integer. */
export const checkCount = (count: number, what: string, doing: string): Effect.Effect<number, StateError> =>
  Number.isSafeInteger(count) && count >= 0
    ? Effect.succeed(count)
    : Effect.fail(
        new StateError({ message: `Cannot ${doing}: ${what} must be a non-negative integer below 2^53, not ${count}` })
      )

/** Timestamps are stored as ISO-8601 UTC text of fixed width, which sorts as time does. */
export const encodeTime = (time: Date): string => time.toISOString()

/** A database error as a state error: what was being done and the database's reason. */
export const fromSqlError =
  (doing: string) =>
  (error: SqlError): StateError =>
    new StateError({
      message: `Cannot ${doing}: ${error.cause instanceof Error ? error.cause.message : error.message}`
    })
