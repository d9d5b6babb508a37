/**
 * A dataset's or a target's keys as a `KeySide` (core/Reconcile.ts), computed where
 * they are: the PostgreSQL source and sink both build theirs here, so that both sides
 * order, cut and digest keys with the same statements.
 *
 * - Order: the key columns as they are, text with `COLLATE "C"` (UTF-8 byte order, the
 *   code point order of core/Reconcile), whatever the database's collation; a range is
 *   a row comparison in that order, so it is the same set of keys on any server.
 * - Digest of a range: `count(*)` and the exact sum of `hashtextextended(ROW(key…)::text, 0)`,
 *   a 64-bit hash of the key's record text, in a transaction with TimeZone UTC and
 *   DateStyle ISO, so that two servers (and sessions of any time zone) render a key alike.
 *   One `SELECT … UNION ALL …` digests many ranges; each range is an index range scan
 *   where an index serves the key, which is why digests are offered only then.
 * - Cut keys: every `step`-th key of the range, found by a recursive query that steps
 *   from one cut to the next along the key's index (`OFFSET step - 1 LIMIT 1` after the
 *   last cut), which reads each key once without a window function over them: a tenth
 *   of the time of `row_number()` over the range, and far less than a running hash sum.
 * - Keys: `COPY (SELECT key… ORDER BY key…) TO STDOUT (FORMAT binary)`, decoded into Arrow.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type pg from "pg"
import type { Batch } from "../../../core/Batch.js"
import { makeColumnReader } from "../../../core/Batch.js"
import type { Key, KeyRange, KeySide, RangeDigest } from "../../../core/Reconcile.js"
import type { Column, LogicalType } from "../../../core/Types.js"
import { typeName } from "../../../core/Types.js"
import { quoteIdentifier } from "../Identifiers.js"
import type { WireType } from "../PostgresTypes.js"
import { PgOid } from "../PostgresTypes.js"
import { CopyBinaryDecoder } from "./CopyBinary.js"
import { copyOut } from "./CopyOut.js"
import { sqlLiteral } from "./Literals.js"

/** Names what `digest` computes: only sides with the same algorithm compare digests. */
export const DIGEST_ALGORITHM =
  "postgresql: count and sum of hashtextextended(ROW(key)::text, 0), TimeZone UTC, DateStyle ISO"

/**
 * Settings of the transaction a key side works in, so that keys render alike on every
 * server and session; JIT off, since a digest statement of hundreds of small range
 * scans would spend longer compiling than running.
 */
export const KEY_SETTINGS =
  "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'postgres'; SET LOCAL extra_float_digits = 1; SET LOCAL jit = off"

/** One key column as the statements use it. */
export interface KeyColumn {
  /** The column as the side streams it. */
  readonly column: Column
  readonly wire: WireType
  /** The column's name in the relation. */
  readonly name: string
  /** The SELECT-list expression giving the column in its streamed type (a cast on a target of a wider type). */
  readonly output: string
  /** Text: ordered and compared in the C collation. */
  readonly text: boolean
}

/** The wire format of a logical type a key may have, or why keys of that type are not reconciled. */
export const keyWire = (column: Column): Either.Either<WireType, string> => {
  const type: LogicalType = column.type
  switch (type.kind) {
    case "int16":
      return Either.right({ kind: "int2" })
    case "int32":
      return Either.right({ kind: "int4" })
    case "int64":
      return Either.right({ kind: "int8" })
    case "decimal":
      return Either.right({ kind: "numeric", scale: type.scale })
    case "utf8":
      return Either.right({ kind: "text" })
    case "uuid":
      return Either.right({ kind: "uuid" })
    case "date":
      return Either.right({ kind: "date" })
    case "time":
      return Either.right({ kind: "time" })
    case "timestamp":
      if (type.unit === "us") return Either.right({ kind: "timestamp" })
      break
    default:
      break
  }
  return Either.left(
    `the key column ${column.name} is ${typeName(type)}; deletes: reconcile compares keys of integers, decimals, text, uuids, dates, times and timestamps (microseconds)`
  )
}

/**
 * Source column types whose order and text are those of the Ferry type they are read
 * as. char(n) compares without its padding, citext without case, enums in their
 * declared order: keys of those would not order alike on both sides.
 */
const KEY_TYPES: ReadonlySet<number> = new Set([
  PgOid.int2,
  PgOid.int4,
  PgOid.int8,
  PgOid.numeric,
  PgOid.text,
  PgOid.varchar,
  PgOid.uuid,
  PgOid.date,
  PgOid.time,
  PgOid.timestamp,
  PgOid.timestamptz
])

export const isReconcilableType = (oid: number): boolean => KEY_TYPES.has(oid)

const ordered = (key: KeyColumn): string => (key.text ? `${key.name} COLLATE "C"` : key.name)

const tuple = (parts: ReadonlyArray<string>): string => (parts.length === 1 ? parts[0]! : `(${parts.join(", ")})`)

const literals = (keys: ReadonlyArray<KeyColumn>, key: Key): Either.Either<string, string> =>
  Either.map(Either.all(keys.map((column, k) => sqlLiteral(column.column.type, key[k]!))), tuple)

/** The WHERE conditions of a range: complete keys, at or above its lower bound, below its upper one. */
const rangeConditions = (keys: ReadonlyArray<KeyColumn>, range: KeyRange): Either.Either<Array<string>, string> =>
  Either.gen(function* () {
    const conditions = keys.map((key) => `${key.name} IS NOT NULL`)
    const order = tuple(keys.map(ordered))
    if (range.lower !== undefined) conditions.push(`${order} >= ${yield* literals(keys, range.lower)}`)
    if (range.upper !== undefined) conditions.push(`${order} < ${yield* literals(keys, range.upper)}`)
    return conditions
  })

/** Statements over one relation (a table, or a view or query as a FROM item) and its rows' extra conditions. */
export interface KeyRelation {
  /** The FROM item. */
  readonly sql: string
  readonly keys: ReadonlyArray<KeyColumn>
  /** Conditions every row must meet (the dataset's filter). */
  readonly where: ReadonlyArray<string>
}

const whereOf = (relation: KeyRelation, range: KeyRange) =>
  Either.map(
    rangeConditions(relation.keys, range),
    (conditions) => ` WHERE ${[...relation.where, ...conditions].join(" AND ")}`
  )

const outputs = (relation: KeyRelation) => relation.keys.map((key) => key.output)

export const keysStatement = (relation: KeyRelation, range: KeyRange): Either.Either<string, string> =>
  Either.map(
    whereOf(relation, range),
    (where) =>
      `COPY (SELECT ${outputs(relation).join(", ")} FROM ${relation.sql} AS ferry_keys${where} ORDER BY ${relation.keys.map(ordered).join(", ")}) TO STDOUT (FORMAT binary)`
  )

const hashOf = (relation: KeyRelation): string => `hashtextextended(ROW(${outputs(relation).join(", ")})::text, 0)`

/**
 * Up to `cuts` keys of the range, every `step`-th after its first `step`, in order:
 * each step an index range scan from the last cut, skipping `step - 1` keys.
 */
export const splitStatement = (
  relation: KeyRelation,
  range: KeyRange,
  step: number,
  cuts: number
): Either.Either<string, string> =>
  Either.gen(function* () {
    const where = yield* whereOf(relation, range)
    const aliases = relation.keys.map((_, k) => quoteIdentifier(`k${k}`))
    const select = relation.keys.map((key, k) => `${key.output} AS ${aliases[k]}`).join(", ")
    const order = relation.keys.map(ordered)
    const after = `${tuple(order)} > ${tuple(aliases.map((alias) => `ferry_cuts.${alias}`))}`
    const from = (offset: number, more = "") =>
      `SELECT ${select} FROM ${relation.sql} AS ferry_keys${where}${more} ORDER BY ${order.join(", ")} OFFSET ${offset} LIMIT 1`
    return (
      `COPY (WITH RECURSIVE ferry_cuts AS (` +
      `SELECT ferry_first.*, 1 AS ferry_cut FROM (${from(step)}) AS ferry_first ` +
      `UNION ALL SELECT ferry_next.*, ferry_cuts.ferry_cut + 1 FROM ferry_cuts CROSS JOIN LATERAL (${from(step - 1, ` AND ${after}`)}) AS ferry_next ` +
      `WHERE ferry_cuts.ferry_cut < ${cuts}) ` +
      `SELECT ${aliases.join(", ")} FROM ferry_cuts ORDER BY ferry_cut) TO STDOUT (FORMAT binary)`
    )
  })

/** One row per range, in order: its index, key count and hash sum. */
export const digestStatement = (
  relation: KeyRelation,
  ranges: ReadonlyArray<KeyRange>
): Either.Either<string, string> =>
  Either.map(
    Either.all(ranges.map((range) => whereOf(relation, range))),
    (wheres) =>
      wheres
        .map(
          (where, i) =>
            `SELECT ${i} AS i, count(*)::int8 AS n, coalesce(sum(${hashOf(relation)}), 0)::text AS s FROM ${relation.sql} AS ferry_keys${where}`
        )
        .join(" UNION ALL ") + " ORDER BY i"
  )

/**
 * True when a valid btree index of table `$1` (a regclass text) starts with the key
 * columns `$2` in order, text ones in the C collation: then each range is an index range
 * scan. Without one, every range would cost a scan of the table, and streaming all keys
 * once is cheaper than digesting ranges.
 */
export const SERVING_INDEX_QUERY = `
SELECT EXISTS (
  SELECT 1 FROM pg_catalog.pg_index i
  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_catalog.pg_am am ON am.oid = ic.relam
  WHERE i.indrelid = to_regclass($1) AND am.amname = 'btree' AND i.indisvalid AND i.indpred IS NULL
    AND i.indnkeyatts >= cardinality($2::text[])
    AND NOT EXISTS (
      SELECT 1 FROM generate_subscripts($2::text[], 1) AS g(n)
      LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[g.n - 1]
      WHERE a.attname IS DISTINCT FROM ($2::text[])[g.n]
         OR (a.attcollation <> 0 AND i.indcollation[g.n - 1] NOT IN (
              SELECT c.oid FROM pg_catalog.pg_collation c
              WHERE c.collname IN ('C', 'POSIX') AND c.collnamespace = 'pg_catalog'::regnamespace))
    )
) AS serving`

/** A connection in a transaction with `KEY_SETTINGS`, for the life of a scope; `finish` ends the transaction cleanly. */
export interface KeyConnection {
  readonly client: pg.ClientBase
  readonly finish: Effect.Effect<void, unknown>
}

export interface PgKeySideOptions<E> {
  readonly relation: KeyRelation
  /** Offer digests (an index serves the key's ranges). */
  readonly digests: boolean
  readonly connect: Effect.Effect<KeyConnection, E, Scope.Scope>
  /** A driver or decoding error as the side's error. */
  readonly fail: (error: unknown) => E
  readonly batchRows?: number
}

const KEY_BATCH_ROWS = 16_384

/** The batches of a `COPY … TO STDOUT (FORMAT binary)` of the key columns. */
const copyBatches = <E>(options: PgKeySideOptions<E>, sql: string): Stream.Stream<Batch, E> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const { client, finish } = yield* options.connect
      const decoder = new CopyBinaryDecoder(
        options.relation.keys.map((key) => ({ ...key.column, wire: key.wire })),
        { batchRows: options.batchRows ?? KEY_BATCH_ROWS }
      )
      const copy = client.query(copyOut(sql))
      return Stream.fromAsyncIterable(copy, options.fail).pipe(
        Stream.mapEffect((pieces) =>
          Effect.try({ try: () => pieces.flatMap((piece) => decoder.push(piece)), catch: options.fail })
        ),
        Stream.concat(
          Stream.fromEffect(
            Effect.gen(function* () {
              const last = yield* Effect.try({ try: () => decoder.end(), catch: options.fail })
              yield* Effect.mapError(finish, options.fail)
              return last === undefined ? [] : [last]
            })
          )
        ),
        Stream.flattenIterables
      )
    })
  )

const statement = <E>(options: PgKeySideOptions<E>, sql: Either.Either<string, string>) =>
  Either.match(sql, { onLeft: (message) => Effect.fail(options.fail(new Error(message))), onRight: Effect.succeed })

/** The key side of a relation on PostgreSQL. */
export const makePgKeySide = <E>(options: PgKeySideOptions<E>): KeySide<E> => {
  const { relation } = options
  const columns = relation.keys.map((key) => key.column)
  const keys = (range: KeyRange): Stream.Stream<Batch, E> =>
    Stream.unwrap(Effect.map(statement(options, keysStatement(relation, range)), (sql) => copyBatches(options, sql)))

  const digest = (ranges: ReadonlyArray<KeyRange>): Effect.Effect<ReadonlyArray<RangeDigest>, E> =>
    Effect.scoped(
      Effect.gen(function* () {
        const sql = yield* statement(options, digestStatement(relation, ranges))
        const { client, finish } = yield* options.connect
        const result = yield* Effect.tryPromise({
          try: () => client.query<{ i: number; n: string; s: string }>(sql),
          catch: options.fail
        })
        yield* Effect.mapError(finish, options.fail)
        return result.rows.map((row) => ({ count: Number(row.n), sum: row.s }))
      })
    )

  const split = (range: KeyRange, parts: number, count: number): Effect.Effect<ReadonlyArray<Key>, E> =>
    Effect.gen(function* () {
      const step = Math.ceil(count / parts)
      if (count < 2 || parts < 2) return []
      const sql = yield* statement(options, splitStatement(relation, range, step, parts - 1))
      const batches = yield* Stream.runCollect(copyBatches(options, sql))
      const keys: Array<Key> = []
      for (const batch of batches) {
        const readers = columns.map((column, k) => makeColumnReader(column.type, batch.data.children[k]!))
        for (let row = 0; row < batch.numRows; row++) keys.push(readers.map((read) => read(row)!))
      }
      return keys
    })

  return {
    columns,
    keys,
    ...(options.digests ? { digests: { algorithm: DIGEST_ALGORITHM, digest, split } } : {})
  }
}
