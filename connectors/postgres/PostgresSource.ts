/**
 * PostgreSQL as a source: tables, views and read-only queries, read with
 * `COPY (SELECT …) TO STDOUT (FORMAT binary)` and decoded straight into Arrow batches
 * (internal/CopyBinary.ts). The column selection and the row filter go into the
 * query; so does the incremental range, in (cursor, key…) order, so that every page
 * carries the watermark of its last row.
 *
 * One session is one consistent picture of the database: when it opens, a holder
 * connection starts a REPEATABLE READ, READ ONLY transaction and exports its snapshot,
 * and every read runs on a connection of its own in a READ ONLY transaction on that
 * snapshot. Datasets read concurrently still see one instant, and rows committed
 * after it wait for the next run; that instant is the upper bound of incremental reads.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type pg from "pg"
import type { Batch } from "../../core/Batch.js"
import { DEFAULT_BATCH_ROWS, emptyBatch, makeColumnReader } from "../../core/Batch.js"
import type { CursorPosition } from "../../core/Cursor.js"
import { decodeWatermark, makeCursor } from "../../core/Cursor.js"
import { SourceError } from "../../core/Errors.js"
import type { Filter } from "../../core/Filter.js"
import { filterToSql } from "../../core/Filter.js"
import { makeBatch } from "../../core/Rows.js"
import type { KeySide } from "../../core/Reconcile.js"
import type {
  DatasetDescription,
  EncodedFormat,
  EncodedTable,
  IncrementalSpec,
  KeyRequest,
  ReadPlan,
  SourceConnector,
  SourceSession,
  StoreContext
} from "../../core/Source.js"
import type { Column, LogicalType } from "../../core/Types.js"
import { toSchema, typeName, unitsPerSecond } from "../../core/Types.js"
import type { Value } from "../../core/Values.js"
import { compareValues, formatText } from "../../core/Values.js"
import { CursorWatermark } from "../../core/Watermark.js"
import { displayTableName, parseTableName, qualifiedName, quoteIdentifier } from "./Identifiers.js"
import { CopyBinaryDecoder, CopyDecodeError } from "./internal/CopyBinary.js"
import type { CsvField, CsvFieldKind } from "./internal/CopyCsv.js"
import { CopyCsvRewriter, isRewritableDialect } from "./internal/CopyCsv.js"
import { copyOut } from "./internal/CopyOut.js"
import type { ParallelReads } from "./internal/TableSplit.js"
import { splitTable } from "./internal/TableSplit.js"
import type { KeyColumn } from "./internal/KeyRanges.js"
import { isReconcilableType, KEY_SETTINGS, keyWire, makePgKeySide, SERVING_INDEX_QUERY } from "./internal/KeyRanges.js"
import { quoteString, sqlLiteral } from "./internal/Literals.js"
import type { OpenedPool, PgErrorContext } from "./PostgresStore.js"
import {
  DEFAULT_PARALLEL_READ_MIN_MB,
  DEFAULT_PARALLEL_READS,
  describePgError,
  openPool,
  PostgresError,
  PostgresStoreConfig,
  runQuery
} from "./PostgresStore.js"
import type { MappedColumn, PgColumn, PgType } from "./PostgresTypes.js"
import { isBuiltinMapped, mapColumn, pgTypeOfRow, TYPE_CATALOG_QUERY } from "./PostgresTypes.js"

const TableNameText = Schema.String.pipe(
  Schema.filter((text) => Either.match(parseTableName(text), { onLeft: (message) => message, onRight: () => true }), {
    // The check is SQL's identifier syntax, which JSON Schema cannot say; it stays a string there.
    jsonSchema: {}
  })
)

export const PostgresDatasetConfig = Schema.Struct({
  table: Schema.optional(
    TableNameText.annotations({
      description:
        'A table, as table or schema.table; quote names with capitals, spaces or other characters ("Order Lines").',
      examples: ["public.sales", '"Sales EU"."Order Lines"']
    })
  ),
  view: Schema.optional(
    TableNameText.annotations({
      description: "A view, as view or schema.view.",
      examples: ["reporting.monthly_totals"]
    })
  ),
  query: Schema.optional(
    Schema.NonEmptyString.annotations({
      description:
        "A SELECT whose rows are the dataset; it runs in a read-only transaction, and the dataset's column selection, filter and incremental range apply to its result.",
      examples: ["SELECT id, region, amount, updated_at FROM sales WHERE NOT test"]
    })
  ),
  batch_rows: Schema.optional(
    Schema.Int.pipe(Schema.between(1, 1_000_000)).annotations({
      description: `Rows per batch (default ${DEFAULT_BATCH_ROWS}); batches are also cut at 32 MiB.`
    })
  )
})
  .pipe(
    Schema.filter((dataset) => {
      const given = (["table", "view", "query"] as const).filter((key) => dataset[key] !== undefined)
      return given.length === 1
        ? undefined
        : {
            path: [given[1] ?? "table"],
            message: "give exactly one of table, view or query"
          }
    })
  )
  .annotations({ identifier: "PostgresDataset" })
export type PostgresDatasetConfig = typeof PostgresDatasetConfig.Type

/** A dataset as the FROM item of a SELECT, and as messages name it. */
interface Relation {
  readonly sql: string
  readonly shown: string
}

const relationOf = (dataset: PostgresDatasetConfig): Relation => {
  if (dataset.query !== undefined) {
    return { sql: `(${dataset.query.replace(/[\s;]+$/, "")})`, shown: "the dataset's query" }
  }
  // The Schema checked the name when the config was decoded.
  const table = Either.getOrThrow(parseTableName(dataset.table ?? dataset.view ?? ""))
  return { sql: qualifiedName(table), shown: displayTableName(table) }
}

interface Described {
  readonly relation: Relation
  readonly columns: ReadonlyArray<MappedColumn>
  /** The type OID of each column, as the server describes it (a domain's own OID). */
  readonly oids: ReadonlyArray<number>
}

/** What the session's reads share: the pool, the exported snapshot, and messages' context. */
interface Session {
  readonly store: string
  readonly opened: OpenedPool
  readonly snapshot: string
  readonly parallel: ParallelReads
}

const sourceError = (
  store: string,
  message: string,
  extra: { readonly dataset?: string; readonly column?: string } = {}
): SourceError => new SourceError({ store, message, ...extra })

const fromPostgres = (store: string, dataset?: string) => (error: PostgresError) =>
  sourceError(store, error.message, dataset === undefined ? {} : { dataset })

/**
 * A connection in a READ ONLY transaction on the session's snapshot, for the life of
 * the scope. It goes back to the pool only after `finish` ended its transaction; a
 * read cut short (an error, an interruption, a consumer that stopped pulling) may be
 * mid-COPY, so its connection is closed instead.
 */
const snapshotConnection = (
  session: Session
): Effect.Effect<{ client: pg.PoolClient; finish: Effect.Effect<void, PostgresError> }, PostgresError, Scope.Scope> =>
  Effect.gen(function* () {
    const { opened, store } = session
    let clean = false
    const client = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => opened.pool.connect(),
        catch: (error) => new PostgresError({ store, message: describePgError(error, opened.context) })
      }),
      (client) => Effect.sync(() => client.release(clean ? undefined : true))
    )
    yield* runQuery(
      client,
      store,
      `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT ${Either.getOrThrow(quoteString(session.snapshot))}; SET LOCAL IntervalStyle = iso_8601`,
      [],
      opened.context
    )
    const finish = Effect.map(runQuery(client, store, "COMMIT", [], opened.context), () => {
      clean = true
    })
    return { client, finish }
  })

interface FieldRow {
  readonly name: string
  readonly tableID: number
  readonly columnID: number
  readonly dataTypeID: number
  readonly dataTypeModifier: number
}

/** Columns from the row description of `SELECT * … LIMIT 0`, with NOT NULL from the catalog where they come from a table. */
const describeRelation = (
  session: Session,
  relation: Relation
): Effect.Effect<Omit<Described, "relation">, SourceError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const { store } = session
      const context: PgErrorContext = { ...session.opened.context, table: relation.shown }
      const failed = fromPostgres(store)
      const { client, finish } = yield* Effect.mapError(snapshotConnection(session), failed)
      const probe = yield* Effect.mapError(
        runQuery(client, store, `SELECT * FROM ${relation.sql} AS ferry_source LIMIT 0`, [], context),
        failed
      )
      const fields = probe.fields as ReadonlyArray<FieldRow>
      if (fields.length === 0) return yield* sourceError(store, `${relation.shown} has no columns`)
      const seen = new Set<string>()
      for (const field of fields) {
        if (seen.has(field.name)) {
          return yield* sourceError(
            store,
            `${relation.shown} has two columns named ${field.name}; give them distinct names (AS …)`,
            { column: field.name }
          )
        }
        seen.add(field.name)
      }
      const fromTables = fields.filter((field) => field.tableID !== 0)
      const notNull = new Set<string>()
      if (fromTables.length > 0) {
        const result = yield* Effect.mapError(
          runQuery<{ rel: number; num: number }>(
            client,
            store,
            `SELECT attrelid::int4 AS rel, attnum::int4 AS num FROM pg_catalog.pg_attribute
             WHERE attnotnull AND (attrelid, attnum) IN (SELECT * FROM unnest($1::oid[], $2::int2[]))`,
            [fromTables.map((field) => field.tableID), fromTables.map((field) => field.columnID)],
            context
          ),
          failed
        )
        for (const row of result.rows) notNull.add(`${row.rel}/${row.num}`)
      }
      const unknownOids = [...new Set(fields.map((field) => field.dataTypeID).filter((oid) => !isBuiltinMapped(oid)))]
      const types = new Map<number, PgType>()
      if (unknownOids.length > 0) {
        const result = yield* Effect.mapError(
          runQuery(client, store, TYPE_CATALOG_QUERY, [unknownOids], context),
          failed
        )
        for (const row of result.rows) {
          const type = pgTypeOfRow(row as Parameters<typeof pgTypeOfRow>[0])
          types.set(type.oid, type)
        }
      }
      yield* Effect.mapError(finish, failed)
      const columns: Array<MappedColumn> = []
      for (const field of fields) {
        const column: PgColumn = {
          name: field.name,
          oid: field.dataTypeID,
          typmod: field.dataTypeModifier,
          nullable: !notNull.has(`${field.tableID}/${field.columnID}`)
        }
        const mapped = mapColumn(column, types)
        if (Either.isLeft(mapped)) {
          return yield* sourceError(store, `${relation.shown}, column ${field.name}: ${mapped.left}`, {
            column: field.name
          })
        }
        columns.push(mapped.right)
      }
      return { columns, oids: fields.map((field) => field.dataTypeID) }
    })
  )

/** A column as the SELECT list reads it: through its casts, when it is read as text. */
const columnExpression = (column: MappedColumn): string =>
  column.casts.reduce((sql, cast) => `(${sql})::${cast}`, quoteIdentifier(column.column.name))

const NANOS_PER_DAY = 86_400_000_000_000n

const floorDiv = (a: bigint, b: bigint): bigint => {
  const quotient = a / b
  return a % b !== 0n && a < 0n ? quotient - 1n : quotient
}

/** The cursor value below which a lookback stops re-reading: rows pass when their cursor is greater. */
const lookbackBound = (type: LogicalType, cursor: Value, lookbackNanos: bigint): Value => {
  const perUnit = type.kind === "timestamp" ? 1_000_000_000n / unitsPerSecond(type.unit) : NANOS_PER_DAY
  const bound = floorDiv(BigInt(cursor as number | bigint) * perUnit - lookbackNanos, perUnit)
  return type.kind === "date" ? Number(bound) : bound
}

/** The statement of one read, and what the batches it yields hold. */
interface ReadStatement {
  readonly sql: string
  /** The FROM item. */
  readonly from: string
  /** The filter and the incremental range, as SQL conditions. */
  readonly conditions: ReadonlyArray<string>
  /** ` ORDER BY …` of an incremental read, or empty. */
  readonly orderBy: string
  /** The columns the COPY yields: the plan's, then the cursor and key columns it needs for watermarks. */
  readonly read: ReadonlyArray<MappedColumn>
  /** How many of `read` the pages carry. */
  readonly output: number
  /** Incremental reads: where the cursor and key columns are in `read`, and the watermark's floor. */
  readonly ordered: Option.Option<{
    readonly cursor: number
    readonly keys: ReadonlyArray<number>
    readonly since: Option.Option<CursorPosition>
  }>
}

type PlanProblem = { readonly message: string; readonly column?: string }

/** Renders each literal; the first value that has none (a NUL in text) is kept to fail the plan with. */
const literalRenderer = () => {
  let problem: string | undefined
  const literal = (value: Value, type: LogicalType): string =>
    Either.match(sqlLiteral(type, value), {
      onLeft: (message) => {
        problem ??= message
        return "NULL"
      },
      onRight: (sql) => sql
    })
  return { literal, problem: () => problem }
}

/** The range of an incremental read after a watermark, in (cursor, key…) order. */
const incrementalRange = (
  spec: IncrementalSpec,
  cursor: MappedColumn,
  keys: ReadonlyArray<MappedColumn>,
  plan: ReadPlan<CursorWatermark>,
  literal: (value: Value, type: LogicalType) => string,
  shown: string
): Either.Either<{ condition: string; orderBy: string; since: Option.Option<CursorPosition> }, PlanProblem> =>
  Either.gen(function* () {
    const cursorSql = quoteIdentifier(cursor.column.name)
    const keySql = keys.map((key) => quoteIdentifier(key.column.name))
    const orderBy = ` ORDER BY ${[cursorSql, ...keySql].join(", ")}`
    if (Option.isNone(plan.after)) return { condition: `${cursorSql} IS NOT NULL`, orderBy, since: Option.none() }
    const position = yield* Either.mapLeft(
      decodeWatermark(
        plan.after.value,
        cursor.column,
        keys.map((key) => key.column)
      ),
      (message) => ({ message: `${shown}: ${message}` })
    )
    const since = Option.some(position)
    // makeCursor refused an infinite lookback.
    const lookbackNanos = Option.match(spec.lookback, {
      onNone: () => 0n,
      onSome: (duration) => Option.getOrElse(Duration.toNanos(duration), () => 0n)
    })
    if (lookbackNanos > 0n) {
      const bound = lookbackBound(cursor.column.type, position.cursor, lookbackNanos)
      return { condition: `${cursorSql} > ${literal(bound, cursor.column.type)}`, orderBy, since }
    }
    const cursorLiteral = literal(position.cursor, cursor.column.type)
    const keyLiterals = position.key.map((value, k) => literal(value, keys[k]!.column.type))
    // The first condition lets an index on the cursor bound the scan; the row comparison is exact.
    const condition =
      keys.length === 0
        ? `${cursorSql} > ${cursorLiteral}`
        : `${cursorSql} >= ${cursorLiteral} AND (${[cursorSql, ...keySql].join(", ")}) > (${[cursorLiteral, ...keyLiterals].join(", ")})`
    return { condition, orderBy, since }
  })

/** Refuses cursor and key columns read through their text form: it does not order like the column. */
const checkOrderable = (role: string, column: MappedColumn, shown: string): Either.Either<void, PlanProblem> =>
  column.casts.length === 0
    ? Either.void
    : Either.left({
        message:
          `the ${role} column ${column.column.name} of ${shown} is read through its text form, which does not ` +
          `order like the column itself; use a column of integers, decimals, dates, timestamps or text, or a query dataset that casts it`,
        column: column.column.name
      })

/** The dataset's filter as a WHERE condition, on the columns as the SELECT list reads them. */
const filterCondition = (
  described: Described,
  filter: Filter,
  literal: (value: Value, type: LogicalType) => string
): Either.Either<string, PlanProblem> => {
  const byName = new Map(described.columns.map((column) => [column.column.name, column]))
  const expression = (name: string) => {
    const column = byName.get(name)
    return column === undefined ? quoteIdentifier(name) : columnExpression(column)
  }
  const plain = described.columns.map((column) => column.column)
  return Either.mapBoth(filterToSql(filter, expression, literal, plain), {
    onLeft: (message) => ({ message: `filter: ${message}` }),
    onRight: (rendered) => rendered.sql
  })
}

const planRead = (described: Described, plan: ReadPlan<CursorWatermark>): Either.Either<ReadStatement, PlanProblem> =>
  Either.gen(function* () {
    const { columns, relation } = described
    const byName = new Map(columns.map((column) => [column.column.name, column]))
    const find = (name: string, role: string): Either.Either<MappedColumn, PlanProblem> => {
      const found = byName.get(name)
      return found === undefined
        ? Either.left({
            message: `${relation.shown} has no column ${name}${role}; its columns are ${columns.map((c) => c.column.name).join(", ")}`,
            column: name
          })
        : Either.right(found)
    }
    const wanted = yield* Either.all(
      Option.getOrElse(plan.columns, () => columns.map((column) => column.column.name)).map((name) => find(name, ""))
    )
    if (new Set(wanted.map((column) => column.column.name)).size !== wanted.length) {
      return yield* Either.left({ message: "the column selection names a column twice" })
    }
    const plain = columns.map((column) => column.column)
    const { literal, problem } = literalRenderer()
    const conditions: Array<string> = []
    if (Option.isSome(plan.filter)) conditions.push(yield* filterCondition(described, plan.filter.value, literal))

    let read = wanted
    let ordered: ReadStatement["ordered"] = Option.none()
    let orderBy = ""
    if (Option.isSome(plan.incremental)) {
      const spec = plan.incremental.value
      const cursor = yield* find(spec.cursor, " (the incremental cursor)")
      const keys = yield* Either.all(spec.key.map((name) => find(name, " (an incremental key)")))
      yield* checkOrderable("cursor", cursor, relation.shown)
      for (const key of keys) yield* checkOrderable("key", key, relation.shown)
      // Checks the kinds of the cursor and keys, and the lookback, as every source does.
      yield* Either.mapLeft(makeCursor(spec, plain), (message) => ({
        message: `${relation.shown}: ${message}`,
        column: spec.cursor
      }))
      read = [...read, ...[cursor, ...keys].filter((column) => !read.includes(column))]
      let since: Option.Option<CursorPosition> = Option.none()
      if (plan.mode === "incremental") {
        const range = yield* incrementalRange(spec, cursor, keys, plan, literal, relation.shown)
        conditions.push(range.condition)
        orderBy = range.orderBy
        since = range.since
      }
      const indexOf = (column: MappedColumn) => read.indexOf(column)
      ordered = Option.some({ cursor: indexOf(cursor), keys: keys.map(indexOf), since })
    }
    const literalProblem = problem()
    if (literalProblem !== undefined) return yield* Either.left({ message: literalProblem })

    const sql = `COPY (${selectSql(read.map(selected), relation.sql, conditions, orderBy)}) TO STDOUT (FORMAT binary)`
    if (sql.includes("\0")) return yield* Either.left({ message: "a name or value holds a NUL character" })
    return { sql, from: relation.sql, conditions, orderBy, read, output: wanted.length, ordered }
  })

/** A column in a SELECT list: through its casts, under its own name. */
const selected = (column: MappedColumn): string =>
  column.casts.length === 0
    ? quoteIdentifier(column.column.name)
    : `${columnExpression(column)} AS ${quoteIdentifier(column.column.name)}`

const selectSql = (
  list: ReadonlyArray<string>,
  from: string,
  conditions: ReadonlyArray<string>,
  orderBy: string
): string =>
  `SELECT ${list.join(", ")} FROM ${from} AS ferry_source${conditions.length === 0 ? "" : ` WHERE ${conditions.join(" AND ")}`}${orderBy}`

/**
 * Watermarks of ordered pages: the (cursor, key…) of a page's last row with every key
 * set, never below the stored watermark (a lookback re-reads rows before it).
 */
const pageWatermarks = (
  read: ReadonlyArray<Column>,
  ordered: {
    readonly cursor: number
    readonly keys: ReadonlyArray<number>
    readonly since: Option.Option<CursorPosition>
  }
) => {
  const cursorColumn = read[ordered.cursor]!
  const keyColumns = ordered.keys.map((index) => read[index]!)
  let best: CursorPosition | undefined = Option.getOrUndefined(ordered.since)
  const compare = (a: CursorPosition, b: CursorPosition): number => {
    const order = compareValues(cursorColumn.type, a.cursor, b.cursor)
    if (order !== 0) return order
    for (let k = 0; k < a.key.length; k++) {
      const keyOrder = compareValues(keyColumns[k]!.type, a.key[k]!, b.key[k]!)
      if (keyOrder !== 0) return keyOrder
    }
    return 0
  }
  return (batch: Batch): Option.Option<CursorWatermark> => {
    const cursor = makeColumnReader(cursorColumn.type, batch.data.children[ordered.cursor]!)
    const keys = ordered.keys.map((index, k) => makeColumnReader(keyColumns[k]!.type, batch.data.children[index]!))
    for (let row = batch.numRows - 1; row >= 0; row--) {
      const value = cursor(row)
      const key = keys.map((readKey) => readKey(row))
      if (value === null || key.some((item) => item === null)) continue
      const position: CursorPosition = { cursor: value, key: key as ReadonlyArray<Value> }
      if (best === undefined || compare(position, best) > 0) best = position
      break
    }
    return best === undefined
      ? Option.none()
      : Option.some({
          cursor: formatText(cursorColumn.type, best.cursor),
          key: best.key.map((value, k) => formatText(keyColumns[k]!.type, value))
        })
  }
}

const readTable = (
  session: Session,
  describe: (dataset: PostgresDatasetConfig) => Effect.Effect<Described, SourceError>,
  dataset: PostgresDatasetConfig,
  plan: ReadPlan<CursorWatermark>
) =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const { store } = session
      const fail = (problem: { message: string; column?: string }) =>
        sourceError(store, problem.message, {
          dataset: plan.dataset,
          ...(problem.column === undefined ? {} : { column: problem.column })
        })
      const described = yield* describe(dataset)
      const statement = yield* Either.mapLeft(planRead(described, plan), fail)
      const readColumns = statement.read.map((column) => column.column)
      const outputColumns = readColumns.slice(0, statement.output)
      const outputSchema = toSchema(outputColumns)
      const context: PgErrorContext = { ...session.opened.context, table: described.relation.shown }
      const failed = fromPostgres(store, plan.dataset)
      const { client, finish } = yield* Effect.mapError(snapshotConnection(session), failed)
      yield* Effect.logDebug(`PostgreSQL read of ${described.relation.shown}`).pipe(
        Effect.annotateLogs({ store, dataset: plan.dataset, sql: statement.sql })
      )
      const decoder = new CopyBinaryDecoder(
        statement.read.map((column) => ({ ...column.column, wire: column.wire })),
        { batchRows: dataset.batch_rows ?? DEFAULT_BATCH_ROWS }
      )
      const decodeFailed = (error: unknown) =>
        error instanceof CopyDecodeError
          ? fail({
              message: `${described.relation.shown}${error.column === undefined ? "" : `, column ${error.column}`}: ${error.message}`,
              ...(error.column === undefined ? {} : { column: error.column })
            })
          : fail({ message: `${described.relation.shown}: ${String(error)}` })

      const copy = client.query(copyOut(statement.sql))
      const batches = Stream.fromAsyncIterable(copy, (error) =>
        fail({ message: describePgError(error, context) })
      ).pipe(
        Stream.mapEffect((pieces) =>
          Effect.try({ try: () => pieces.flatMap((piece) => decoder.push(piece)), catch: decodeFailed })
        ),
        Stream.concat(
          Stream.fromEffect(
            Effect.gen(function* () {
              const last = yield* Effect.try({ try: () => decoder.end(), catch: decodeFailed })
              yield* Effect.mapError(finish, failed)
              return last === undefined ? [] : [last]
            })
          )
        ),
        Stream.flattenIterables
      )

      const project = (batch: Batch): Batch =>
        statement.output === readColumns.length
          ? batch
          : makeBatch(outputSchema, batch.numRows, batch.data.children.slice(0, statement.output))

      if (Option.isNone(statement.ordered)) {
        return Stream.map(batches, (batch) => ({ batch, watermark: Option.none<CursorWatermark>() }))
      }
      const ordered = statement.ordered.value
      if (plan.mode === "incremental") {
        const watermarkOf = pageWatermarks(readColumns, ordered)
        return Stream.map(batches, (batch) => ({ batch: project(batch), watermark: watermarkOf(batch) }))
      }
      // A full read is not ordered: its watermark, the largest tuple read, is safe after the whole pass.
      const cursor = Either.getOrThrow(makeCursor(Option.getOrThrow(plan.incremental), readColumns))
      return Stream.concat(
        Stream.map(batches, (batch) => {
          cursor.track(batch)
          return { batch: project(batch), watermark: Option.none<CursorWatermark>() }
        }),
        Stream.sync(() => ({ batch: emptyBatch(outputColumns), watermark: cursor.watermark() }))
      )
    })
  )

/** A connection on the session's snapshot with the settings under which keys render alike everywhere. */
const keyConnection = (session: Session, context: PgErrorContext) =>
  Effect.gen(function* () {
    const connection = yield* snapshotConnection(session)
    yield* runQuery(connection.client, session.store, KEY_SETTINGS, [], context)
    return connection
  })

/**
 * The dataset's keys as the session's snapshot holds them, for `deletes: reconcile`:
 * the rows its filter keeps, with every key column set. Tables whose key an index
 * serves are digested range by range; views and queries stream their keys.
 */
const datasetKeys = (
  session: Session,
  describe: (dataset: PostgresDatasetConfig) => Effect.Effect<Described, SourceError>,
  dataset: PostgresDatasetConfig,
  request: KeyRequest
): Effect.Effect<KeySide<SourceError>, SourceError> =>
  Effect.gen(function* () {
    const { store } = session
    const described = yield* describe(dataset)
    const { relation } = described
    const context: PgErrorContext = { ...session.opened.context, table: relation.shown }
    const fail = (problem: PlanProblem) =>
      sourceError(store, problem.message, {
        dataset: request.dataset,
        ...(problem.column === undefined ? {} : { column: problem.column })
      })
    const keys: Array<KeyColumn> = []
    for (const name of request.key) {
      const index = described.columns.findIndex((column) => column.column.name === name)
      if (index === -1) {
        return yield* fail({ message: `${relation.shown} has no column ${name} (a key column)`, column: name })
      }
      const mapped = described.columns[index]!
      const wire = keyWire(mapped.column)
      if (Either.isLeft(wire)) return yield* fail({ message: `${relation.shown}: ${wire.left}`, column: name })
      if (!isReconcilableType(described.oids[index]!) || mapped.casts.length > 0) {
        return yield* fail({
          message:
            `the key column ${name} of ${relation.shown} does not order and print like the ${typeName(mapped.column.type)} it is read as ` +
            `(char(n), citext, enums and domains do not); deletes: reconcile needs integers, numeric, text, varchar, uuid, date, time or timestamps, ` +
            `or a query dataset that casts the key`,
          column: name
        })
      }
      keys.push({
        column: mapped.column,
        wire: wire.right,
        name: quoteIdentifier(name),
        output: quoteIdentifier(name),
        text: mapped.column.type.kind === "utf8"
      })
    }
    const { literal, problem } = literalRenderer()
    const where = Option.isSome(request.filter)
      ? [yield* Either.mapLeft(filterCondition(described, request.filter.value, literal), fail)]
      : []
    const literalProblem = problem()
    if (literalProblem !== undefined) return yield* fail({ message: literalProblem })
    const failed = (error: unknown) =>
      error instanceof CopyDecodeError
        ? fail({
            message: `${relation.shown}: ${error.message}`,
            ...(error.column === undefined ? {} : { column: error.column })
          })
        : error instanceof PostgresError
          ? fail({ message: error.message })
          : fail({ message: `${relation.shown}: listing keys: ${describePgError(error, context)}` })
    const connect = Effect.mapError(keyConnection(session, context), failed)
    const digests =
      dataset.table !== undefined &&
      (yield* Effect.scoped(
        Effect.gen(function* () {
          const { client, finish } = yield* connect
          const result = yield* Effect.mapError(
            runQuery<{ serving: boolean }>(client, store, SERVING_INDEX_QUERY, [relation.sql, request.key], context),
            failed
          )
          yield* Effect.mapError(finish, failed)
          return result.rows[0]?.serving === true
        })
      ))
    return makePgKeySide({ relation: { sql: relation.sql, keys, where }, digests, connect, fail: failed })
  })

// ---- reads encoded by the server ---------------------------------------------------

/** How the CSV rewriter treats each column's field, or `undefined` for a column it cannot render exactly. */
const csvFieldKind = (column: MappedColumn): CsvFieldKind | undefined => {
  switch (column.wire.kind) {
    case "int2":
    case "int4":
    case "int8":
    case "uuid":
    case "time":
    case "bytea":
      return "verbatim"
    case "float4":
    case "float8":
      return "float"
    case "numeric":
      return "decimal"
    case "bool":
      return "bool"
    case "text":
    case "json":
    case "jsonb":
      return "text"
    case "date":
      return "date"
    case "timestamp":
      return column.column.type.kind === "timestamp" && column.column.type.timeZone !== null
        ? "timestamptz"
        : "timestamp"
    case "array":
      // Lists are JSON arrays in Ferry's CSV, whose elements' forms PostgreSQL's array text does not give.
      return undefined
  }
}

/** Cursor and key types whose order in PostgreSQL is the order of their canonical values in Ferry (no collations, no floats). */
const SERVER_ORDERED_KINDS: ReadonlySet<LogicalType["kind"]> = new Set([
  "int16",
  "int32",
  "int64",
  "decimal",
  "date",
  "time",
  "timestamp",
  "uuid"
])

/** The session settings the rewriter relies on (internal/CopyCsv.ts). */
const CSV_SETTINGS =
  "SET LOCAL DateStyle = ISO; SET LOCAL TimeZone = 'UTC'; SET LOCAL extra_float_digits = 1; SET LOCAL bytea_output = hex"

const UTC_ZONES = new Set(["UTC", "Etc/UTC", "UCT", "Etc/UCT", "GMT", "Etc/GMT", "Universal", "Etc/Universal", "Zulu"])

/**
 * A view or a query may compute text from dates, numbers or bytes, which the settings
 * of the session shape; its CSV is the same as its batches' only if those settings are
 * already the ones the rewriter needs.
 */
const SETTINGS_QUERY = `SELECT current_setting('DateStyle') AS date_style, current_setting('TimeZone') AS time_zone,
  current_setting('extra_float_digits')::int AS float_digits, current_setting('bytea_output') AS bytea_output`

interface SessionSettings {
  readonly date_style: string
  readonly time_zone: string
  readonly float_digits: number
  readonly bytea_output: string
}

const hasCsvSettings = (settings: SessionSettings): boolean =>
  settings.date_style.startsWith("ISO") &&
  UTC_ZONES.has(settings.time_zone) &&
  settings.float_digits > 0 &&
  settings.bytea_output === "hex"

/** The rows of a binary COPY of a few rows, as one batch. */
const copyBatch = (
  client: pg.PoolClient,
  sql: string,
  columns: ReadonlyArray<MappedColumn>
): Effect.Effect<Batch, unknown> =>
  Effect.tryPromise(async () => {
    const decoder = new CopyBinaryDecoder(columns.map((column) => ({ ...column.column, wire: column.wire })))
    const batches: Array<Batch> = []
    for await (const pieces of client.query(copyOut(sql)))
      for (const piece of pieces) batches.push(...decoder.push(piece))
    const last = decoder.end()
    if (last !== undefined) batches.push(last)
    return batches[0] ?? emptyBatch(columns.map((column) => column.column))
  })

/**
 * The watermark the last page of `readTable` would carry, from the largest
 * (cursor, key…) among the rows read: one `ORDER BY … DESC LIMIT 1` in the same
 * snapshot, which an index on (cursor, key…) answers without reading the rows.
 */
const encodedWatermark = (
  client: pg.PoolClient,
  statement: ReadStatement,
  ordered: NonNullable<Option.Option.Value<ReadStatement["ordered"]>>,
  plan: ReadPlan<CursorWatermark>
): Effect.Effect<Option.Option<CursorWatermark>, unknown> =>
  Effect.gen(function* () {
    const tuple = [ordered.cursor, ...ordered.keys].map((index) => statement.read[index]!)
    const names = tuple.map((column) => quoteIdentifier(column.column.name))
    const sql = `COPY (${selectSql(
      names,
      statement.from,
      [...statement.conditions, ...names.map((name) => `${name} IS NOT NULL`)],
      ` ORDER BY ${names.map((name) => `${name} DESC`).join(", ")} LIMIT 1`
    )}) TO STDOUT (FORMAT binary)`
    yield* Effect.logDebug("PostgreSQL watermark of an encoded read").pipe(Effect.annotateLogs({ sql }))
    const batch = yield* copyBatch(client, sql, tuple)
    if (batch.numRows === 0) return Option.none()
    const columns = tuple.map((column) => column.column)
    if (plan.mode === "incremental") {
      return pageWatermarks(columns, { cursor: 0, keys: ordered.keys.map((_, k) => k + 1), since: ordered.since })(
        batch
      )
    }
    const cursor = Either.getOrThrow(makeCursor(Option.getOrThrow(plan.incremental), columns))
    cursor.track(batch)
    return cursor.watermark()
  })

/**
 * A table read as CSV in Ferry's text forms: `COPY (SELECT …) TO STDOUT (FORMAT csv)`
 * with the read's own SELECT, WHERE and ORDER BY, its output rewritten where
 * PostgreSQL's text forms differ from Ferry's (internal/CopyCsv.ts). A full read of a
 * large table comes in parts, one per range of its pages, when the store allows
 * `parallel_reads` (internal/TableSplit.ts). `None` for a dialect, a column type, a
 * cursor or a view's settings that would not give exactly the bytes of the batches
 * encoded by sinks/formats/Csv.ts.
 */
const readEncoded = (
  session: Session,
  describe: (dataset: PostgresDatasetConfig) => Effect.Effect<Described, SourceError>,
  dataset: PostgresDatasetConfig,
  plan: ReadPlan<CursorWatermark>,
  format: EncodedFormat
): Effect.Effect<Option.Option<EncodedTable<CursorWatermark>>, SourceError, Scope.Scope> =>
  Effect.gen(function* () {
    const { store } = session
    const fail = (problem: { message: string; column?: string }) =>
      sourceError(store, problem.message, {
        dataset: plan.dataset,
        ...(problem.column === undefined ? {} : { column: problem.column })
      })
    if (!isRewritableDialect(format)) return Option.none()
    const described = yield* describe(dataset)
    const statement = yield* Either.mapLeft(planRead(described, plan), fail)
    const output = statement.read.slice(0, statement.output)
    const fields: Array<CsvField> = []
    for (const column of output) {
      const kind = csvFieldKind(column)
      if (kind === undefined) return Option.none()
      fields.push({ name: column.column.name, kind })
    }
    const ordered = Option.getOrUndefined(statement.ordered)
    if (
      ordered !== undefined &&
      [ordered.cursor, ...ordered.keys].some(
        (index) => !SERVER_ORDERED_KINDS.has(statement.read[index]!.column.type.kind)
      )
    ) {
      return Option.none()
    }
    const context: PgErrorContext = { ...session.opened.context, table: described.relation.shown }
    const failed = fromPostgres(store, plan.dataset)
    const queryFailed = (error: unknown) => fail({ message: describePgError(error, context) })
    const { client, finish } = yield* Effect.mapError(snapshotConnection(session), failed)
    if (dataset.table === undefined) {
      const settings = yield* Effect.mapError(
        runQuery<SessionSettings>(client, store, SETTINGS_QUERY, [], context),
        failed
      )
      if (!hasCsvSettings(settings.rows[0]!)) {
        yield* Effect.mapError(finish, failed)
        return Option.none()
      }
    }
    yield* Effect.mapError(runQuery(client, store, CSV_SETTINGS, [], context), failed)
    const watermark =
      ordered === undefined
        ? Option.none<CursorWatermark>()
        : yield* Effect.mapError(encodedWatermark(client, statement, ordered, plan), queryFailed)

    const literal = (text: string) => Either.getOrThrow(quoteString(text))
    const list = output.map((column) =>
      column.wire.kind === "float4"
        ? `(${columnExpression(column)})::float8 AS ${quoteIdentifier(column.column.name)}`
        : selected(column)
    )
    const copyOptions = `(FORMAT csv, DELIMITER ${literal(format.delimiter)}, QUOTE ${literal(format.quote)}, NULL ${literal(format.null)})`
    const decodeFailed = (error: unknown) =>
      error instanceof CopyDecodeError
        ? fail({
            message: `${described.relation.shown}${error.column === undefined ? "" : `, column ${error.column}`}: ${error.message}`,
            ...(error.column === undefined ? {} : { column: error.column })
          })
        : fail({ message: `${described.relation.shown}: ${String(error)}` })

    // A full read of a whole table has no order to keep, so large ones split into ranges of pages.
    const splittable = plan.mode === "full" && dataset.table !== undefined && statement.orderBy === ""
    const readers = splittable
      ? yield* Effect.mapError(
          splitTable({
            store,
            pool: session.opened.pool,
            context,
            parallel: session.parallel,
            relation: described.relation,
            first: { client, finish },
            connect: Effect.tap(snapshotConnection(session), (reader) =>
              runQuery(reader.client, store, CSV_SETTINGS, [], context)
            )
          }),
          failed
        )
      : [{ client, finish, range: [] }]
    const rewriters = readers.map(() => new CopyCsvRewriter(fields, format))
    const parts = readers.map((reader, index) => {
      const rewriter = rewriters[index]!
      const sql = `COPY (${selectSql(list, statement.from, [...statement.conditions, ...reader.range], statement.orderBy)}) TO STDOUT ${copyOptions}`
      return Stream.suspend(() => Stream.fromAsyncIterable(reader.client.query(copyOut(sql)), queryFailed)).pipe(
        Stream.mapEffect((pieces) => Effect.try({ try: () => rewriter.pushPieces(pieces), catch: decodeFailed })),
        Stream.flattenIterables,
        Stream.concat(
          Stream.fromIterableEffect(
            Effect.zipLeft(
              Effect.try({
                try: (): ReadonlyArray<Uint8Array> => {
                  const last = rewriter.end()
                  return last === undefined ? [] : [last]
                },
                catch: decodeFailed
              }),
              Effect.mapError(reader.finish, failed)
            )
          )
        ),
        Stream.onStart(
          Effect.logDebug(`PostgreSQL read of ${described.relation.shown}, as CSV`).pipe(
            Effect.annotateLogs({ store, dataset: plan.dataset, part: index, sql })
          )
        )
      )
    })
    const rows = () => rewriters.reduce((sum, rewriter) => sum + rewriter.rows, 0)
    const recycle = (chunk: Uint8Array) => {
      for (const rewriter of rewriters) rewriter.recycle(chunk)
    }
    return Option.some({ parts, rows, watermark, recycle })
  })

const openSession = (
  config: PostgresStoreConfig,
  context: StoreContext
): Effect.Effect<SourceSession<PostgresDatasetConfig, CursorWatermark>, SourceError, Scope.Scope> =>
  Effect.gen(function* () {
    const store = context.store
    const failed = fromPostgres(store)
    const opened = yield* Effect.mapError(openPool(config, store), failed)
    // The holder's transaction keeps the snapshot importable for as long as the session lives.
    let holderClean = false
    const holder = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => opened.pool.connect(),
        catch: (error) => sourceError(store, describePgError(error, opened.context))
      }),
      (client) => Effect.sync(() => client.release(holderClean ? undefined : true))
    )
    const exported = yield* Effect.mapError(
      runQuery<{ id: string }>(
        holder,
        store,
        // A server-wide idle_in_transaction_session_timeout would end the holder between reads.
        "SET idle_in_transaction_session_timeout = 0; BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT pg_export_snapshot() AS id",
        [],
        opened.context
      ),
      failed
    )
    yield* Effect.addFinalizer(() =>
      runQuery(holder, store, "COMMIT").pipe(
        Effect.tap(() =>
          Effect.sync(() => {
            holderClean = true
          })
        ),
        Effect.ignore
      )
    )
    const results = exported as unknown as ReadonlyArray<pg.QueryResult<{ id: string }>>
    const snapshot = results[2]!.rows[0]!.id
    const session: Session = {
      store,
      opened,
      snapshot,
      parallel: {
        connections: config.parallel_reads ?? DEFAULT_PARALLEL_READS,
        minBytes: (config.parallel_read_min_mb ?? DEFAULT_PARALLEL_READ_MIN_MB) * 1024 * 1024
      }
    }

    const described = new Map<string, Described>()
    const describe = (dataset: PostgresDatasetConfig): Effect.Effect<Described, SourceError> =>
      Effect.suspend(() => {
        const key = JSON.stringify([dataset.table, dataset.view, dataset.query])
        const cached = described.get(key)
        if (cached !== undefined) return Effect.succeed(cached)
        const relation = relationOf(dataset)
        return Effect.map(describeRelation(session, relation), (columns) => {
          const result = { relation, ...columns }
          described.set(key, result)
          return result
        })
      })

    return {
      describe: (dataset) =>
        Effect.map(describe(dataset), (result): DatasetDescription => ({
          kind: "table",
          columns: result.columns.map((column) => column.column)
        })),
      readTable: (dataset, plan) => readTable(session, describe, dataset, plan),
      readEncoded: (dataset, plan, format) => readEncoded(session, describe, dataset, plan, format),
      keys: (dataset, request) => datasetKeys(session, describe, dataset, request)
    }
  })

export const postgresSource: SourceConnector<PostgresStoreConfig, PostgresDatasetConfig, CursorWatermark> = {
  type: "postgres",
  description: "A PostgreSQL database: tables, views and read-only queries, read in one consistent snapshot per run.",
  storeConfig: PostgresStoreConfig,
  datasetConfig: PostgresDatasetConfig,
  watermark: CursorWatermark,
  capabilities: { keys: true },
  open: openSession
}
