import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import type { LogicalType } from "../../core/Types.js"
import { daysFromCivil, formatText, formatTimestamp, parseText, parseTimestamp } from "../../core/Values.js"

const parsed = (type: LogicalType, text: string) => Either.getOrUndefined(parseText(type, text))
const refused = (type: LogicalType, text: string) => Either.isLeft(parseText(type, text))

describe("Values text forms", () => {
  it("reads and writes timestamps exactly around the epoch and at the ends of their range", () => {
    const cases: ReadonlyArray<[bigint, "s" | "ms" | "us" | "ns", string]> = [
      [-1n, "us", "1969-12-31T23:59:59.999999"],
      [-1_000_000n, "us", "1969-12-31T23:59:59"],
      [-999_999n, "us", "1969-12-31T23:59:59.000001"],
      [0n, "ns", "1970-01-01T00:00:00"],
      [2n ** 63n - 1n, "ns", "2262-04-11T23:47:16.854775807"],
      [-(2n ** 63n), "ns", "1677-09-21T00:12:43.145224192"],
      [253_402_300_799_999_999n, "us", "9999-12-31T23:59:59.999999"],
      [-62_135_596_800_000n, "ms", "0001-01-01T00:00:00"],
      [9_007_199_254_740_993n, "us", "2255-06-05T23:47:34.740993"]
    ]
    for (const [value, unit, text] of cases) {
      expect(formatTimestamp(value, unit, false)).toBe(text)
      expect(Either.getOrUndefined(parseTimestamp(text, unit, false))).toBe(value)
    }
  })

  it("applies offsets, refuses them on naive timestamps, and refuses digits the unit drops", () => {
    const zoned: LogicalType = { kind: "timestamp", unit: "us", timeZone: "UTC" }
    const naive: LogicalType = { kind: "timestamp", unit: "us", timeZone: null }
    expect(parsed(zoned, "2024-02-29T10:00:00+02:00")).toBe(1_709_193_600_000_000n)
    expect(parsed(zoned, "2024-02-29 08:00:00Z")).toBe(1_709_193_600_000_000n)
    expect(refused(naive, "2024-02-29T10:00:00+02:00")).toBe(true)
    expect(refused(naive, "2024-02-29T10:00:00.1234567")).toBe(true)
    expect(parsed(naive, "2024-02-29T10:00:00.1234560")).toBe(1_709_200_800_123_456n)
    expect(refused(naive, "2023-02-29T10:00:00")).toBe(true)
    expect(refused({ kind: "timestamp", unit: "ns", timeZone: null }, "2263-01-01T00:00:00")).toBe(true)
    expect(formatText(zoned, 1_709_193_600_000_000n)).toBe("2024-02-29T08:00:00Z")
  })

  it("reads plain and scientific decimals exactly, within precision and scale", () => {
    const decimal: LogicalType = { kind: "decimal", precision: 12, scale: 2 }
    expect(parsed(decimal, "12.5")).toBe(1250n)
    expect(parsed(decimal, "-0.05")).toBe(-5n)
    expect(parsed(decimal, "0009999999999.99")).toBe(999_999_999_999n)
    expect(parsed(decimal, "1.25e2")).toBe(12_500n)
    expect(refused(decimal, "10000000000.00")).toBe(true)
    expect(refused(decimal, "1.234")).toBe(true)
    expect(parsed(decimal, "1.230")).toBe(123n)
    const wide: LogicalType = { kind: "decimal", precision: 38, scale: 10 }
    expect(parsed(wide, "9999999999999999999999999999.9999999999")).toBe(10n ** 38n - 1n)
    expect(refused(wide, "10000000000000000000000000000")).toBe(true)
    expect(parsed({ kind: "decimal", precision: 3, scale: 3 }, "0.999")).toBe(999n)
  })

  it("reads int64 at its limits and dates by the calendar", () => {
    expect(parsed({ kind: "int64" }, "-9223372036854775808")).toBe(-(2n ** 63n))
    expect(refused({ kind: "int64" }, "9223372036854775808")).toBe(true)
    expect(parsed({ kind: "int64" }, " 42 ")).toBe(42n)
    expect(parsed({ kind: "date" }, "2000-02-29")).toBe(daysFromCivil(2000, 2, 29))
    expect(refused({ kind: "date" }, "1900-02-29")).toBe(true)
    expect(formatText({ kind: "date" }, daysFromCivil(-44, 3, 15))).toBe("-0044-03-15")
    expect(formatText({ kind: "time", unit: "us" }, 86_399_999_999n)).toBe("23:59:59.999999")
  })
})
