import { describe, expect, it } from "@effect/vitest"
import { checkCron, cronOfSchedule, nextCronTime, previousCronTime } from "../../config/internal/Cron.js"

describe("checkCron", () => {
  it("accepts five well-formed fields", () => {
    for (const expression of [
      "15 * * * *",
      "0 2 * * 1-5",
      "*/10 0-6,18-23 1 jan-mar sun",
      "0 0 31 12 7",
      "5,10 */2 * * *",
      "0 0 L * *",
      "0 6 * * mon#1"
    ]) {
      expect(checkCron(expression)).toBeUndefined()
    }
  })

  it("says which field is wrong and why", () => {
    expect(checkCron("* * * *")).toBe("expected 5 fields (minute hour day-of-month month day-of-week), got 4")
    expect(checkCron("@daily")).toBe("expected 5 fields (minute hour day-of-month month day-of-week), got 1")
    expect(checkCron("0 0 * * * *")).toBe("expected 5 fields (minute hour day-of-month month day-of-week), got 6")
    expect(checkCron("60 * * * *")).toBe('minute field: "60" is not a minute (0-59)')
    expect(checkCron("0 24 * * *")).toBe('hour field: "24" is not an hour (0-23)')
    expect(checkCron("0 0 0 * *")).toBe('day of month field: "0" is not a day of month (1-31)')
    expect(checkCron("0 0 * foo *")).toBe('month field: "foo" is not a month (1-12 or jan-dec)')
    expect(checkCron("0 0 * * 5-1")).toBe('day of week field: range "5-1" runs backwards')
    expect(checkCron("*/0 * * * *")).toBe('minute field: step "0" is not a positive number')
    expect(checkCron("1/5 * * * *")).toBe('minute field: "1/5": a step follows * or a range, such as */5 or 0-30/5')
    expect(checkCron("0 1,25 * * *")).toBe('hour field: "25" is not an hour (0-23)')
    expect(checkCron("0 0 30 2 *")).toBe("it never matches a date (such as 30 February)")
  })
})

describe("nextCronTime", () => {
  it("is the next matching minute after the given time, in UTC, as validation reads the expression", () => {
    const at = new Date("2026-03-02T10:20:00Z")
    expect(nextCronTime("15 * * * *", at)).toEqual(new Date("2026-03-02T11:15:00Z"))
    expect(nextCronTime("0 2 * * *", at)).toEqual(new Date("2026-03-03T02:00:00Z"))
    expect(nextCronTime("*/10 * * * *", at)).toEqual(new Date("2026-03-02T10:30:00Z"))
    // Day of month or day of week, as in Vixie cron: the 15th, or any Monday.
    expect(nextCronTime("0 0 15 * mon", at)).toEqual(new Date("2026-03-09T00:00:00Z"))
    expect(nextCronTime("not cron", at)).toBeUndefined()
  })
})

describe("cronOfSchedule and previousCronTime", () => {
  it("writes every: hour | day with at as cron, and keeps cron text", () => {
    expect(cronOfSchedule({ every: "hour", at: "00:15" })).toBe("15 * * * *")
    expect(cronOfSchedule({ every: "day", at: "02:30" })).toBe("30 2 * * *")
    expect(cronOfSchedule({ every: "day" })).toBe("0 0 * * *")
    expect(cronOfSchedule({ cron: " 0  6 * * mon " })).toBe("0 6 * * mon")
  })

  it("finds the last matching time at or before an instant", () => {
    expect(previousCronTime("0 * * * *", new Date("2026-03-02T10:07:00Z"))).toEqual(new Date("2026-03-02T10:00:00Z"))
    expect(previousCronTime("0 * * * *", new Date("2026-03-02T10:00:00Z"))).toEqual(new Date("2026-03-02T10:00:00Z"))
  })
})
