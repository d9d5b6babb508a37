/**
 * Key reconciliation over two in-memory key sides: the keys it reports missing are
 * exactly the target's keys the source lacks, with digests (over many rounds) and
 * without, and with digests it streams only the ranges that differ.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import type { Key, KeyRange, KeySide, RangeDigest } from "../../core/Reconcile.js"
import { compareCodePoints, keyOrder, reconcile } from "../../core/Reconcile.js"
import type { Column } from "../../core/Types.js"
import type { Value } from "../../core/Values.js"
import { formatText } from "../../core/Values.js"
import { batchOf, collect, column, rowsOf } from "../conformance/Tables.js"

/** A deterministic pseudo-random sequence, so that a failure can be replayed. */
const random = (seed: number) => () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
  return seed / 2_147_483_648
}

const hash64 = (text: string): bigint => createHash("sha256").update(text).digest().readBigInt64BE(0)

interface MemoryOptions {
  readonly digests?: boolean
  readonly algorithm?: string
  readonly batchRows?: number
}

/** A side holding `keys` (any order, repeats allowed), answering as a store would. */
const memorySide = (
  columns: ReadonlyArray<Column>,
  keys: ReadonlyArray<Key>,
  options: MemoryOptions = {}
): KeySide<never> & { readonly calls: { digest: number; split: number } } => {
  const order = keyOrder(columns)
  const sorted = [...keys].sort(order)
  const inRange = (range: KeyRange) =>
    sorted.filter(
      (key) =>
        (range.lower === undefined || order(key, range.lower) >= 0) &&
        (range.upper === undefined || order(key, range.upper) < 0)
    )
  const calls = { digest: 0, split: 0 }
  const text = (key: Key) => JSON.stringify(key.map((value, k) => formatText(columns[k]!.type, value)))
  const batchRows = options.batchRows ?? 7
  return {
    columns,
    calls,
    keys: (range) => {
      const found = inRange(range)
      return Stream.fromIterable(
        Array.from({ length: Math.ceil(found.length / batchRows) }, (_, i) =>
          batchOf(columns, found.slice(i * batchRows, (i + 1) * batchRows))
        )
      )
    },
    ...(options.digests === false
      ? {}
      : {
          digests: {
            algorithm: options.algorithm ?? "memory sha256",
            digest: (ranges) =>
              Effect.sync(() => {
                calls.digest++
                return ranges.map((range): RangeDigest => {
                  const found = inRange(range)
                  return {
                    count: found.length,
                    sum: found.reduce((sum, key) => sum + hash64(text(key)), 0n).toString()
                  }
                })
              }),
            split: (range, parts, count) =>
              Effect.sync(() => {
                calls.split++
                const step = Math.ceil(count / parts)
                return inRange(range).filter((_, i) => i > 0 && i % step === 0)
              })
          }
        })
  }
}

const ids = [column("id", { kind: "int64" })]
const idKeys = (values: Iterable<number>): Array<Key> => [...values].map((value) => [BigInt(value)])

const missingOf = <E>(source: KeySide<E>, target: KeySide<E>, options = {}) =>
  Effect.gen(function* () {
    const reconciliation = reconcile(source, target, options)
    const batches = yield* collect(reconciliation.missing)
    const keys = rowsOf(source.columns, batches).map((row) => JSON.stringify(row.map(String)))
    return { keys, stats: reconciliation.stats }
  })

const asText = (keys: ReadonlyArray<Key>) => keys.map((key) => JSON.stringify(key.map(String)))

describe("reconcile", () => {
  it.effect("finds exactly the target's keys the source lacks, with digests over several rounds", () =>
    Effect.gen(function* () {
      const next = random(7)
      const all = Array.from({ length: 5000 }, (_, i) => i * 3)
      const deleted = new Set(all.filter(() => next() < 0.004))
      const inserted = Array.from({ length: 20 }, () => Math.floor(next() * 15000) * 3 + 1)
      const target = memorySide(ids, idKeys(all))
      const source = memorySide(ids, idKeys([...all.filter((id) => !deleted.has(id)), ...inserted]))
      const { keys, stats } = yield* missingOf(source, target, { fanout: 8, streamAtMost: 40 })
      expect(keys.sort()).toEqual(asText(idKeys([...deleted])).sort())
      expect(deleted.size).toBeGreaterThan(5)
      expect(stats.rounds).toBeGreaterThanOrEqual(3)
      expect(stats.missing).toBe(deleted.size)
      // Only ranges around the differences were streamed.
      expect(stats.keysStreamed.target).toBeLessThan(all.length / 5)
    })
  )

  it.effect("streams both sides whole when either has no digests, or their algorithms differ", () =>
    Effect.gen(function* () {
      const all = idKeys(Array.from({ length: 300 }, (_, i) => i))
      const source = all.filter((_, i) => i % 50 !== 0)
      for (const [sourceOptions, targetOptions] of [
        [{ digests: false }, {}],
        [{}, { digests: false }],
        [{ algorithm: "a" }, { algorithm: "b" }]
      ] as const) {
        const { keys, stats } = yield* missingOf(
          memorySide(ids, source, sourceOptions),
          memorySide(ids, all, targetOptions)
        )
        expect(keys).toEqual(asText(all.filter((_, i) => i % 50 === 0)))
        expect(stats.rounds).toBe(0)
        expect(stats.keysStreamed).toEqual({ source: source.length, target: all.length })
      }
    })
  )

  it.effect("tells a range with one key deleted and another inserted (equal counts) by its digest", () =>
    Effect.gen(function* () {
      const target = memorySide(ids, idKeys([1, 2, 3, 4, 5, 6, 7, 8]))
      const source = memorySide(ids, idKeys([1, 2, 3, 5, 6, 7, 8, 9]))
      const { keys, stats } = yield* missingOf(source, target, { fanout: 2, streamAtMost: 2 })
      expect(keys).toEqual(asText(idKeys([4])))
      expect(stats.rounds).toBeGreaterThan(1)
    })
  )

  it.effect("does nothing but digest when nothing was deleted", () =>
    Effect.gen(function* () {
      const keys = idKeys(Array.from({ length: 1000 }, (_, i) => i))
      const { keys: missing, stats } = yield* missingOf(memorySide(ids, keys), memorySide(ids, keys))
      expect(missing).toEqual([])
      expect(stats).toMatchObject({
        rounds: 1,
        rangesDigested: 1,
        rangesStreamed: 0,
        keysStreamed: { source: 0, target: 0 }
      })
    })
  )

  it.effect("compares composite keys of mixed types, text in code point order", () =>
    Effect.gen(function* () {
      const columns = [column("region", { kind: "utf8" }), column("id", { kind: "int32" })]
      const regions = ["a", "B", "é", "z", "\u{1F680}", "\uFF21", "a b", ""]
      const all: Array<Key> = regions.flatMap((region) => [1, 2, 3].map((id): Key => [region, id]))
      const gone = new Set(["\u{1F680}/2", "\uFF21/1", "/3", "B/1"])
      const source = all.filter(([region, id]) => !gone.has(`${String(region)}/${String(id)}`))
      for (const digests of [true, false]) {
        const { keys } = yield* missingOf(
          memorySide(columns, source, { digests, batchRows: 2 }),
          memorySide(columns, all, { digests, batchRows: 3 }),
          { fanout: 2, streamAtMost: 3 }
        )
        expect(keys.sort()).toEqual(
          asText(all.filter(([region, id]) => gone.has(`${String(region)}/${String(id)}`))).sort()
        )
      }
    })
  )

  it.effect("keeps a key the target holds twice when the source has it, and skips keys with a NULL", () =>
    Effect.gen(function* () {
      const columns = [column("a", { kind: "int32" }), column("b", { kind: "int32" })]
      const target: Array<ReadonlyArray<Value>> = [
        [1, 1],
        [1, 1],
        [2, 2],
        [3, 3]
      ]
      const withNull = [...target, [4, null as unknown as Value]]
      const { keys } = yield* missingOf(
        memorySide(
          columns,
          [
            [1, 1],
            [3, 3]
          ],
          { digests: false }
        ),
        memorySide(columns, withNull, { digests: false })
      )
      expect(keys).toEqual(['["2","2"]'])
    })
  )
})

describe("compareCodePoints", () => {
  it("orders strings as their UTF-8 bytes do", () => {
    const next = random(3)
    const pool = ["a", "z", "é", "\uD7FF", "\uE000", "\uFFFF", "\u{10000}", "\u{1F680}", "\u{10FFFF}", "", "A"]
    const strings = Array.from({ length: 400 }, () =>
      Array.from({ length: Math.floor(next() * 4) }, () => pool[Math.floor(next() * pool.length)]).join("")
    )
    const byBytes = [...strings].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    expect([...strings].sort(compareCodePoints)).toEqual(byBytes)
    // JavaScript's own order differs for characters above U+FFFF against U+E000–U+FFFF.
    expect(["\u{1F680}", "\uFFFF"].sort()).toEqual(["\u{1F680}", "\uFFFF"])
    expect(["\u{1F680}", "\uFFFF"].sort(compareCodePoints)).toEqual(["\uFFFF", "\u{1F680}"])
  })
})
