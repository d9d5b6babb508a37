/**
 * Key reconciliation (`deletes: reconcile`): which keys the target holds that the
 * source no longer has, found without holding either side's keys in memory.
 *
 * Each side is a `KeySide`: its keys in key order, range by range. Where both sides can
 * digest a range where the keys are (a count and a sum of per-key hashes, computed by
 * the store) with the same algorithm, the whole key space is digested first; a range
 * whose digests differ is cut into `fanout` parts at quantile keys of the side holding
 * more keys, and both sides digest the parts in the next round, until a differing
 * range holds at most `streamAtMost` keys. Only those ranges are streamed from both sides and
 * merge-diffed, one batch of each side in memory at a time. Without digests on both
 * sides, the whole key space is streamed and merge-diffed, in the same bounded memory.
 *
 * Key order is the order of the canonical values (core/Values) column by column, with
 * text in Unicode code point order (the byte order of UTF-8, which SQL stores give with
 * the C collation). Both sides must stream in exactly that order, and a range is the
 * same set of keys on both sides, so the ranges of one side partition the other's
 * identically. Rows with a NULL in their key take no part.
 */
import type * as Arrow from "apache-arrow"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { Batch } from "./Batch.js"
import { makeColumnReader } from "./Batch.js"
import { takeRows } from "./Rows.js"
import type { Column, LogicalType } from "./Types.js"
import type { Value } from "./Values.js"
import { compareValues } from "./Values.js"

/** One key: a value per key column, in their canonical form. */
export type Key = ReadonlyArray<Value>

/** The keys from `lower` (inclusive) to `upper` (exclusive); an absent bound is open. */
export interface KeyRange {
  readonly lower?: Key
  readonly upper?: Key
}

/** The whole key space. */
export const ALL_KEYS: KeyRange = {}

/** What a side holds in a range: how many keys, and the exact sum of their 64-bit hashes as decimal text. */
export interface RangeDigest {
  readonly count: number
  readonly sum: string
}

export interface KeyDigests<E> {
  /**
   * The digest's algorithm: digests are compared only between sides that name the same
   * one, since a different hash or rendering of the keys gives different sums.
   */
  readonly algorithm: string
  /** The digest of each range, in the order given. */
  readonly digest: (ranges: ReadonlyArray<KeyRange>) => Effect.Effect<ReadonlyArray<RangeDigest>, E>
  /**
   * Up to `parts - 1` keys of the range, in key order, that cut it into parts of about
   * equal count (`count` is the range's on this side, from its digest). None when it
   * cannot be cut.
   */
  readonly split: (range: KeyRange, parts: number, count: number) => Effect.Effect<ReadonlyArray<Key>, E>
}

/** One side's keys. */
export interface KeySide<E> {
  /** The key columns, in key order. */
  readonly columns: ReadonlyArray<Column>
  /** The keys of the range in key order, as batches of the key columns. */
  readonly keys: (range: KeyRange) => Stream.Stream<Batch, E>
  /** Present when the store can digest ranges where the keys are. */
  readonly digests?: KeyDigests<E>
}

export interface ReconcileOptions {
  /** Parts a differing range is cut into. */
  readonly fanout?: number
  /** A differing range with at most this many keys on either side is streamed rather than cut. */
  readonly streamAtMost?: number
  /** Ranges digested per request. */
  readonly rangesPerRequest?: number
}

export const DEFAULT_FANOUT = 32
export const DEFAULT_STREAM_AT_MOST = 1_000
const DEFAULT_RANGES_PER_REQUEST = 256

/** What a reconciliation did, for progress notes and tests. */
export interface ReconcileStats {
  /** Digest rounds (0 when the key spaces were streamed whole). */
  rounds: number
  /** Ranges digested (on each side). */
  rangesDigested: number
  /** Ranges whose keys were streamed and merge-diffed. */
  rangesStreamed: number
  keysStreamed: { source: number; target: number }
  /** Target keys missing at the source. */
  missing: number
}

export interface Reconciliation<E> {
  /** The target's keys missing at the source, as batches of the key columns; pulling it does the work. */
  readonly missing: Stream.Stream<Batch, E>
  /** The counters so far; final once `missing` has ended. */
  readonly stats: ReconcileStats
}

// ---- key order -----------------------------------------------------------------------

/** UTF-16 code units re-ordered so that comparing them gives code point order. */
const codePointUnit = (unit: number): number =>
  unit >= 0xd800 && unit <= 0xdfff ? unit + 0x2000 : unit >= 0xe000 ? unit - 0x800 : unit

/** Text in Unicode code point order (UTF-8 byte order), which `<` on JavaScript strings is not. */
export const compareCodePoints = (a: string, b: string): number => {
  const length = Math.min(a.length, b.length)
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) return codePointUnit(x) - codePointUnit(y)
  }
  return a.length - b.length
}

type Compare = (a: Value, b: Value) => number

const comparatorFor = (type: LogicalType): Compare =>
  type.kind === "utf8" ? (a, b) => compareCodePoints(a as string, b as string) : (a, b) => compareValues(type, a, b)

/** Compares two keys in key order. */
export const keyOrder = (columns: ReadonlyArray<Column>): ((a: Key, b: Key) => number) => {
  const compare = columns.map((column) => comparatorFor(column.type))
  return (a, b) => {
    for (let k = 0; k < compare.length; k++) {
      const order = compare[k]!(a[k]!, b[k]!)
      if (order !== 0) return order
    }
    return 0
  }
}

// ---- merge-diff ------------------------------------------------------------------------

/** A batch being walked row by row. */
interface Walk {
  readonly batch: Batch
  readonly read: ReadonlyArray<(row: number) => Value | null>
  row: number
}

const walk = (columns: ReadonlyArray<Column>, batch: Batch): Walk => ({
  batch,
  read: columns.map((column, k) => makeColumnReader(column.type, batch.data.children[k] as Arrow.Data)),
  row: 0
})

const hasNull = (at: Walk, row: number): boolean => at.read.some((read) => read(row) === null)

/** The non-empty batches of a pull, one at a time, `undefined` at its end; `count` is told each batch's rows. */
const batches = <E>(
  pull: Effect.Effect<Chunk.Chunk<Batch>, Option.Option<E>>,
  count: (rows: number) => void
): Effect.Effect<Batch | undefined, E> => {
  const buffered: Array<Batch> = []
  return Effect.gen(function* () {
    while (buffered.length === 0) {
      const chunk = yield* Effect.catchAll(pull, (end) =>
        Option.match(end, { onNone: () => Effect.succeed(undefined), onSome: (error) => Effect.fail(error) })
      )
      if (chunk === undefined) return undefined
      for (const batch of Chunk.toReadonlyArray(chunk)) {
        if (batch.numRows === 0) continue
        count(batch.numRows)
        buffered.push(batch)
      }
    }
    return buffered.shift()
  })
}

/**
 * The target keys of one range that the source lacks, pulling one batch of each side
 * at a time. A target key equal to the current source key is present; the source
 * advances only past keys below the target's, so a key the target holds twice is
 * matched twice, and the source is read no further than the target's last key.
 */
const mergeDiff = <E>(
  columns: ReadonlyArray<Column>,
  source: Stream.Stream<Batch, E>,
  target: Stream.Stream<Batch, E>,
  stats: ReconcileStats
): Stream.Stream<Batch, E> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const pullSource = yield* Stream.toPull(source)
      const pullTarget = yield* Stream.toPull(target)
      const compare = columns.map((column) => comparatorFor(column.type))
      let current: Walk | undefined
      let sourceEnded = false
      const nextSource = batches(pullSource, (rows) => (stats.keysStreamed.source += rows))
      const nextTarget = batches(pullTarget, (rows) => (stats.keysStreamed.target += rows))

      /** Moves to the source's next batch, or marks its end. */
      const loadSource = Effect.map(nextSource, (batch) => {
        if (batch === undefined) sourceEnded = true
        current = batch === undefined ? undefined : walk(columns, batch)
      })

      const orderAgainst = (at: Walk, target: Walk, row: number): number => {
        for (let k = 0; k < compare.length; k++) {
          const order = compare[k]!(at.read[k]!(at.row)!, target.read[k]!(row)!)
          if (order !== 0) return order
        }
        return 0
      }

      /** The missing keys of the next target batch (possibly none), or None at the target's end. */
      const step: Effect.Effect<Batch, Option.Option<E>> = Effect.gen(function* () {
        const batch = yield* Effect.mapError(nextTarget, Option.some)
        if (batch === undefined) return yield* Effect.fail(Option.none())
        const target = walk(columns, batch)
        const missing = new Int32Array(batch.numRows)
        let count = 0
        for (let row = 0; row < batch.numRows; row++) {
          if (hasNull(target, row)) continue
          // The source moves past keys below this one; only a used-up batch needs the next.
          let order = 1
          for (;;) {
            if (current === undefined || current.row >= current.batch.numRows) {
              if (sourceEnded) break
              yield* Effect.mapError(loadSource, Option.some)
              continue
            }
            if (hasNull(current, current.row)) {
              current.row++
              continue
            }
            order = orderAgainst(current, target, row)
            if (order >= 0) break
            current.row++
          }
          if (order !== 0) missing[count++] = row
        }
        stats.missing += count
        return takeRows(batch, columns, missing.subarray(0, count))
      })

      return Stream.repeatEffectOption(step).pipe(Stream.filter((batch) => batch.numRows > 0))
    })
  )

// ---- digest rounds -----------------------------------------------------------------------

const sameDigest = (a: RangeDigest, b: RangeDigest): boolean => a.count === b.count && a.sum === b.sum

const digestAll = <E>(digests: KeyDigests<E>, ranges: ReadonlyArray<KeyRange>, perRequest: number) =>
  Effect.map(
    Effect.forEach(
      Array.from({ length: Math.ceil(ranges.length / perRequest) }, (_, i) =>
        ranges.slice(i * perRequest, (i + 1) * perRequest)
      ),
      (chunk) => digests.digest(chunk)
    ),
    (parts) => parts.flat()
  )

/** True when the keys rise strictly and lie inside the range, above its lower bound. */
const isAscending = (order: (a: Key, b: Key) => number, keys: ReadonlyArray<Key>, range: KeyRange): boolean =>
  keys.every(
    (key, i) =>
      (i === 0 ? range.lower === undefined || order(range.lower, key) < 0 : order(keys[i - 1]!, key) < 0) &&
      (range.upper === undefined || order(key, range.upper) < 0)
  )

/** The parts of `range` between its cut keys, in key order. */
const parts = (range: KeyRange, keys: ReadonlyArray<Key>): ReadonlyArray<KeyRange> =>
  [...keys, undefined].map((upper, i) => {
    const lower = i === 0 ? range.lower : keys[i - 1]
    const end = upper ?? range.upper
    return { ...(lower === undefined ? {} : { lower }), ...(end === undefined ? {} : { upper: end }) }
  })

/**
 * The ranges whose keys must be streamed, found round by round: each round digests
 * the pending ranges on both sides; a range whose digests differ is streamed when
 * small, and otherwise cut at quantile keys of the side holding more of its keys, its
 * parts pending for the next round.
 */
const narrow = <E>(
  source: KeyDigests<E>,
  target: KeyDigests<E>,
  options: Required<ReconcileOptions>,
  stats: ReconcileStats,
  order: (a: Key, b: Key) => number
): Effect.Effect<ReadonlyArray<KeyRange>, E> =>
  Effect.gen(function* () {
    const streamed: Array<KeyRange> = []
    let pending: ReadonlyArray<KeyRange> = [ALL_KEYS]
    while (pending.length > 0) {
      stats.rounds++
      stats.rangesDigested += pending.length
      const [atSource, atTarget] = yield* Effect.all(
        [digestAll(source, pending, options.rangesPerRequest), digestAll(target, pending, options.rangesPerRequest)],
        { concurrency: 2 }
      )
      const next: Array<KeyRange> = []
      yield* Effect.forEach(
        pending,
        (range, i) =>
          Effect.gen(function* () {
            const sourceDigest = atSource[i]!
            const targetDigest = atTarget[i]!
            // A range the target does not hold has nothing to delete.
            if (targetDigest.count === 0 || sameDigest(sourceDigest, targetDigest)) return
            const count = Math.max(sourceDigest.count, targetDigest.count)
            if (count <= options.streamAtMost) {
              streamed.push(range)
              return
            }
            const splitter = sourceDigest.count >= targetDigest.count ? source : target
            const keys = yield* splitter.split(range, options.fanout, count)
            // Cut keys out of order or outside the range would lose keys between the parts.
            if (keys.length === 0 || !isAscending(order, keys, range)) streamed.push(range)
            else next.push(...parts(range, keys))
          }),
        { concurrency: 4, discard: true }
      )
      pending = next
    }
    return streamed.sort((a, b) => (a.lower === undefined ? -1 : b.lower === undefined ? 1 : order(a.lower, b.lower)))
  })

/**
 * Finds the target keys missing at the source. Both sides must have the same key
 * columns (names and types); the caller checks.
 */
export const reconcile = <E>(
  source: KeySide<E>,
  target: KeySide<E>,
  options: ReconcileOptions = {}
): Reconciliation<E> => {
  const settings: Required<ReconcileOptions> = {
    fanout: Math.max(2, options.fanout ?? DEFAULT_FANOUT),
    streamAtMost: Math.max(1, options.streamAtMost ?? DEFAULT_STREAM_AT_MOST),
    rangesPerRequest: Math.max(1, options.rangesPerRequest ?? DEFAULT_RANGES_PER_REQUEST)
  }
  const stats: ReconcileStats = {
    rounds: 0,
    rangesDigested: 0,
    rangesStreamed: 0,
    keysStreamed: { source: 0, target: 0 },
    missing: 0
  }
  const columns = source.columns
  const order = keyOrder(columns)
  const diffRange = (range: KeyRange) =>
    Stream.suspend(() => {
      stats.rangesStreamed++
      return mergeDiff(columns, source.keys(range), target.keys(range), stats)
    })

  const digests =
    source.digests !== undefined &&
    target.digests !== undefined &&
    source.digests.algorithm === target.digests.algorithm
      ? { source: source.digests, target: target.digests }
      : undefined
  const missing =
    digests === undefined
      ? diffRange(ALL_KEYS)
      : Stream.unwrap(
          Effect.map(narrow(digests.source, digests.target, settings, stats, order), (ranges) =>
            Stream.flatMap(Stream.fromIterable(ranges), diffRange)
          )
        )
  return { missing, stats }
}
