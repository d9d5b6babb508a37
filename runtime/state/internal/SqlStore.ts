/**
 * The state store over any `SqlClient`, in SQL that SQLite (3.35+) and PostgreSQL both
 * run: upserts with ON CONFLICT, RETURNING, row-value comparisons, JSON and times as text.
 *
 * Every transaction starts with a write, which both databases need for concurrent
 * processes. SQLite takes its write lock at the first write; a transaction that read
 * first and then finds another process holding the lock fails at once with
 * SQLITE_BUSY_SNAPSHOT instead of waiting for the busy timeout. PostgreSQL (at READ
 * COMMITTED, pinned by its layer) locks the rows the first write touches; a concurrent
 * transaction on the same rows waits for it to end, then sees its committed result (the
 * intent already taken) instead of failing as it would at a stricter level.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Context from "effect/Context"
import type {
  Checkpoint,
  DatasetKey,
  DatasetRun,
  FinishRun,
  ListRuns,
  PrepareCommit,
  RunDatasetKey,
  StartRun,
  StateStore
} from "../StateStore.js"
import { StateError } from "../StateError.js"
import {
  checkCount,
  CheckpointRow,
  DatasetRow,
  decodeRows,
  decodeWatermark,
  encodeTime,
  encodeWatermark,
  fromSqlError,
  PendingRow,
  RunRow,
  toCheckpoint,
  toDatasetRun,
  toPendingCommit,
  toRun
} from "./Rows.js"

const INTERRUPTED = "interrupted"

/**
 * Every @effect/sql client finds its open transaction under one shared tag, so an
 * operation called inside another client's transaction (a sink's, say) would run its
 * statements on that connection, in that other database. The store's operations drop
 * the tag and always use the store's own connections.
 */
const own =
  <Args extends ReadonlyArray<unknown>, A, E>(operation: (...args: Args) => Effect.Effect<A, E>) =>
  (...args: Args): Effect.Effect<A, E> =>
    Effect.mapInputContext(operation(...args), Context.omit(SqlClient.TransactionConnection))

const describeKey = (key: DatasetKey): string => `dataset ${key.dataset} of subscription ${key.subscription}`

export const make: Effect.Effect<Context.Tag.Service<StateStore>, never, SqlClient.SqlClient> = Effect.gen(
  function* () {
    const sql = yield* SqlClient.SqlClient
    const now = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis))

    const selectRun = (runId: string) =>
      sql`SELECT run_id, subscription, share, mode, status, started_at, ended_at, message
          FROM runs WHERE run_id = ${runId}`

    const selectCheckpoint = (key: DatasetKey) =>
      sql`SELECT watermark, run_id, committed_at FROM checkpoints
          WHERE subscription = ${key.subscription} AND dataset = ${key.dataset}`

    const selectPending = (key: DatasetKey) =>
      sql`SELECT subscription, dataset, watermark, run_id, prepared_at FROM pending_commits
          WHERE subscription = ${key.subscription} AND dataset = ${key.dataset}`

    const findRun = (runId: string, doing: string) =>
      selectRun(runId).pipe(
        Effect.mapError(fromSqlError(doing)),
        Effect.flatMap(decodeRows(RunRow, doing)),
        Effect.map((rows) => Option.fromNullable(rows[0]))
      )

    const findCheckpoint = (key: DatasetKey, doing: string) =>
      selectCheckpoint(key).pipe(
        Effect.mapError(fromSqlError(doing)),
        Effect.flatMap(decodeRows(CheckpointRow, doing)),
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toCheckpoint))
      )

    const findPending = (key: DatasetKey, doing: string) =>
      selectPending(key).pipe(
        Effect.mapError(fromSqlError(doing)),
        Effect.flatMap(decodeRows(PendingRow, doing)),
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toPendingCommit))
      )

    const startRun = (run: StartRun) => {
      const doing = `start run ${run.runId}`
      return sql`INSERT INTO runs (run_id, subscription, share, mode, status, started_at)
        VALUES (${run.runId}, ${run.subscription}, ${run.share}, ${run.mode}, 'running', ${encodeTime(run.startedAt)})`.pipe(
        Effect.asVoid,
        Effect.mapError(fromSqlError(doing))
      )
    }

    const finishRun = (finish: FinishRun) => {
      const doing = `finish run ${finish.runId}`
      return Effect.gen(function* () {
        const finished = yield* sql`UPDATE runs
          SET status = ${finish.status}, ended_at = ${encodeTime(finish.endedAt)}, message = ${finish.message ?? null}
          WHERE run_id = ${finish.runId} AND status = 'running'
          RETURNING run_id`.pipe(Effect.mapError(fromSqlError(doing)))
        if (finished.length > 0) return
        const run = yield* findRun(finish.runId, doing)
        return yield* new StateError({
          message: Option.match(run, {
            onNone: () => `Cannot ${doing}: there is no such run`,
            onSome: (row) => `Cannot ${doing}: it already ended as ${row.status}`
          })
        })
      })
    }

    const getRun = (runId: string) => {
      const doing = `read run ${runId}`
      return Effect.gen(function* () {
        const run = yield* findRun(runId, doing)
        if (Option.isNone(run)) return Option.none()
        const datasets = yield* sql`SELECT run_id, dataset, status, started_at, ended_at,
              row_count, byte_count, file_count, message, watermark
            FROM run_datasets WHERE run_id = ${runId} ORDER BY dataset`.pipe(
          Effect.mapError(fromSqlError(doing)),
          Effect.flatMap(decodeRows(DatasetRow, doing)),
          Effect.flatMap(Effect.forEach((row) => toDatasetRun(row, doing)))
        )
        return Option.some({ ...toRun(run.value), datasets })
      })
    }

    const listRuns = (query: ListRuns) => {
      const doing = "list runs"
      return Effect.gen(function* () {
        if (!Number.isSafeInteger(query.limit) || query.limit < 1) {
          return yield* new StateError({ message: `Cannot ${doing}: the limit must be a positive integer` })
        }
        const conditions = query.subscription === undefined ? [] : [sql`subscription = ${query.subscription}`]
        if (query.provider !== undefined) {
          // Names hold `_`, a LIKE wildcard: escaped, so that the prefix is matched as written.
          const prefix = `${query.provider.replace(/[\\%_]/g, (char) => `\\${char}`)}/%`
          conditions.push(sql`share LIKE ${prefix} ESCAPE '\\'`)
        }
        if (query.before !== undefined) {
          const cursor = yield* findRun(query.before, doing)
          if (Option.isNone(cursor)) {
            return yield* new StateError({
              message: `Cannot ${doing} before run ${query.before}: there is no such run`
            })
          }
          conditions.push(sql`(started_at, run_id) < (${encodeTime(cursor.value.started_at)}, ${cursor.value.run_id})`)
        }
        const rows = yield* sql`SELECT run_id, subscription, share, mode, status, started_at, ended_at, message
          FROM runs WHERE ${sql.and(conditions)}
          ORDER BY started_at DESC, run_id DESC LIMIT ${query.limit}`.pipe(
          Effect.mapError(fromSqlError(doing)),
          Effect.flatMap(decodeRows(RunRow, doing))
        )
        return rows.map(toRun)
      })
    }

    const listRunDetails = (query: ListRuns) =>
      Effect.gen(function* () {
        const runs = yield* listRuns(query)
        if (runs.length === 0) return []
        const doing = "list the datasets of runs"
        const rows = yield* sql`SELECT run_id, dataset, status, started_at, ended_at,
              row_count, byte_count, file_count, message, watermark
            FROM run_datasets WHERE ${sql.in(
              "run_id",
              runs.map((run) => run.runId)
            )}
            ORDER BY run_id, dataset`.pipe(
          Effect.mapError(fromSqlError(doing)),
          Effect.flatMap(decodeRows(DatasetRow, doing)),
          Effect.flatMap(Effect.forEach((row) => toDatasetRun(row, doing)))
        )
        const byRun = new Map<string, Array<DatasetRun>>()
        for (const dataset of rows) {
          const list = byRun.get(dataset.runId) ?? []
          list.push(dataset)
          byRun.set(dataset.runId, list)
        }
        return runs.map((run) => ({ ...run, datasets: byRun.get(run.runId) ?? [] }))
      })

    const recordDataset = (record: DatasetRun) => {
      const doing = `record dataset ${record.dataset} of run ${record.runId}`
      return Effect.gen(function* () {
        const watermark = record.watermark === undefined ? null : yield* encodeWatermark(record.watermark, doing)
        const rows = yield* checkCount(record.rows, "the row count", doing)
        const bytes = yield* checkCount(record.bytes, "the byte count", doing)
        const files = yield* checkCount(record.files, "the file count", doing)
        yield* sql`INSERT INTO run_datasets (run_id, dataset, status, started_at, ended_at,
            row_count, byte_count, file_count, message, watermark)
          VALUES (${record.runId}, ${record.dataset}, ${record.status}, ${encodeTime(record.startedAt)},
            ${record.endedAt === undefined ? null : encodeTime(record.endedAt)},
            ${rows}, ${bytes}, ${files}, ${record.message ?? null}, ${watermark})
          ON CONFLICT (run_id, dataset) DO UPDATE SET
            status = excluded.status, started_at = excluded.started_at, ended_at = excluded.ended_at,
            row_count = excluded.row_count, byte_count = excluded.byte_count, file_count = excluded.file_count,
            message = excluded.message, watermark = excluded.watermark`.pipe(Effect.mapError(fromSqlError(doing)))
      })
    }

    const markInterruptedRuns = (at: Date) => {
      const doing = "mark interrupted runs"
      const endedAt = encodeTime(at)
      return sql
        .withTransaction(
          Effect.gen(function* () {
            yield* sql`UPDATE run_datasets SET status = 'failed', ended_at = ${endedAt}, message = ${INTERRUPTED}
              WHERE status = 'running' AND run_id IN (SELECT run_id FROM runs WHERE status = 'running')`
            const runs = yield* sql<{ readonly run_id: string }>`UPDATE runs
              SET status = 'failed', ended_at = ${endedAt}, message = ${INTERRUPTED}
              WHERE status = 'running' RETURNING run_id`
            return runs.map((row) => row.run_id)
          })
        )
        .pipe(Effect.mapError(fromSqlError(doing)))
    }

    const checkpoint = (key: DatasetKey) => findCheckpoint(key, `read the checkpoint of ${describeKey(key)}`)

    const pendingCommit = (key: DatasetKey) =>
      findPending(key, `read the pending commit of ${describeKey(key)}`).pipe(
        Effect.map(Option.map(({ watermark, runId, preparedAt }) => ({ watermark, runId, preparedAt })))
      )

    const pendingCommits = (query: { readonly subscription?: string }) => {
      const doing = "list pending commits"
      const conditions = query.subscription === undefined ? [] : [sql`subscription = ${query.subscription}`]
      return sql`SELECT subscription, dataset, watermark, run_id, prepared_at FROM pending_commits
        WHERE ${sql.and(conditions)} ORDER BY subscription, dataset`.pipe(
        Effect.mapError(fromSqlError(doing)),
        Effect.flatMap(decodeRows(PendingRow, doing)),
        Effect.map((rows) => rows.map(toPendingCommit))
      )
    }

    // Selecting from runs makes the insert a no-op for an unknown run or a run of another
    // subscription; the WHERE of the update makes it a no-op when another run's intent is
    // pending. Either way nothing is returned, and the reason is looked up for the message.
    const prepareCommit = (intent: PrepareCommit) => {
      const doing = `prepare the commit of run ${intent.runId} for ${describeKey(intent)}`
      return Effect.gen(function* () {
        const watermark = yield* encodeWatermark(intent.watermark, doing)
        const preparedAt = encodeTime(yield* now)
        const prepared = yield* sql`INSERT INTO pending_commits (subscription, dataset, watermark, run_id, prepared_at)
          SELECT ${intent.subscription}, ${intent.dataset}, ${watermark}, run_id, ${preparedAt}
          FROM runs WHERE run_id = ${intent.runId} AND subscription = ${intent.subscription}
          ON CONFLICT (subscription, dataset) DO UPDATE SET
            watermark = excluded.watermark, prepared_at = excluded.prepared_at
          WHERE pending_commits.run_id = excluded.run_id
          RETURNING run_id`.pipe(Effect.mapError(fromSqlError(doing)))
        if (prepared.length > 0) return
        const run = yield* findRun(intent.runId, doing)
        if (Option.isNone(run)) {
          return yield* new StateError({ message: `Cannot ${doing}: there is no such run` })
        }
        if (run.value.subscription !== intent.subscription) {
          return yield* new StateError({
            message: `Cannot ${doing}: the run belongs to subscription ${run.value.subscription}`
          })
        }
        const pending = yield* findPending(intent, doing)
        return yield* new StateError({
          message: `Cannot ${doing}: run ${Option.match(pending, { onNone: () => "?", onSome: (p) => p.runId })} has a pending commit; complete or discard it first`
        })
      })
    }

    const completeCommit = (key: RunDatasetKey) => {
      const doing = `complete the commit of run ${key.runId} for ${describeKey(key)}`
      return sql
        .withTransaction(
          Effect.gen(function* () {
            const taken = yield* sql<{ readonly watermark: string }>`DELETE FROM pending_commits
              WHERE subscription = ${key.subscription} AND dataset = ${key.dataset} AND run_id = ${key.runId}
              RETURNING watermark`
            const intent = taken[0]
            if (intent === undefined) return yield* alreadyCompleted(key, doing)
            const watermark = yield* decodeWatermark(intent.watermark, doing)
            const committedAt = yield* now
            // The JSON text moves as it was prepared, never re-encoded.
            yield* sql`INSERT INTO checkpoints (subscription, dataset, watermark, run_id, committed_at)
              VALUES (${key.subscription}, ${key.dataset}, ${intent.watermark}, ${key.runId}, ${encodeTime(committedAt)})
              ON CONFLICT (subscription, dataset) DO UPDATE SET
                watermark = excluded.watermark, run_id = excluded.run_id, committed_at = excluded.committed_at`
            return { watermark, runId: key.runId, committedAt }
          })
        )
        .pipe(Effect.mapError((error) => (error instanceof StateError ? error : fromSqlError(doing)(error))))
    }

    // A retry after a commit whose acknowledgement was lost finds the checkpoint
    // already moved; anything else is a caller's mistake and changes nothing.
    const alreadyCompleted = (key: RunDatasetKey, doing: string): Effect.Effect<Checkpoint, StateError> =>
      Effect.gen(function* () {
        const current = yield* findCheckpoint(key, doing)
        if (Option.isSome(current) && current.value.runId === key.runId) return current.value
        const pending = yield* findPending(key, doing)
        return yield* new StateError({
          message: Option.match(pending, {
            onNone: () => `Cannot ${doing}: it has no pending commit`,
            onSome: (other) => `Cannot ${doing}: the pending commit is run ${other.runId}'s`
          })
        })
      })

    const discardPending = (key: RunDatasetKey) => {
      const doing = `discard the pending commit of run ${key.runId} for ${describeKey(key)}`
      return sql`DELETE FROM pending_commits
        WHERE subscription = ${key.subscription} AND dataset = ${key.dataset} AND run_id = ${key.runId}`.pipe(
        Effect.asVoid,
        Effect.mapError(fromSqlError(doing))
      )
    }

    return {
      startRun: own(startRun),
      finishRun: own(finishRun),
      getRun: own(getRun),
      listRuns: own(listRuns),
      listRunDetails: own(listRunDetails),
      recordDataset: own(recordDataset),
      markInterruptedRuns: own(markInterruptedRuns),
      checkpoint: own(checkpoint),
      pendingCommit: own(pendingCommit),
      pendingCommits: own(pendingCommits),
      prepareCommit: own(prepareCommit),
      completeCommit: own(completeCommit),
      discardPending: own(discardPending)
    }
  }
)
