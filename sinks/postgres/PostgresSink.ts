/**
 * The PostgreSQL sink receives a dataset into a table and publishes it atomically:
 *
 * 1. `tables.open` checks the target against the dataset's columns (nothing changes
 *    yet), creates an UNLOGGED staging table in Ferry's schema `_ferry`, named from
 *    the target and the run id, and removes staging tables that crashed runs left;
 * 2. `write` encodes each batch as COPY BINARY and streams it into the staging table
 *    through one `COPY … FROM STDIN` on the writer's own connection;
 * 3. `commit` publishes in one transaction: it records the run id in
 *    `_ferry.commits` (a run already recorded changes nothing: `alreadyCommitted`),
 *    creates the schema and the table if they are missing, adds new source columns,
 *    moves the staged rows into the target by mode, and drops the staging table.
 *
 * `replace` deletes the target's rows and inserts the staged ones in that transaction:
 * readers keep seeing the old rows until it commits and the new ones after, at every
 * isolation level, and the table keeps its grants, indexes, views and constraints.
 * (TRUNCATE is faster but not MVCC-safe: a reader whose snapshot predates it would find
 * the table empty. A swap by rename would drop grants and dependent views.)
 */
import * as Arrow from "apache-arrow"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type pg from "pg"
import type { TableName } from "../../connectors/postgres/Identifiers.js"
import {
  displayTableName,
  MAX_IDENTIFIER_BYTES,
  parseTableName,
  qualifiedName,
  quoteIdentifier
} from "../../connectors/postgres/Identifiers.js"
import type { KeyColumn, KeyConnection } from "../../connectors/postgres/internal/KeyRanges.js"
import {
  KEY_SETTINGS,
  keyWire,
  makePgKeySide,
  SERVING_INDEX_QUERY
} from "../../connectors/postgres/internal/KeyRanges.js"
import type { OpenedPool } from "../../connectors/postgres/PostgresStore.js"
import { describePgError, openPool, PostgresStoreConfig } from "../../connectors/postgres/PostgresStore.js"
import { pgTypeFor } from "../../connectors/postgres/PostgresTypes.js"
import type { Batch } from "../../core/Batch.js"
import { SinkError } from "../../core/Errors.js"
import type { KeySide } from "../../core/Reconcile.js"
import { makeBatch } from "../../core/Rows.js"
import type {
  CommitRequest,
  Delivery,
  SinkConnector,
  SinkSession,
  TableDeletes,
  TableWriter,
  WriteOptions
} from "../../core/Sink.js"
import type { StoreContext } from "../../core/Source.js"
import type { Column } from "../../core/Types.js"
import { toSchema } from "../../core/Types.js"
import type { CopyColumn } from "./internal/CopyBinaryEncode.js"
import { COPY_BINARY_HEADER, COPY_BINARY_TRAILER, encodeRows, EncodeFailure } from "./internal/CopyBinaryEncode.js"
import type { CopyIn } from "./internal/CopyIn.js"
import { startCopyIn } from "./internal/CopyIn.js"
import type { LoadColumn } from "./internal/Statements.js"
import {
  addColumns,
  ADVISORY_LOCK,
  BOOKKEEPING_LOCK,
  COMMITS_TABLE,
  COMMITTED_ROWS,
  commentStaging,
  copyDeletesIntoStaging,
  copyIntoStaging,
  CREATE_BOOKKEEPING,
  createStaging,
  createTarget,
  DELETE_COLUMN,
  deleteStagedKeys,
  FERRY_SCHEMA,
  insertFromStaging,
  mergeFromStaging,
  RECORD_COMMIT,
  STAGING_TABLES_QUERY,
  stagingLock,
  stagingName,
  stagingPrefix,
  stagingTable,
  TABLE_QUERY,
  targetLock,
  UNIQUE_KEYS_QUERY,
  upsertFromStaging
} from "./internal/Statements.js"
import type { TargetColumn, TargetColumnRow } from "./internal/TargetPlan.js"
import { planTarget, TARGET_COLUMNS_QUERY, targetColumnOfRow } from "./internal/TargetPlan.js"

const TABLE_DESCRIPTION =
  "The table that receives the dataset, as schema.table; a table alone is looked up on the user's search_path, and created in its first schema when missing. " +
  'Unquoted names fold to lower case; write "Quoted Names" for capitals, spaces or other characters. ' +
  "The schema and the table are created when missing."

export const PostgresTargetConfig = Schema.Struct({
  table: Schema.String.pipe(
    Schema.filter((text) => Either.match(parseTableName(text), { onLeft: (message) => message, onRight: () => true }), {
      // The check is SQL's identifier syntax, which JSON Schema cannot say; it stays a string there.
      jsonSchema: {}
    })
  ).annotations({
    description: TABLE_DESCRIPTION,
    examples: ["public.sales", 'analytics."Order Lines"', "sales"]
  })
}).annotations({ identifier: "PostgresTargetConfig", description: "A table of a PostgreSQL store." })
export type PostgresTargetConfig = typeof PostgresTargetConfig.Type

/** A target with its schema known: the one written, or the one the search_path gives. */
interface Target {
  readonly store: string
  /** The target as the config writes it, for messages. */
  readonly shown: string
  readonly schema: string
  readonly name: string
  /** `"schema"."name"`: the SQL name, and the target's key in `_ferry.commits`. */
  readonly sql: string
}

/** What a session shares with its writers. */
interface Session {
  readonly store: string
  readonly opened: OpenedPool
}

/** Lock waits of the statements that clean up after an aborted load, which must not hang a run. */
const CLEANUP_LOCK_TIMEOUT = "10s"

/**
 * Rows encoded and handed to the connection at a time. The event loop sends data only
 * between slices, so the server works on one slice while the next is encoded; whole
 * 64k-row batches left it idle for most of each encoding (measured in docs/postgres.md).
 */
const SLICE_ROWS = 16_384

/** MERGE arrived in PostgreSQL 15 (server_version_num 150000). */
const MERGE_VERSION = 150_000

const COPY_CONTEXT = /line (\d+), column c(\d+)/

/**
 * A driver error as a sentence: what the sink was doing, the table, and, for an error
 * in the staged data, the row and the source column (staging columns are `c0`, `c1`, …).
 */
const explain = (
  session: Session,
  target: Target,
  columns: ReadonlyArray<Column>,
  what: string,
  error: unknown
): SinkError => {
  const driver = (typeof error === "object" && error !== null ? error : {}) as {
    readonly where?: string
    readonly detail?: string
    readonly column?: string
    readonly code?: string
  }
  const located = COPY_CONTEXT.exec(driver.where ?? "")
  const column = located === null ? undefined : columns[Number(located[2])]?.name
  const base = describePgError(error, {
    ...session.opened.context,
    table: target.shown,
    ...(column === undefined ? {} : { column })
  })
  const where = located === null || column === undefined ? "" : ` (row ${located[1]}, column ${column})`
  const onColumn = located === null && driver.column !== undefined ? ` (column ${driver.column})` : ""
  // Constraint violations say which key or value in their detail.
  const detail = driver.code?.startsWith("23") === true && driver.detail !== undefined ? `: ${driver.detail}` : ""
  return new SinkError({
    store: target.store,
    target: target.shown,
    message: `${what}: ${base}${where}${onColumn}${detail}`
  })
}

const failure = (target: Target, message: string) =>
  new SinkError({ store: target.store, target: target.shown, message })

const run = <R extends pg.QueryResultRow>(
  client: pg.ClientBase | pg.Pool,
  sql: string,
  values: ReadonlyArray<unknown> = []
): Effect.Effect<pg.QueryResult<R>, unknown> =>
  Effect.tryPromise({ try: () => client.query<R>(sql, values as Array<unknown>), catch: (error) => error })

/** The target with its schema: as written, else where the search_path finds the table, else its first schema. */
const resolveTarget = (session: Session, config: PostgresTargetConfig): Effect.Effect<Target, SinkError> =>
  Effect.gen(function* () {
    const parsed = parseTableName(config.table)
    if (Either.isLeft(parsed)) {
      return yield* new SinkError({ store: session.store, target: config.table, message: parsed.left })
    }
    const table: TableName = parsed.right
    const schema =
      table.schema ??
      (yield* run<{ schema: string | null }>(
        session.opened.pool,
        `SELECT coalesce((SELECT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE c.oid = to_regclass($1)), current_schema()) AS schema`,
        [qualifiedName(table)]
      ).pipe(
        Effect.map((result) => result.rows[0]?.schema ?? null),
        Effect.mapError(
          (error) =>
            new SinkError({
              store: session.store,
              target: config.table,
              message: `finding the table's schema: ${describePgError(error, session.opened.context)}`
            })
        )
      ))
    if (schema === FERRY_SCHEMA) {
      return yield* new SinkError({
        store: session.store,
        target: config.table,
        message: `schema ${FERRY_SCHEMA} holds Ferry's bookkeeping and staging tables; choose another schema`
      })
    }
    if (schema === null) {
      return yield* new SinkError({
        store: session.store,
        target: config.table,
        message: "the user's search_path names no existing schema; write the table as schema.table"
      })
    }
    return {
      store: session.store,
      shown: displayTableName({ schema, name: table.name }),
      schema,
      name: table.name,
      sql: qualifiedName({ schema, name: table.name })
    }
  })

const isCommitted = (session: Session, config: PostgresTargetConfig, runId: string) =>
  Effect.gen(function* () {
    const target = yield* resolveTarget(session, config)
    const pool = session.opened.pool
    return yield* Effect.gen(function* () {
      const present = yield* run<{ present: boolean }>(pool, `SELECT to_regclass($1) IS NOT NULL AS present`, [
        COMMITS_TABLE
      ])
      if (present.rows[0]?.present !== true) return false
      const found = yield* run(pool, `SELECT 1 FROM ${COMMITS_TABLE} WHERE "target" = $1 AND "run_id" = $2`, [
        target.sql,
        runId
      ])
      return found.rows.length > 0
    }).pipe(Effect.mapError((error) => explain(session, target, [], `reading run ${runId}'s commit`, error)))
  })

const utf8 = new TextEncoder()

/** Why PostgreSQL cannot keep a column's name as it is, if it cannot. */
const nameProblem = (name: string): string | undefined =>
  name.length === 0
    ? "a column needs a name"
    : name.includes("\0")
      ? "a name cannot contain a NUL character"
      : utf8.encode(name).length > MAX_IDENTIFIER_BYTES
        ? `the name is longer than the ${MAX_IDENTIFIER_BYTES} bytes PostgreSQL keeps of a name`
        : undefined

/** The columns' PostgreSQL types, or the first column that has none or whose name PostgreSQL would cut. */
const loadColumnsOf = (target: Target, columns: ReadonlyArray<Column>) =>
  Effect.forEach(columns, (column) => {
    const problem = nameProblem(column.name)
    if (problem !== undefined) return Effect.fail(failure(target, `column ${column.name}: ${problem}`))
    return Either.match(pgTypeFor(column.type), {
      onLeft: (message) => Effect.fail(failure(target, `column ${column.name}: ${message}`)),
      onRight: (type): Effect.Effect<LoadColumn> =>
        Effect.succeed({ name: column.name, sqlType: type.sql, nullable: column.nullable })
    })
  })

/**
 * The key the load uses and where its columns are. A merge needs a key whose every
 * column is loaded; a replace or an append only indexes the key when it has it all.
 */
const keyOf = (target: Target, columns: ReadonlyArray<Column>, options: WriteOptions) =>
  Effect.gen(function* () {
    if (options.mode === "merge" && options.key.length === 0) {
      return yield* failure(target, "a merge needs a key (incremental: { key: [...] })")
    }
    const indices = options.key.map((name) => columns.findIndex((column) => column.name === name))
    const missing = options.key.filter((_, i) => indices[i]! < 0)
    if (missing.length === 0) return { names: options.key, indices }
    if (options.mode !== "merge") return { names: [], indices: [] }
    return yield* failure(
      target,
      `key column ${missing.join(", ")} is not among the dataset's columns (${columns.map((c) => c.name).join(", ")})`
    )
  })

/** The table's OID and its columns, or `undefined` when it does not exist; anything but a table is refused. */
const readTarget = (client: pg.ClientBase, target: Target) =>
  Effect.gen(function* () {
    const table = yield* run<{ oid: string; kind: string }>(client, TABLE_QUERY, [target.schema, target.name])
    const found = table.rows[0]
    if (found === undefined) return undefined
    if (found.kind !== "r" && found.kind !== "p") {
      return yield* Effect.fail(failure(target, `${target.shown} exists and is not a table (relkind ${found.kind})`))
    }
    const columns = yield* run<TargetColumnRow>(client, TARGET_COLUMNS_QUERY, [found.oid])
    return { oid: found.oid, columns: columns.rows.map(targetColumnOfRow) }
  })

const checkPlan = (target: Target, columns: ReadonlyArray<Column>, existing: ReadonlyArray<TargetColumn>) =>
  Either.match(planTarget(target.shown, columns, existing), {
    onLeft: (message) => Effect.fail(failure(target, message)),
    onRight: Effect.succeed
  })

/** Batches of keys with the delete mark set, as the delete COPY takes them. */
const markedForDeletion = (keyColumns: ReadonlyArray<Column>) => {
  const mark: Column = { name: DELETE_COLUMN, type: { kind: "bool" }, nullable: false }
  const all = [...keyColumns, mark]
  const schema = toSchema(all)
  return {
    columns: all.map((column): CopyColumn => ({ column, json: "json" })),
    batch: (keys: Batch): Batch => {
      const length = keys.numRows
      const marks = Arrow.makeData({
        type: new Arrow.Bool(),
        length,
        nullCount: 0,
        data: new Uint8Array(Math.ceil(length / 8)).fill(0xff)
      })
      return makeBatch(schema, length, [...keys.data.children, marks])
    }
  }
}

/**
 * The target's keys for reconciliation, read in read-only transactions of their own
 * beside the writer's connection. Keys are read in the dataset's types (a wider target
 * column is cast), ordered and cut on the column itself so that its index serves.
 */
const targetKeys = (
  session: Session,
  target: Target,
  columns: ReadonlyArray<Column>,
  key: { readonly names: ReadonlyArray<string>; readonly indices: ReadonlyArray<number> },
  fail: (error: unknown) => SinkError
): Effect.Effect<KeySide<SinkError>, SinkError> =>
  Effect.gen(function* () {
    const connect: Effect.Effect<KeyConnection, SinkError, Scope.Scope> = Effect.gen(function* () {
      let clean = false
      const client = yield* Effect.acquireRelease(
        Effect.tryPromise({ try: () => session.opened.pool.connect(), catch: fail }).pipe(
          Effect.tap((opened) => Effect.sync(() => opened.on("error", ignoreConnectionError)))
        ),
        // A COPY of keys cut short leaves the connection mid-COPY: it is closed, not pooled.
        (opened) =>
          Effect.sync(() => {
            opened.off("error", ignoreConnectionError)
            opened.release(clean ? undefined : true)
          })
      )
      yield* run(client, `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; ${KEY_SETTINGS}`).pipe(Effect.mapError(fail))
      const finish = Effect.map(run(client, "COMMIT"), () => {
        clean = true
      })
      return { client, finish }
    })
    const keyColumns = key.indices.map((index) => columns[index]!)
    const found = yield* Effect.scoped(
      Effect.gen(function* () {
        const { client, finish } = yield* connect
        const current = yield* readTarget(client, target)
        const serving =
          current === undefined
            ? false
            : (yield* run<{ serving: boolean }>(client, SERVING_INDEX_QUERY, [target.sql, key.names])).rows[0]
                ?.serving === true
        yield* finish
        return { current, serving }
      }).pipe(Effect.mapError(fail))
    )
    if (found.current === undefined) return { columns: keyColumns, keys: () => Stream.empty }
    const present = new Set(found.current.columns.map((column) => column.name))
    const keys: Array<KeyColumn> = []
    for (const column of keyColumns) {
      if (!present.has(column.name)) {
        return yield* failure(target, `${target.shown} has no column ${column.name} to compare the source's keys with`)
      }
      const wire = keyWire(column)
      if (Either.isLeft(wire)) return yield* failure(target, wire.left)
      const pgType = Either.getOrThrow(pgTypeFor(column.type))
      const name = quoteIdentifier(column.name)
      keys.push({ column, wire: wire.right, name, output: `${name}::${pgType.sql}`, text: column.type.kind === "utf8" })
    }
    return makePgKeySide({ relation: { sql: target.sql, keys, where: [] }, digests: found.serving, connect, fail })
  })

const ignoreConnectionError = (): void => undefined

const openWriter = (
  session: Session,
  config: PostgresTargetConfig,
  columns: ReadonlyArray<Column>,
  options: WriteOptions
): Effect.Effect<TableWriter, SinkError, Scope.Scope> =>
  Effect.gen(function* () {
    const target = yield* resolveTarget(session, config)
    const loadColumns = yield* loadColumnsOf(target, columns)
    const key = yield* keyOf(target, columns, options)
    const keyIndices = key.indices
    const copyColumns: ReadonlyArray<CopyColumn> = columns.map((column) => ({ column, json: "json" }))
    const staging = stagingName(target.sql, options.runId)
    const stagingSql = stagingTable(staging)
    // Once the connection is lost, the driver only says it is "not queryable": the error that ended it says why.
    const fail = (what: string) => (error: unknown) =>
      error instanceof SinkError
        ? error
        : explain(session, target, columns, what, connection.lost !== undefined ? connection.lost : error)

    // The writer's own connection: the COPY and the commit run on it. One left mid-COPY
    // or mid-transaction is closed rather than returned to the pool.
    const connection: { broken: boolean; released: boolean; lost?: unknown } = { broken: false, released: false }
    // A connection out of the pool has no listener for errors between statements (a
    // server that ends the session): without one, Node would end the process.
    const onError = (error: unknown) => {
      connection.broken = true
      connection.lost ??= error
    }
    const release = (opened: pg.PoolClient, destroy: boolean) => {
      if (connection.released) return
      connection.released = true
      opened.off("error", onError)
      opened.release(destroy ? true : undefined)
    }
    const client = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => session.opened.pool.connect(), catch: fail("connecting") }).pipe(
        Effect.tap((opened) => Effect.sync(() => opened.on("error", onError)))
      ),
      // A writer that failed to open may hold advisory locks of its session: the connection goes with them.
      (opened, exit) => Effect.sync(() => release(opened, connection.broken || Exit.isFailure(exit)))
    )

    yield* ensureBookkeeping(client).pipe(Effect.mapError(fail("creating Ferry's bookkeeping table")))
    yield* dropStaleStaging(client, target.sql, staging).pipe(
      Effect.mapError(fail("removing left-over staging tables"))
    )
    // Refuse an incompatible target before any row moves; commit checks again under its lock.
    const existing = yield* readTarget(client, target).pipe(Effect.mapError(fail("reading the target table")))
    if (existing !== undefined) yield* checkPlan(target, columns, existing.columns)

    let copy: CopyIn | undefined
    let copyOpen = false
    let finished = false
    let rows = 0
    let bytes = 0
    /** Keys staged for deletion, once `deletes.stage` ran. */
    let staged: number | undefined

    /** Drops the staging table on this connection, or, when it cannot be trusted, closes it and drops it from another. */
    const dropStaging: Effect.Effect<void> = Effect.suspend(() => {
      if (connection.broken) {
        release(client, true)
        return run(
          session.opened.pool,
          `BEGIN; SET LOCAL lock_timeout = '${CLEANUP_LOCK_TIMEOUT}'; DROP TABLE IF EXISTS ${stagingSql}; COMMIT`
        )
      }
      return run(client, `DROP TABLE IF EXISTS ${stagingSql}`).pipe(
        Effect.zipRight(run(client, `SELECT pg_advisory_unlock(${ADVISORY_LOCK})`, [stagingLock(staging)])),
        Effect.tapError(() => Effect.sync(() => (connection.broken = true)))
      )
    }).pipe(Effect.ignore)

    const abort: Effect.Effect<void> = Effect.suspend(() => {
      if (finished) return Effect.void
      finished = true
      // A COPY in flight cannot be left cleanly without waiting on the server: close the connection instead.
      if (copyOpen) connection.broken = true
      return dropStaging
    })

    const locked = yield* run<{ locked: boolean }>(client, `SELECT pg_try_advisory_lock(${ADVISORY_LOCK}) AS locked`, [
      stagingLock(staging)
    ]).pipe(Effect.mapError(fail("locking the staging table")))
    if (locked.rows[0]?.locked !== true) {
      return yield* failure(
        target,
        `run ${options.runId} is already being written into ${target.shown} by another session`
      )
    }
    // From here the staging table is this writer's: whatever happens next, it goes when the scope closes.
    yield* Effect.addFinalizer(() => abort)
    yield* Effect.forEach(
      [
        `DROP TABLE IF EXISTS ${stagingSql}`,
        createStaging(stagingSql, loadColumns, options.mode === "merge"),
        commentStaging(stagingSql, target.sql, options.runId)
      ],
      (sql) => run(client, sql)
    ).pipe(Effect.mapError(fail("creating the staging table")))

    const write = (batch: Batch): Effect.Effect<void, SinkError> =>
      Effect.gen(function* () {
        if (finished) return yield* failure(target, "the writer was already committed or aborted")
        if (staged !== undefined) return yield* failure(target, "rows cannot be written after the keys to delete")
        const fields = batch.schema.fields
        if (fields.length !== columns.length || fields.some((field, i) => field.name !== columns[i]!.name)) {
          return yield* failure(
            target,
            `a batch has columns ${fields.map((f) => f.name).join(", ")}, not the ${columns.map((c) => c.name).join(", ")} the writer was opened with`
          )
        }
        if (options.mode === "merge") {
          for (const index of keyIndices) {
            if (batch.data.children[index]!.nullCount > 0) {
              return yield* failure(
                target,
                `key column ${columns[index]!.name} is NULL in a row; a row without its key cannot be merged`
              )
            }
          }
        }
        if (copy === undefined) {
          copy = startCopyIn(client, copyIntoStaging(stagingSql, columns.length))
          copyOpen = true
          yield* copy.write(COPY_BINARY_HEADER).pipe(Effect.mapError(fail("loading the staging table")))
        }
        for (let start = 0; start < batch.numRows; start += SLICE_ROWS) {
          const end = Math.min(batch.numRows, start + SLICE_ROWS)
          const encoded = encodeRows(copyColumns, batch, start, end)
          if (encoded instanceof EncodeFailure) {
            return yield* failure(target, `column ${encoded.column}: ${encoded.message}`)
          }
          yield* copy.write(encoded).pipe(Effect.mapError(fail("loading the staging table")))
          bytes += encoded.length
        }
        rows += batch.numRows
      })

    /** Ends the load's COPY, once. */
    const endCopy = Effect.gen(function* () {
      if (copy === undefined) return
      const ending = copy
      copy = undefined
      yield* ending.write(COPY_BINARY_TRAILER)
      const counted = yield* ending.finish
      copyOpen = false
      if (counted !== rows) {
        return yield* failure(target, `the server counted ${counted} rows loaded, and ${rows} were sent`)
      }
    }).pipe(Effect.mapError(fail("loading the staging table")))

    const deletes: TableDeletes | undefined =
      options.mode === "merge"
        ? {
            keys: targetKeys(session, target, columns, key, fail("reading the target's keys")),
            stage: (keys) =>
              Effect.gen(function* () {
                if (finished) return yield* failure(target, "the writer was already committed or aborted")
                if (staged !== undefined) return yield* failure(target, "keys to delete were already staged")
                staged = 0
                let count = 0
                yield* endCopy
                const deleteCopy = startCopyIn(client, copyDeletesIntoStaging(stagingSql, keyIndices))
                copyOpen = true
                const staging = fail("staging the keys to delete")
                yield* deleteCopy.write(COPY_BINARY_HEADER).pipe(Effect.mapError(staging))
                const keyColumns = keyIndices.map((index) => columns[index]!)
                const marked = markedForDeletion(keyColumns)
                yield* Stream.runForEach(keys, (batch) =>
                  Effect.gen(function* () {
                    if (batch.numCols !== keyColumns.length) {
                      return yield* failure(
                        target,
                        `keys to delete have ${batch.numCols} columns, and the key has ${keyColumns.length}`
                      )
                    }
                    const withMark = marked.batch(batch)
                    for (let start = 0; start < batch.numRows; start += SLICE_ROWS) {
                      const encoded = encodeRows(
                        marked.columns,
                        withMark,
                        start,
                        Math.min(batch.numRows, start + SLICE_ROWS)
                      )
                      if (encoded instanceof EncodeFailure) {
                        return yield* failure(target, `key column ${encoded.column}: ${encoded.message}`)
                      }
                      yield* deleteCopy.write(encoded).pipe(Effect.mapError(staging))
                    }
                    count += batch.numRows
                  })
                )
                yield* deleteCopy.write(COPY_BINARY_TRAILER).pipe(Effect.mapError(staging))
                const counted = yield* deleteCopy.finish.pipe(Effect.mapError(staging))
                copyOpen = false
                if (counted !== count) {
                  return yield* failure(target, `the server counted ${counted} keys staged, and ${count} were sent`)
                }
                staged = count
                return count
              })
          }
        : undefined

    const publish = (request: CommitRequest) =>
      Effect.gen(function* () {
        yield* run(client, `SELECT pg_advisory_xact_lock(${ADVISORY_LOCK})`, [targetLock(target.sql)])
        const recorded = yield* run(client, RECORD_COMMIT, [
          target.sql,
          request.runId,
          options.dataset,
          options.mode,
          rows,
          JSON.stringify(request.watermark ?? null)
        ])
        if (recorded.rows.length === 0) {
          const previous = yield* run<{ rows: number }>(client, COMMITTED_ROWS, [target.sql, request.runId])
          return { published: false, rows: previous.rows[0]?.rows ?? 0 }
        }
        yield* ensureSchema(client, target.schema)
        const current = yield* readTarget(client, target)
        if (current === undefined) {
          for (const sql of createTarget(target.sql, loadColumns, key.names, options.mode === "merge")) {
            yield* run(client, sql)
          }
        } else {
          const plan = yield* checkPlan(target, columns, current.columns)
          const added = loadColumns.filter((column) => plan.added.some((c) => c.name === column.name))
          if (added.length > 0) yield* run(client, addColumns(target.sql, added))
        }
        yield* moveStagedRows(client, target, loadColumns, keyIndices, current?.oid, stagingSql, options)
        let deleted = 0
        if (staged !== undefined && staged > 0) {
          // The staged keys' statistics let the planner choose index lookups for a few keys.
          yield* run(client, `ANALYZE ${stagingSql}`)
          const result = yield* run(client, deleteStagedKeys(target.sql, loadColumns, keyIndices, stagingSql))
          deleted = result.rowCount ?? 0
        }
        yield* run(client, `DROP TABLE ${stagingSql}`)
        return { published: true, rows, deleted }
      })

    const commit = (request: CommitRequest): Effect.Effect<Delivery, SinkError> =>
      Effect.gen(function* () {
        if (finished) return yield* failure(target, "the writer was already committed or aborted")
        yield* endCopy
        const outcome = yield* inTransaction(client, connection, publish(request)).pipe(
          Effect.mapError(fail("publishing the load"))
        )
        finished = true
        if (!outcome.published) {
          yield* dropStaging
          return { rows: outcome.rows, bytes: 0, files: 0, alreadyCommitted: true }
        }
        yield* run(client, `SELECT pg_advisory_unlock(${ADVISORY_LOCK})`, [stagingLock(staging)]).pipe(
          Effect.catchAll(() => Effect.sync(() => (connection.broken = true)))
        )
        return {
          rows: outcome.rows,
          bytes,
          files: 0,
          alreadyCommitted: false,
          ...(staged === undefined ? {} : { deleted: outcome.deleted ?? 0 })
        }
      })

    return { write, commit, abort, ...(deletes === undefined ? {} : { deletes }) } satisfies TableWriter
  })

/**
 * Runs `body` in a transaction that commits when `body` says it published and rolls
 * back otherwise (a run already recorded) or on failure. A connection interrupted
 * mid-transaction is marked broken: the pool closes it, and the server rolls back.
 */
const inTransaction = <E>(
  client: pg.ClientBase,
  connection: { broken: boolean },
  body: Effect.Effect<{ readonly published: boolean; readonly rows: number; readonly deleted?: number }, E>
) =>
  Effect.gen(function* () {
    yield* run(client, "BEGIN")
    const exit = yield* Effect.exit(body)
    if (Exit.isSuccess(exit) && exit.value.published) {
      yield* run(client, "COMMIT")
      return exit.value
    }
    yield* run(client, "ROLLBACK").pipe(Effect.catchAll(() => Effect.sync(() => (connection.broken = true))))
    return yield* exit
  }).pipe(Effect.onInterrupt(() => Effect.sync(() => (connection.broken = true))))

/** Moves the staged rows into the target by mode, inside the commit's transaction. */
const moveStagedRows = (
  client: pg.ClientBase,
  target: Target,
  loadColumns: ReadonlyArray<LoadColumn>,
  keyIndices: ReadonlyArray<number>,
  targetOid: string | undefined,
  staging: string,
  options: WriteOptions
) =>
  Effect.gen(function* () {
    switch (options.mode) {
      case "replace":
        yield* run(client, `DELETE FROM ${target.sql}`)
        yield* run(client, insertFromStaging(target.sql, loadColumns, staging))
        return
      case "append":
        yield* run(client, insertFromStaging(target.sql, loadColumns, staging))
        return
      case "merge": {
        // A table a merge creates has the key as its primary key.
        const keyed = targetOid === undefined || (yield* hasUniqueKey(client, targetOid, options.key))
        if (keyed) {
          yield* run(client, upsertFromStaging(target.sql, loadColumns, keyIndices, staging))
          return
        }
        const version = yield* run<{ version: number }>(
          client,
          `SELECT current_setting('server_version_num')::int AS version`
        )
        if ((version.rows[0]?.version ?? 0) < MERGE_VERSION) {
          return yield* failure(
            target,
            `merging into ${target.shown} needs a unique index on (${options.key.join(", ")}), or PostgreSQL 15 or later for MERGE`
          )
        }
        // The staged rows' statistics let the planner choose index lookups for a small load.
        yield* run(client, `ANALYZE ${staging}`)
        yield* run(client, mergeFromStaging(target.sql, loadColumns, keyIndices, staging))
        return
      }
    }
  })

/** True when a unique index of the table has exactly the key's columns, so that ON CONFLICT can use it. */
const hasUniqueKey = (client: pg.ClientBase, oid: string, key: ReadonlyArray<string>) =>
  Effect.map(run<{ columns: Array<string> }>(client, UNIQUE_KEYS_QUERY, [oid]), (result) => {
    const wanted = [...key].sort().join("\u0000")
    return result.rows.some((row) => [...row.columns].sort().join("\u0000") === wanted)
  })

/** Creates the schema when it is missing, under a lock so that two loads into one new schema do not collide. */
const ensureSchema = (client: pg.ClientBase, schema: string) =>
  Effect.gen(function* () {
    const exists = yield* run(client, `SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1`, [schema])
    if (exists.rows.length > 0) return
    yield* run(client, `SELECT pg_advisory_xact_lock(${ADVISORY_LOCK})`, [`ferry schema ${schema}`])
    yield* run(client, `CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`)
  })

/** Creates `_ferry` and its commits table once per database. */
const ensureBookkeeping = (client: pg.ClientBase) =>
  Effect.gen(function* () {
    const present = yield* run<{ present: boolean }>(client, `SELECT to_regclass($1) IS NOT NULL AS present`, [
      COMMITS_TABLE
    ])
    if (present.rows[0]?.present === true) return
    yield* run(client, "BEGIN")
    const created = yield* Effect.exit(
      Effect.gen(function* () {
        yield* run(client, `SELECT pg_advisory_xact_lock(${ADVISORY_LOCK})`, [BOOKKEEPING_LOCK])
        for (const sql of CREATE_BOOKKEEPING) yield* run(client, sql)
      })
    )
    yield* run(client, Exit.isSuccess(created) ? "COMMIT" : "ROLLBACK")
    return yield* created
  })

/**
 * Drops the staging tables of this target that no live session holds: a crashed run's.
 * A writer holds a session lock on its staging table's name while it lives.
 */
const dropStaleStaging = (client: pg.ClientBase, target: string, own: string) =>
  Effect.gen(function* () {
    const found = yield* run<{ name: string }>(client, STAGING_TABLES_QUERY, [stagingPrefix(target)])
    for (const { name } of found.rows) {
      if (name === own) continue
      const locked = yield* run<{ locked: boolean }>(
        client,
        `SELECT pg_try_advisory_lock(${ADVISORY_LOCK}) AS locked`,
        [stagingLock(name)]
      )
      if (locked.rows[0]?.locked !== true) continue
      yield* run(client, `DROP TABLE IF EXISTS ${quoteIdentifier(FERRY_SCHEMA)}.${quoteIdentifier(name)}`)
      yield* run(client, `SELECT pg_advisory_unlock(${ADVISORY_LOCK})`, [stagingLock(name)])
    }
  })

const openSession = (
  config: PostgresStoreConfig,
  context: StoreContext
): Effect.Effect<SinkSession<PostgresTargetConfig>, SinkError, Scope.Scope> =>
  Effect.gen(function* () {
    const opened = yield* openPool(config, context.store).pipe(
      Effect.mapError((error) => new SinkError({ store: context.store, message: error.message }))
    )
    const session: Session = { store: context.store, opened }
    return {
      describeTarget: (target) => target.table,
      tables: { open: (target, columns, options) => openWriter(session, target, columns, options) },
      isCommitted: (target, runId) => isCommitted(session, target, runId)
    }
  })

export const postgresSink: SinkConnector<PostgresStoreConfig, PostgresTargetConfig> = {
  type: "postgres",
  description:
    "A PostgreSQL database. Tables arrive by COPY into a staging table and are published in one transaction: replaced, appended or merged on the key (with rows deleted at the source removed, when the dataset reconciles deletes).",
  storeConfig: PostgresStoreConfig,
  targetConfig: PostgresTargetConfig,
  capabilities: { deletes: true },
  open: openSession
}
