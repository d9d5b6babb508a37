/**
 * Incremental reads by cursor, for sources that cannot push the cursor into their
 * query (files), and watermark tracking for every source.
 *
 * Rows are ordered by the tuple (cursor, key…). A watermark is the largest tuple
 * delivered; the next run delivers the rows whose tuple is greater, so rows that share
 * the watermark's cursor value but were not yet delivered (the rest of a run of equal
 * cursor values cut by a batch or a crash) come next, and none comes twice. Values are
 * compared exactly in their canonical form: bigints for int64, unscaled bigints for
 * decimals, bigints in the column's unit for timestamps.
 *
 * Rows whose cursor is NULL cannot be ordered, so they are never delivered by an
 * incremental run (only by a full one). Key columns should not hold NULLs: as in SQL's
 * row comparison, a NULL key is compared as unknown, which excludes its row when its
 * cursor equals the watermark's, and such a row never becomes the watermark.
 */
import type * as Arrow from "apache-arrow"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { Batch } from "./Batch.js"
import { makeColumnReader } from "./Batch.js"
import type { IncrementalSpec } from "./Source.js"
import type { Column, LogicalType } from "./Types.js"
import { typeName, unitsPerSecond } from "./Types.js"
import type { Value } from "./Values.js"
import { compareValues, formatText, parseText } from "./Values.js"
import type { CursorWatermark } from "./Watermark.js"

/** A watermark decoded into the canonical values of the cursor and key columns. */
export interface CursorPosition {
  readonly cursor: Value
  readonly key: ReadonlyArray<Value>
}

export interface Cursor {
  readonly cursorColumn: Column
  readonly keyColumns: ReadonlyArray<Column>
  /** The stored watermark in the types of the cursor and key columns. */
  readonly decode: (watermark: CursorWatermark) => Either.Either<CursorPosition, string>
  /**
   * Indices of the rows of `batch` after `since`: with a tuple greater than it, or, with
   * a lookback, with a cursor greater than the watermark's cursor minus the lookback (a
   * window re-read for rows that commit late; sinks merge on the key). `None` selects
   * every row with a cursor. `since` is also the floor of `watermark()`, so a lookback
   * re-read never moves the watermark back.
   */
  readonly after: (batch: Batch, since: Option.Option<CursorPosition>) => Int32Array
  /** Takes the rows (all of them, or `rows`) into the maximum tuple seen. */
  readonly track: (batch: Batch, rows?: Int32Array) => void
  /**
   * The maximum tuple tracked, as text that decodes to the same values. It is safe to
   * commit once every row up to it has been delivered: after a whole pass over the
   * dataset, or page by page when the source reads in (cursor, key) order.
   */
  readonly watermark: () => Option.Option<CursorWatermark>
}

const ORDERABLE_KINDS: ReadonlySet<LogicalType["kind"]> = new Set([
  "int8",
  "int16",
  "int32",
  "int64",
  "decimal",
  "float32",
  "float64",
  "date",
  "time",
  "timestamp",
  "utf8"
])

type Compare = (a: Value, b: Value) => number

/** Plain `<` wherever it is the order of the canonical values (everything but floats). */
const comparatorFor = (type: LogicalType): Compare =>
  type.kind === "float32" || type.kind === "float64" || type.kind === "uuid"
    ? (a, b) => compareValues(type, a, b)
    : (a, b) => (a < b ? -1 : a > b ? 1 : 0)

const NANOS_PER_DAY = 86_400_000_000_000n

const floorDiv = (a: bigint, b: bigint): bigint => {
  const quotient = a / b
  return a % b !== 0n && a < 0n ? quotient - 1n : quotient
}

/** Nanoseconds per unit of a date or timestamp cursor. */
const nanosPerUnit = (type: LogicalType): bigint | undefined =>
  type.kind === "date"
    ? NANOS_PER_DAY
    : type.kind === "timestamp"
      ? 1_000_000_000n / unitsPerSecond(type.unit)
      : undefined

/**
 * The largest cursor value a lookback no longer re-reads: rows pass when their cursor
 * is greater than `watermark − lookback`, which for whole units is its floor.
 */
const lookbackBound = (type: LogicalType, cursor: Value, lookbackNanos: bigint): Value => {
  const perUnit = nanosPerUnit(type)!
  const bound = floorDiv(BigInt(cursor as number | bigint) * perUnit - lookbackNanos, perUnit)
  return type.kind === "date" ? Number(bound) : bound
}

/** Decodes a stored watermark with the types of the cursor and key columns. */
export const decodeWatermark = (
  watermark: CursorWatermark,
  cursorColumn: Column,
  keyColumns: ReadonlyArray<Column>
): Either.Either<CursorPosition, string> => {
  if (watermark.key.length !== keyColumns.length) {
    return Either.left(
      `the stored watermark has ${watermark.key.length} key value(s) but the key has ${keyColumns.length} column(s); ` +
        `a changed key needs a full snapshot`
    )
  }
  const parse = (column: Column, text: string) =>
    Either.mapLeft(
      parseText(column.type, text),
      (message) => `the stored watermark of column ${column.name}: ${message}`
    )
  return Either.map(
    Either.all([
      parse(cursorColumn, watermark.cursor),
      ...keyColumns.map((column, i) => parse(column, watermark.key[i]!))
    ]),
    ([cursor, ...key]) => ({ cursor: cursor!, key })
  )
}

const resolve = (
  columns: ReadonlyArray<Column>,
  name: string,
  role: string,
  allowed: ReadonlySet<LogicalType["kind"]>
): Either.Either<{ column: Column; index: number }, string> => {
  const index = columns.findIndex((column) => column.name === name)
  if (index === -1) return Either.left(`the ${role} column ${name} is not in the dataset`)
  const column = columns[index]!
  if (!allowed.has(column.type.kind)) {
    return Either.left(
      `the ${role} column ${name} is ${typeName(column.type)}, which cannot order rows; ` +
        `use a column of integers, decimals, floats, dates, times, timestamps or text`
    )
  }
  return Either.right({ column, index })
}

const KEY_KINDS: ReadonlySet<LogicalType["kind"]> = new Set([...ORDERABLE_KINDS, "uuid"])

/** Checks the incremental spec against the columns and returns a cursor for one run. */
export const makeCursor = (spec: IncrementalSpec, columns: ReadonlyArray<Column>): Either.Either<Cursor, string> =>
  Either.gen(function* () {
    const cursor = yield* resolve(columns, spec.cursor, "cursor", ORDERABLE_KINDS)
    const keys = yield* Either.all(spec.key.map((name) => resolve(columns, name, "key", KEY_KINDS)))
    let lookbackNanos = 0n
    if (Option.isSome(spec.lookback)) {
      const nanos = Duration.toNanos(spec.lookback.value)
      if (Option.isNone(nanos)) return yield* Either.left("lookback must be a finite duration")
      if (nanosPerUnit(cursor.column.type) === undefined && nanos.value > 0n) {
        return yield* Either.left(
          `lookback needs a date or timestamp cursor, but the cursor column ${cursor.column.name} is ` +
            `${typeName(cursor.column.type)}; remove the lookback`
        )
      }
      lookbackNanos = nanos.value
    }
    return makeTracker(cursor, keys, lookbackNanos)
  })

const makeTracker = (
  cursor: { column: Column; index: number },
  keys: ReadonlyArray<{ column: Column; index: number }>,
  lookbackNanos: bigint
): Cursor => {
  const cursorType = cursor.column.type
  const compareCursor = comparatorFor(cursorType)
  const compareKeys = keys.map((key) => comparatorFor(key.column.type))
  const keyColumns = keys.map((key) => key.column)
  let max: CursorPosition | undefined

  const readersOf = (batch: Batch) => ({
    cursor: makeColumnReader(cursorType, batch.data.children[cursor.index] as Arrow.Data),
    keys: keys.map((key) => makeColumnReader(key.column.type, batch.data.children[key.index] as Arrow.Data))
  })

  /** Compares the row's keys with `key`; `undefined` when a NULL key leaves it undecided. */
  const compareRowKeys = (
    readers: ReadonlyArray<(index: number) => Value | null>,
    row: number,
    key: ReadonlyArray<Value>
  ): number | undefined => {
    for (let k = 0; k < readers.length; k++) {
      const value = readers[k]!(row)
      if (value === null) return undefined
      const order = compareKeys[k]!(value, key[k]!)
      if (order !== 0) return order
    }
    return 0
  }

  const readKeys = (readers: ReadonlyArray<(index: number) => Value | null>, row: number): ReadonlyArray<Value> =>
    readers.map((read) => read(row)!)

  const raise = (position: CursorPosition) => {
    if (max === undefined) {
      max = position
      return
    }
    const order = compareCursor(position.cursor, max.cursor)
    if (order > 0 || (order === 0 && compareTuple(position.key, max.key) > 0)) max = position
  }

  const compareTuple = (a: ReadonlyArray<Value>, b: ReadonlyArray<Value>): number => {
    for (let k = 0; k < a.length; k++) {
      const order = compareKeys[k]!(a[k]!, b[k]!)
      if (order !== 0) return order
    }
    return 0
  }

  return {
    cursorColumn: cursor.column,
    keyColumns,
    decode: (watermark) => decodeWatermark(watermark, cursor.column, keyColumns),
    after: (batch, since) => {
      const readers = readersOf(batch)
      const length = batch.numRows
      const selected = new Int32Array(length)
      let count = 0
      if (Option.isNone(since)) {
        for (let i = 0; i < length; i++) if (readers.cursor(i) !== null) selected[count++] = i
        return selected.slice(0, count)
      }
      raise(since.value)
      const { cursor: last, key } = since.value
      if (lookbackNanos > 0n) {
        const bound = lookbackBound(cursorType, last, lookbackNanos)
        for (let i = 0; i < length; i++) {
          const value = readers.cursor(i)
          if (value !== null && compareCursor(value, bound) > 0) selected[count++] = i
        }
        return selected.slice(0, count)
      }
      for (let i = 0; i < length; i++) {
        const value = readers.cursor(i)
        if (value === null) continue
        const order = compareCursor(value, last)
        if (order > 0 || (order === 0 && (compareRowKeys(readers.keys, i, key) ?? 0) > 0)) selected[count++] = i
      }
      return selected.slice(0, count)
    },
    track: (batch, rows) => {
      const readers = readersOf(batch)
      const length = rows === undefined ? batch.numRows : rows.length
      // The best row stays an index until the end, so that rising cursors cost no allocation.
      let bestRow = -1
      let bestCursor: Value | undefined = max?.cursor
      for (let r = 0; r < length; r++) {
        const row = rows === undefined ? r : rows[r]!
        const value = readers.cursor(row)
        if (value === null) continue
        const order = bestCursor === undefined ? 1 : compareCursor(value, bestCursor)
        if (order < 0) continue
        if (order === 0) {
          const keyOrder =
            bestRow === -1
              ? compareRowKeys(readers.keys, row, max!.key)
              : compareRowKeys(readers.keys, row, readKeys(readers.keys, bestRow))
          if (keyOrder === undefined || keyOrder <= 0) continue
        } else if (readers.keys.some((read) => read(row) === null)) {
          continue
        }
        bestRow = row
        bestCursor = value
      }
      if (bestRow !== -1) max = { cursor: bestCursor!, key: readKeys(readers.keys, bestRow) }
    },
    watermark: () =>
      max === undefined
        ? Option.none()
        : Option.some({
            cursor: formatText(cursorType, max.cursor),
            key: max.key.map((value, k) => formatText(keyColumns[k]!.type, value))
          })
  }
}
