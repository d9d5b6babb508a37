import { describe, expect, it } from "@effect/vitest"
import { BatchBuilder, batchReaders } from "../../core/Batch.js"
import type { Column } from "../../core/Types.js"

describe("Decimal128 columns", () => {
  it("store unscaled values exactly on both sides of the double-precision fast path", () => {
    const columns: ReadonlyArray<Column> = [
      { name: "d", type: { kind: "decimal", precision: 38, scale: 4 }, nullable: true }
    ]
    const safe = BigInt(Number.MAX_SAFE_INTEGER)
    const values = [0n, 1n, -1n, 4_294_967_295n, 4_294_967_296n, -4_294_967_296n, -4_294_967_297n]
    values.push(safe, -safe, safe + 1n, -safe - 1n, 10n ** 38n - 1n, -(10n ** 38n) + 1n, -(2n ** 64n), 2n ** 96n + 7n)
    const builder = new BatchBuilder(columns)
    for (const value of values) builder.appendRow([value])
    builder.appendRow([null])
    const batch = builder.finish()
    const [read] = batchReaders(columns, batch)
    expect(Array.from({ length: batch.numRows }, (_, i) => read!(i))).toEqual([...values, null])
  })
})
