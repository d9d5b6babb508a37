import { describe, expect, it } from "vitest"
import { formatBytes, formatCount } from "../../runtime/Progress.js"

describe("formatCount", () => {
  it("groups thousands as en-US does", () => {
    const samples = [0, 1, 12, 999, 1000, 1001, 65_536, 999_999, 1_000_000, 2_000_000, 498_256, 123_456_789_012]
    for (const n of [
      ...samples,
      ...samples.filter((value) => value > 0).map((value) => -value),
      Number.MAX_SAFE_INTEGER,
      Number.MIN_SAFE_INTEGER
    ]) {
      expect(formatCount(n)).toBe(n.toLocaleString("en-US"))
    }
  })

  it("leaves what is not a whole count to the locale's rules", () => {
    expect(formatCount(1234.5678)).toBe("1,234.568")
    expect(formatCount(2 ** 60)).toBe((2 ** 60).toLocaleString("en-US"))
  })
})

describe("formatBytes", () => {
  it("picks a binary unit", () => {
    expect(formatBytes(121)).toBe("121 B")
    expect(formatBytes(222.3 * 1024 * 1024)).toBe("222.3 MiB")
  })
})
