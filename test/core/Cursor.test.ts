import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { describe, expect, it } from "vitest"
import type { Batch } from "../../core/Batch.js"
import { BatchBuilder } from "../../core/Batch.js"
import type { Cursor } from "../../core/Cursor.js"
import { decodeWatermark, makeCursor } from "../../core/Cursor.js"
import type { IncrementalSpec } from "../../core/Source.js"
import type { Column, LogicalType } from "../../core/Types.js"
import type { Value } from "../../core/Values.js"
import { parseText } from "../../core/Values.js"

const spec = (cursor: string, key: ReadonlyArray<string>, lookback?: Duration.DurationInput): IncrementalSpec => ({
  cursor,
  key,
  lookback: lookback === undefined ? Option.none() : Option.some(Duration.decode(lookback))
})

const column = (name: string, type: LogicalType): Column => ({ name, type, nullable: true })

const batchOf = (columns: ReadonlyArray<Column>, rows: ReadonlyArray<ReadonlyArray<Value | null>>): Batch => {
  const builder = new BatchBuilder(columns)
  for (const row of rows) builder.appendRow(row)
  return builder.finish()
}

const cursorOf = (incremental: IncrementalSpec, columns: ReadonlyArray<Column>): Cursor =>
  Either.getOrThrow(makeCursor(incremental, columns))

const text = (type: LogicalType, value: string): Value => Either.getOrThrow(parseText(type, value))

describe("makeCursor", () => {
  const columns = [
    column("id", { kind: "int64" }),
    column("updated", { kind: "timestamp", unit: "us", timeZone: "UTC" }),
    column("day", { kind: "date" }),
    column("flag", { kind: "bool" }),
    column("blob", { kind: "binary" }),
    column("doc", { kind: "json" }),
    column("tags", { kind: "list", element: { kind: "int32" } }),
    column("uid", { kind: "uuid" }),
    column("name", { kind: "utf8" })
  ]
  const make = (incremental: IncrementalSpec) => Either.map(makeCursor(incremental, columns), () => "ok")

  it("accepts orderable cursors and keys", () => {
    expect(make(spec("updated", ["id"], "5 minutes"))).toEqual(Either.right("ok"))
    expect(make(spec("day", ["uid", "name"], "1 day"))).toEqual(Either.right("ok"))
    expect(make(spec("name", []))).toEqual(Either.right("ok"))
    expect(make(spec("id", ["uid"]))).toEqual(Either.right("ok"))
  })

  it("refuses what cannot order rows, naming the column", () => {
    for (const name of ["flag", "blob", "doc", "tags"]) {
      expect(make(spec(name, ["id"]))).toEqual(
        Either.left(expect.stringMatching(new RegExp(`^the cursor column ${name} is .*, which cannot order rows`)))
      )
    }
    expect(make(spec("uid", ["id"]))).toEqual(Either.left(expect.stringMatching(/cursor column uid is uuid/)))
    expect(make(spec("updated", ["flag"]))).toEqual(Either.left(expect.stringMatching(/key column flag is bool/)))
    expect(make(spec("missing", ["id"]))).toEqual(Either.left("the cursor column missing is not in the dataset"))
    expect(make(spec("id", ["missing"]))).toEqual(Either.left("the key column missing is not in the dataset"))
  })

  it("refuses a lookback on a cursor that is not a date or timestamp", () => {
    expect(make(spec("id", [], "5 minutes"))).toEqual(
      Either.left("lookback needs a date or timestamp cursor, but the cursor column id is int64; remove the lookback")
    )
    expect(make(spec("updated", [], Duration.infinity))).toEqual(Either.left("lookback must be a finite duration"))
  })
})

describe("cursor.after and cursor.track", () => {
  const columns = [
    column("version", { kind: "int32" }),
    column("id", { kind: "int64" }),
    column("note", { kind: "utf8" })
  ]
  /** 1000 rows in (version, id) order, in runs of 37 rows sharing a version. */
  const rows = Array.from({ length: 1000 }, (_, i): Array<Value | null> => [Math.floor(i / 37), BigInt(i), `row ${i}`])
  const pages = Array.from({ length: 20 }, (_, p) => batchOf(columns, rows.slice(p * 50, p * 50 + 50)))
  const ids = (batch: Batch, indices: Int32Array) =>
    [...indices].map((i) => Number(batch.data.children[1]!.values[i] as bigint))

  it("resumes after any page without losing or repeating a row, inside runs of equal cursor values", () => {
    for (let committed = 1; committed < pages.length; committed++) {
      // A first run delivers pages in order and commits after page `committed`, cutting a run of equal versions.
      const first = cursorOf(spec("version", ["id"]), columns)
      const delivered: Array<number> = []
      for (const page of pages.slice(0, committed)) {
        const selected = first.after(page, Option.none())
        first.track(page, selected)
        delivered.push(...ids(page, selected))
      }
      const watermark = Option.getOrThrow(first.watermark())
      // The next run reads everything again and keeps what comes after the stored watermark.
      const next = cursorOf(spec("version", ["id"]), columns)
      const since = Option.some(Either.getOrThrow(next.decode(watermark)))
      for (const page of pages) {
        const selected = next.after(page, since)
        next.track(page, selected)
        delivered.push(...ids(page, selected))
      }
      expect(delivered).toEqual(rows.map((_, i) => i))
      expect(next.watermark()).toEqual(Option.some({ cursor: "27", key: ["999"] }))
    }
  })

  it("delivers each row once over runs on unordered files, tracking the maximum over a whole pass", () => {
    const shuffled = [...rows].sort((a, b) => ((Number(a[1]) * 7919) % 1000) - ((Number(b[1]) * 7919) % 1000))
    const delivered = new Map<number, number>()
    let stored: Option.Option<{ cursor: string; key: ReadonlyArray<string> }> = Option.none()
    // Three runs, each seeing the rows that exist by then: 400, then 700, then all of them.
    for (const visible of [400, 700, 1000]) {
      const present = shuffled.filter((row) => Number(row[1]) < visible)
      const run = cursorOf(spec("version", ["id"]), columns)
      const since = Option.map(stored, (watermark) => Either.getOrThrow(run.decode(watermark)))
      for (let start = 0; start < present.length; start += 64) {
        const page = batchOf(columns, present.slice(start, start + 64))
        const selected = run.after(page, since)
        run.track(page, selected)
        for (const id of ids(page, selected)) delivered.set(id, (delivered.get(id) ?? 0) + 1)
      }
      stored = run.watermark()
    }
    expect([...delivered.keys()].sort((a, b) => a - b)).toEqual(rows.map((_, i) => i))
    expect([...delivered.values()].every((count) => count === 1)).toBe(true)
  })

  it("orders by every key column in turn", () => {
    const keyed = [column("at", { kind: "date" }), column("region", { kind: "utf8" }), column("n", { kind: "int32" })]
    const cursor = cursorOf(spec("at", ["region", "n"]), keyed)
    const batch = batchOf(keyed, [
      [10, "EU", 5],
      [10, "EU", 6],
      [10, "EU", 4],
      [10, "US", 1],
      [10, "AP", 9],
      [9, "ZZ", 99],
      [11, "AA", 0]
    ])
    const since = Option.some(Either.getOrThrow(cursor.decode({ cursor: "1970-01-11", key: ["EU", "5"] })))
    expect([...cursor.after(batch, since)]).toEqual([1, 3, 6])
    const fresh = cursorOf(spec("at", ["region", "n"]), keyed)
    fresh.track(batch, Int32Array.of(0, 1, 2, 3, 4, 5))
    expect(fresh.watermark()).toEqual(Option.some({ cursor: "1970-01-11", key: ["US", "1"] }))
  })

  it("never delivers a row with a NULL cursor, and never makes a NULL key the watermark", () => {
    const cursor = cursorOf(spec("version", ["id"]), columns)
    const batch = batchOf(columns, [
      [null, 1n, "no cursor"],
      [5, 2n, "a"],
      [5, null, "null key"],
      [6, null, "null key, newest"],
      [null, 9n, "no cursor"]
    ])
    expect([...cursor.after(batch, Option.none())]).toEqual([1, 2, 3])
    const since = Option.some(Either.getOrThrow(cursor.decode({ cursor: "5", key: ["2"] })))
    // (5, NULL) compares as unknown with (5, 2); (6, NULL) is after it whatever its key.
    expect([...cursor.after(batch, since)]).toEqual([3])
    const fresh = cursorOf(spec("version", ["id"]), columns)
    fresh.track(batch)
    expect(fresh.watermark()).toEqual(Option.some({ cursor: "5", key: ["2"] }))
  })

  it("keeps the watermark it started from when a run finds nothing newer", () => {
    const cursor = cursorOf(spec("version", ["id"]), columns)
    const since = Option.some(Either.getOrThrow(cursor.decode({ cursor: "30", key: ["0"] })))
    for (const page of pages) cursor.track(page, cursor.after(page, since))
    expect(cursor.watermark()).toEqual(Option.some({ cursor: "30", key: ["0"] }))
    expect(cursorOf(spec("version", ["id"]), columns).watermark()).toEqual(Option.none())
  })
})

describe("lookback", () => {
  const timestampType: LogicalType = { kind: "timestamp", unit: "us", timeZone: "UTC" }
  const columns = [column("updated", timestampType), column("id", { kind: "int32" })]
  const at = (value: string) => text(timestampType, value)

  it("re-reads rows whose cursor is within the window before the watermark, whatever their key", () => {
    const cursor = cursorOf(spec("updated", ["id"], "5 minutes"), columns)
    const batch = batchOf(columns, [
      [at("2024-01-01T11:55:00Z"), 1],
      [at("2024-01-01T11:55:00.000001Z"), 2],
      [at("2024-01-01T12:00:00Z"), 1],
      [at("2024-01-01T12:00:00Z"), 9],
      [at("2024-01-01T12:00:01Z"), 3],
      [at("2024-01-01T11:00:00Z"), 4]
    ])
    const since = Option.some(Either.getOrThrow(cursor.decode({ cursor: "2024-01-01T12:00:00Z", key: ["5"] })))
    expect([...cursor.after(batch, since)]).toEqual([1, 2, 3, 4])
    // Re-read rows never move the watermark back.
    cursor.track(batch, Int32Array.of(1, 2))
    expect(cursor.watermark()).toEqual(Option.some({ cursor: "2024-01-01T12:00:00Z", key: ["5"] }))
    cursor.track(batch, Int32Array.of(3, 4))
    expect(cursor.watermark()).toEqual(Option.some({ cursor: "2024-01-01T12:00:01Z", key: ["3"] }))
  })

  it("bounds whole units by the window: seconds and dates", () => {
    const seconds: LogicalType = { kind: "timestamp", unit: "s", timeZone: null }
    const secondsColumns = [column("at", seconds)]
    const cursor = cursorOf(spec("at", [], "1500 millis"), secondsColumns)
    const batch = batchOf(
      secondsColumns,
      [98n, 99n, 100n, 101n].map((n) => [n])
    )
    // 98 is not after 100 − 1.5 s; 99 is.
    expect([...cursor.after(batch, Option.some({ cursor: 100n, key: [] }))]).toEqual([1, 2, 3])

    const dates = [column("day", { kind: "date" })]
    const days = batchOf(dates, [[18], [19], [20], [21]])
    const position = Option.some({ cursor: 20, key: [] })
    expect([...cursorOf(spec("day", [], "1 day"), dates).after(days, position)]).toEqual([2, 3])
    expect([...cursorOf(spec("day", [], "36 hours"), dates).after(days, position)]).toEqual([1, 2, 3])
    expect([...cursorOf(spec("day", []), dates).after(days, position)]).toEqual([3])
  })

  it("works before 1970 too, where integer division would round the wrong way", () => {
    const millis: LogicalType = { kind: "timestamp", unit: "ms", timeZone: null }
    const cursor = cursorOf(spec("at", [], "1500 micros"), [column("at", millis)])
    const batch = batchOf([column("at", millis)], [[-1002n], [-1001n], [-1000n]])
    // −1001 ms is after −1000 ms − 1.5 ms = −1001.5 ms.
    expect([...cursor.after(batch, Option.some({ cursor: -1000n, key: [] }))]).toEqual([1, 2])
  })
})

describe("watermark text", () => {
  const roundTrip = (cursorType: LogicalType, keyTypes: ReadonlyArray<LogicalType>, values: ReadonlyArray<Value>) => {
    const columns = [column("c", cursorType), ...keyTypes.map((type, k) => column(`k${k}`, type))]
    const cursor = cursorOf(
      spec(
        "c",
        keyTypes.map((_, k) => `k${k}`)
      ),
      columns
    )
    const batch = batchOf(columns, [values])
    cursor.track(batch)
    const watermark = Option.getOrThrow(cursor.watermark())
    const decoded = Either.getOrThrow(decodeWatermark(watermark, columns[0]!, columns.slice(1)))
    expect([decoded.cursor, ...decoded.key]).toEqual(values)
    // The row the watermark came from is not delivered again.
    expect([...cursor.after(batch, Option.some(decoded))]).toEqual([])
    return watermark
  }

  it("round-trips int64 extremes, decimals, nanosecond timestamps and other keys exactly", () => {
    expect(roundTrip({ kind: "int64" }, [{ kind: "int64" }], [2n ** 63n - 1n, -(2n ** 63n)])).toEqual({
      cursor: "9223372036854775807",
      key: ["-9223372036854775808"]
    })
    const decimal: LogicalType = { kind: "decimal", precision: 38, scale: 10 }
    expect(roundTrip(decimal, [decimal], [10n ** 38n - 1n, -(10n ** 38n - 1n)])).toEqual({
      cursor: "9999999999999999999999999999.9999999999",
      key: ["-9999999999999999999999999999.9999999999"]
    })
    const nanos: LogicalType = { kind: "timestamp", unit: "ns", timeZone: "UTC" }
    expect(
      roundTrip(nanos, [{ kind: "timestamp", unit: "ns", timeZone: null }], [2n ** 63n - 1n, -(2n ** 63n)])
    ).toEqual({
      cursor: "2262-04-11T23:47:16.854775807Z",
      key: ["1677-09-21T00:12:43.145224192"]
    })
    roundTrip(
      { kind: "timestamp", unit: "us", timeZone: null },
      [{ kind: "uuid" }],
      [1_700_000_000_123_457n, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]
    )
    roundTrip({ kind: "float64" }, [{ kind: "float32" }], [0.1 + 0.2, Math.fround(0.1)])
    roundTrip({ kind: "utf8" }, [{ kind: "time", unit: "us" }], ["zürich 😀 'quoted'", 86_399_999_999n])
    roundTrip({ kind: "date" }, [{ kind: "int8" }, { kind: "int16" }], [-719_162, -128, 32767])
  })

  it("refuses a stored watermark that does not fit the columns", () => {
    const columns = [column("c", { kind: "int64" }), column("k", { kind: "int32" })]
    expect(decodeWatermark({ cursor: "1", key: [] }, columns[0]!, columns.slice(1))).toEqual(
      Either.left(expect.stringMatching(/0 key value\(s\) but the key has 1 column/))
    )
    expect(decodeWatermark({ cursor: "x", key: ["1"] }, columns[0]!, columns.slice(1))).toEqual(
      Either.left(expect.stringMatching(/column c: "x" is not an integer/))
    )
  })
})
