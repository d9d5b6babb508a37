import { describe, expect, it } from "@effect/vitest"
import { checkCron } from "../../config/internal/Cron.js"

describe("checkCron", () => {
  it("accepts five well-formed fields", () => {
    for (const expression of [
      "15 * * * *",
      "0 2 * * 1-5",
      "*/10 0-6,18-23 1 jan-mar sun",
      "0 0 31 12 7",
      "5,10 */2 * * *"
    ]) {
      expect(checkCron(expression)).toBeUndefined()
    }
  })

  it("says which field is wrong and why", () => {
    expect(checkCron("* * * *")).toBe("expected 5 fields (minute hour day-of-month month day-of-week), got 4")
    expect(checkCron("60 * * * *")).toBe('minute field: "60" is not a minute (0-59)')
    expect(checkCron("0 24 * * *")).toBe('hour field: "24" is not an hour (0-23)')
    expect(checkCron("0 0 0 * *")).toBe('day of month field: "0" is not a day of month (1-31)')
    expect(checkCron("0 0 * foo *")).toBe('month field: "foo" is not a month (1-12)')
    expect(checkCron("0 0 * * 5-1")).toBe('day of week field: range "5-1" runs backwards')
    expect(checkCron("*/0 * * * *")).toBe('minute field: step "0" is not a positive number')
  })
})
