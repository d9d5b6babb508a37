import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import type { Batch } from "../../core/Batch.js"
import { BatchBuilder, batchReaders } from "../../core/Batch.js"
import { applyCasts, planCasts } from "../../core/Cast.js"
import type { Column, LogicalType } from "../../core/Types.js"
import { columnsOf, parseTypeName } from "../../core/Types.js"
import type { Value } from "../../core/Values.js"
import { formatText, parseText } from "../../core/Values.js"

const type = (name: string): LogicalType => Either.getOrThrow(parseTypeName(name))

const batchOf = (columns: ReadonlyArray<Column>, values: ReadonlyArray<ReadonlyArray<Value | null>>): Batch => {
  const builder = new BatchBuilder(columns)
  for (const row of values) builder.appendRow(row)
  return builder.finish()
}

/**
 * Casts a column `v` holding `texts` (each in the source type's text form) and returns
 * the values in the target's text form, or the error's message.
 */
const cast = (from: string, to: string, texts: ReadonlyArray<string | null>, allowLossy = false) => {
  const column: Column = { name: "v", type: type(from), nullable: true }
  const values = texts.map((text) => (text === null ? null : Either.getOrThrow(parseText(column.type, text))))
  const plan = Either.getOrThrow(planCasts([column], new Map([["v", type(to)]]), allowLossy))
  const result = applyCasts(
    plan,
    batchOf(
      [column],
      values.map((value) => [value])
    )
  )
  if (Either.isLeft(result)) {
    expect(result.left._tag).toBe("CastError")
    expect(result.left.column).toBe("v")
    return Either.left(result.left.message)
  }
  const batch = result.right
  expect(Either.getOrThrow(columnsOf(batch.schema))).toEqual(plan.columns)
  const read = batchReaders(plan.columns, batch)[0]!
  return Either.right(texts.map((_, i) => (read(i) === null ? null : formatText(type(to), read(i)!))))
}

const ok = (...values: Array<string | null>) => Either.right(values)
const lossy = (pattern: string) =>
  Either.left(expect.stringMatching(new RegExp(`^column v: .*${pattern}.*set allow_lossy: true on the dataset`)))
const impossible = (pattern: string) =>
  Either.left(expect.stringMatching(new RegExp(`^column v: .*${pattern}.*allow_lossy: true does not change that`)))

describe("exact casts", () => {
  it("widens integers", () => {
    expect(cast("int8", "int16", ["-128", "127", null])).toEqual(ok("-128", "127", null))
    expect(cast("int16", "int32", ["-32768", "32767"])).toEqual(ok("-32768", "32767"))
    expect(cast("int32", "int64", ["-2147483648", "2147483647", null])).toEqual(ok("-2147483648", "2147483647", null))
    expect(cast("int8", "int64", ["-5"])).toEqual(ok("-5"))
  })

  it("carries integers into decimals with room for their digits", () => {
    expect(cast("int32", "decimal(12,2)", ["2147483647", "-2147483648", "0"])).toEqual(
      ok("2147483647.00", "-2147483648.00", "0.00")
    )
    expect(cast("int64", "decimal(38,0)", ["9223372036854775807", "-9223372036854775808"])).toEqual(
      ok("9223372036854775807", "-9223372036854775808")
    )
    expect(cast("int64", "decimal(38,19)", ["-9223372036854775808"])).toEqual(
      ok("-9223372036854775808.0000000000000000000")
    )
  })

  it("fails an integer that does not fit a narrow decimal, even when lossy casts are allowed", () => {
    expect(cast("int32", "decimal(5,2)", ["999", "1000"])).toEqual(impossible("1000 does not fit decimal\\(5,2\\)"))
    expect(cast("int32", "decimal(5,2)", ["1000"], true)).toEqual(impossible("1000 does not fit"))
  })

  it("raises a decimal's scale", () => {
    expect(cast("decimal(10,2)", "decimal(12,4)", ["1.23", "-99999999.99", null])).toEqual(
      ok("1.2300", "-99999999.9900", null)
    )
    expect(cast("decimal(38,0)", "decimal(38,2)", ["99999999999999999999999999999999999999"])).toEqual(
      impossible("does not fit decimal\\(38,2\\)")
    )
    expect(cast("decimal(6,2)", "decimal(4,2)", ["12.34", "123.45"])).toEqual(
      impossible("123.45 does not fit decimal\\(4,2\\)")
    )
  })

  it("writes anything as text, in the form it reads back from", () => {
    expect(cast("int64", "utf8", ["-9223372036854775808", null])).toEqual(ok("-9223372036854775808", null))
    expect(cast("decimal(12,3)", "utf8", ["-0.005", "12"])).toEqual(ok("-0.005", "12.000"))
    expect(cast("float32", "utf8", ["0.1", "NaN", "-Infinity", "16777216"])).toEqual(
      ok("0.1", "NaN", "-Infinity", "16777216")
    )
    expect(cast("float64", "utf8", ["0.30000000000000004", "1e300"])).toEqual(ok("0.30000000000000004", "1e+300"))
    expect(cast("bool", "utf8", ["true", "false"])).toEqual(ok("true", "false"))
    expect(cast("date", "utf8", ["2024-02-29", "-0044-03-15"])).toEqual(ok("2024-02-29", "-0044-03-15"))
    expect(cast("time", "utf8", ["23:59:59.999999"])).toEqual(ok("23:59:59.999999"))
    expect(cast("timestamp(ns, UTC)", "utf8", ["2262-04-11T23:47:16.854775807Z"])).toEqual(
      ok("2262-04-11T23:47:16.854775807Z")
    )
    expect(cast("timestamp(ms)", "utf8", ["1969-12-31T23:59:59.999"])).toEqual(ok("1969-12-31T23:59:59.999"))
    expect(cast("uuid", "utf8", ["A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"])).toEqual(
      ok("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
    )
    expect(cast("binary", "utf8", ["\\xdeadbeef"])).toEqual(ok("\\xdeadbeef"))
    expect(cast("list<int64>", "utf8", ['[1, null, "9223372036854775807"]'])).toEqual(
      ok('["1",null,"9223372036854775807"]')
    )
    expect(cast("json", "utf8", ['{"a": [1, 2]}'])).toEqual(ok('{"a": [1, 2]}'))
  })

  it("reads text into any type, and names the column and the value that does not parse", () => {
    expect(cast("utf8", "decimal(12,2)", ["12.5", " -3 ", null])).toEqual(ok("12.50", "-3.00", null))
    expect(cast("utf8", "int64", ["9223372036854775807"])).toEqual(ok("9223372036854775807"))
    expect(cast("utf8", "timestamp(us, UTC)", ["2024-01-01 12:00:00+02:00"])).toEqual(ok("2024-01-01T10:00:00Z"))
    expect(cast("utf8", "date", ["2024-02-29"])).toEqual(ok("2024-02-29"))
    expect(cast("utf8", "bool", ["yes", "0"])).toEqual(ok("true", "false"))
    expect(cast("utf8", "json", ['{"a":1}'])).toEqual(ok('{"a":1}'))
    expect(cast("utf8", "list<int32>", ["[1,2]"])).toEqual(ok("[1,2]"))
    expect(cast("utf8", "int32", ["12", "abc"])).toEqual(
      Either.left('column v: cannot cast to int32: "abc" is not an integer')
    )
    expect(cast("utf8", "decimal(4,2)", ["123.4"])).toEqual(
      Either.left(expect.stringMatching(/^column v: cannot cast to decimal\(4,2\): "123.4" does not fit/))
    )
    expect(cast("utf8", "date", ["2023-02-29"], true)).toEqual(
      Either.left(expect.stringMatching(/^column v: .*2023-02-29.*calendar date/))
    )
    expect(cast("utf8", "json", ["{oops"])).toEqual(Either.left(expect.stringMatching(/^column v: .*not valid JSON/)))
  })

  it("carries integers into floats where they are exact", () => {
    expect(cast("int32", "float64", ["-2147483648", "2147483647"])).toEqual(ok("-2147483648", "2147483647"))
    expect(cast("int16", "float32", ["-32768"])).toEqual(ok("-32768"))
    expect(cast("int64", "float64", ["9007199254740992", "-9007199254740992", "1152921504606846976"])).toEqual(
      ok("9007199254740992", "-9007199254740992", String(2 ** 60))
    )
  })

  it("makes timestamps finer, and dates into timestamps", () => {
    expect(cast("timestamp(s)", "timestamp(ms)", ["1969-12-31T23:59:59", null])).toEqual(
      ok("1969-12-31T23:59:59", null)
    )
    expect(cast("timestamp(ms, UTC)", "timestamp(us, UTC)", ["2024-01-01T00:00:00.123Z"])).toEqual(
      ok("2024-01-01T00:00:00.123Z")
    )
    expect(cast("timestamp(us)", "timestamp(ns)", ["2262-04-11T23:47:16.854775"])).toEqual(
      ok("2262-04-11T23:47:16.854775")
    )
    expect(cast("timestamp(s)", "timestamp(ns)", ["2262-04-11T23:47:17"])).toEqual(
      impossible("out of the range of timestamp\\(ns\\)")
    )
    expect(cast("date", "timestamp(us)", ["2024-02-29", "1900-01-01"])).toEqual(
      ok("2024-02-29T00:00:00", "1900-01-01T00:00:00")
    )
    expect(cast("date", "timestamp(ns, UTC)", ["1677-09-22", "1677-09-21"])).toEqual(
      impossible("1677-09-21 is out of the range")
    )
  })

  it("relabels what only changes its Arrow type", () => {
    expect(cast("timestamp(us)", "timestamp(us, UTC)", ["2024-01-01T10:00:00"])).toEqual(ok("2024-01-01T10:00:00Z"))
    expect(cast("timestamp(ms, Europe/Paris)", "timestamp(ms)", ["2024-01-01T10:00:00Z"])).toEqual(
      ok("2024-01-01T10:00:00")
    )
    expect(cast("decimal(9,2)", "decimal(9,2)", ["1.50"])).toEqual(ok("1.50"))
  })

  it("moves UUIDs to and from 16 bytes, and lists to JSON", () => {
    expect(cast("uuid", "binary", ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"])).toEqual(
      ok("\\xa0eebc999c0b4ef8bb6d6bb9bd380a11")
    )
    expect(cast("binary", "uuid", ["\\xa0eebc999c0b4ef8bb6d6bb9bd380a11"])).toEqual(
      ok("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
    )
    expect(cast("binary", "uuid", ["\\x00"])).toEqual(impossible("is 1 bytes long"))
    expect(cast("list<decimal(5,2)>", "json", ["[1.5, null]"])).toEqual(ok('["1.50",null]'))
    expect(cast("bool", "int32", ["true", "false"])).toEqual(ok("1", "0"))
    expect(cast("bool", "int64", ["true"])).toEqual(ok("1"))
  })
})

describe("lossy casts", () => {
  it("rounds floats into integers only when allowed, half away from zero", () => {
    expect(cast("float64", "int32", ["2", "-7", null])).toEqual(ok("2", "-7", null))
    expect(cast("float64", "int32", ["2.5"])).toEqual(lossy("2.5 is not a whole number \\(it would become 3\\)"))
    expect(cast("float64", "int32", ["2.5", "-2.5", "0.4"], true)).toEqual(ok("3", "-3", "0"))
    expect(cast("float64", "int64", ["9007199254740993"], true)).toEqual(ok("9007199254740992"))
    expect(cast("float32", "int16", ["1.5"], true)).toEqual(ok("2"))
  })

  it("fails floats out of an integer's range or not finite, lossy or not", () => {
    expect(cast("float64", "int32", ["3e9"], true)).toEqual(impossible("3000000000 is out of range for int32"))
    expect(cast("float64", "int64", ["9223372036854775808"], true)).toEqual(impossible("out of range for int64"))
    expect(cast("float64", "int8", ["NaN"], true)).toEqual(impossible("NaN is not a finite number"))
    expect(cast("float64", "decimal(9,2)", ["Infinity"], true)).toEqual(impossible("Infinity is not a finite number"))
  })

  it("reads floats into decimals by their shortest text, rounding only when allowed", () => {
    expect(cast("float64", "decimal(10,2)", ["0.1", "-12.5", "1e3", "0"])).toEqual(
      ok("0.10", "-12.50", "1000.00", "0.00")
    )
    expect(cast("float32", "decimal(10,4)", ["0.1", "3.1415"])).toEqual(ok("0.1000", "3.1415"))
    expect(cast("float64", "decimal(10,2)", ["0.30000000000000004"])).toEqual(
      lossy("0.30000000000000004 has more than 2 decimal places \\(it would become 0.30\\)")
    )
    expect(cast("float64", "decimal(10,2)", ["1.005", "-1.005", "0.30000000000000004"], true)).toEqual(
      ok("1.01", "-1.01", "0.30")
    )
    expect(cast("float64", "decimal(4,2)", ["100"], true)).toEqual(impossible("100 does not fit decimal\\(4,2\\)"))
    expect(cast("float64", "decimal(38,0)", ["1e30", "-123456789012345680000"])).toEqual(
      ok("1000000000000000000000000000000", "-123456789012345680000")
    )
    expect(cast("float64", "decimal(20,18)", ["1.000000000000000001", "5e-324"], true)).toEqual(
      ok("1.000000000000000000", "0.000000000000000000")
    )
  })

  it("lowers a decimal's scale only when allowed, rounding half away from zero", () => {
    expect(cast("decimal(10,2)", "decimal(9,1)", ["1.20", "-3.00"])).toEqual(ok("1.2", "-3.0"))
    expect(cast("decimal(10,2)", "decimal(9,1)", ["1.25"])).toEqual(
      lossy("1.25 has more than 1 decimal places \\(it would become 1.3\\)")
    )
    expect(cast("decimal(10,2)", "decimal(9,1)", ["1.25", "-1.25", "1.24", "-1.24"], true)).toEqual(
      ok("1.3", "-1.3", "1.2", "-1.2")
    )
    expect(cast("decimal(4,2)", "decimal(2,0)", ["99.50"], true)).toEqual(
      impossible("99.50 does not fit decimal\\(2,0\\)")
    )
    expect(cast("decimal(38,10)", "decimal(38,0)", ["9999999999999999999999999999.5000000000"], true)).toEqual(
      ok("10000000000000000000000000000")
    )
  })

  it("turns decimals into integers, rounding only when allowed", () => {
    expect(cast("decimal(12,2)", "int32", ["12.00", "-2147483648.00"])).toEqual(ok("12", "-2147483648"))
    expect(cast("decimal(12,2)", "int32", ["12.50"])).toEqual(
      lossy("12.50 is not a whole number \\(it would become 13\\)")
    )
    expect(cast("decimal(12,2)", "int64", ["-12.50"], true)).toEqual(ok("-13"))
    expect(cast("decimal(12,2)", "int8", ["128.00"], true)).toEqual(
      impossible("128.00 is out of range for int8 \\(-128 to 127\\)")
    )
  })

  it("narrows integers that fit, and fails the others whatever allow_lossy says", () => {
    expect(cast("int64", "int32", ["5", "-2147483648", null])).toEqual(ok("5", "-2147483648", null))
    expect(cast("int64", "int32", ["3000000000"])).toEqual(
      Either.left(
        "column v: 3000000000 is out of range for int32 (-2147483648 to 2147483647); allow_lossy: true does not change that"
      )
    )
    expect(cast("int32", "int8", ["-129"], true)).toEqual(impossible("-129 is out of range for int8"))
  })

  it("carries int64 beyond 2^53 into float64 only when allowed", () => {
    expect(cast("int64", "float64", ["9007199254740993"])).toEqual(
      lossy("9007199254740993 has no exact float64 equivalent \\(it would become 9007199254740992\\)")
    )
    expect(cast("int64", "float64", ["9007199254740993", "9223372036854775807"], true)).toEqual(
      ok("9007199254740992", String(2 ** 63))
    )
    expect(cast("int32", "float32", ["16777217"])).toEqual(lossy("16777217 has no exact float32"))
    expect(cast("int32", "float32", ["16777217"], true)).toEqual(ok("16777216"))
  })

  it("narrows float64 into float32 only when exact or allowed", () => {
    expect(cast("float64", "float32", ["0.5", "NaN", "-Infinity"])).toEqual(ok("0.5", "NaN", "-Infinity"))
    expect(cast("float64", "float32", ["0.1"])).toEqual(lossy("0.1 has no exact float32 equivalent"))
    expect(cast("float64", "float32", ["0.1"], true)).toEqual(ok("0.10000000149011612"))
  })

  it("carries decimals into floats when the float reads back as the same decimal", () => {
    expect(cast("decimal(10,2)", "float64", ["0.10", "-12345678.99", null])).toEqual(ok("0.1", "-12345678.99", null))
    expect(cast("decimal(38,2)", "float64", ["123456789012345678.91"])).toEqual(
      lossy("has no exact float64 equivalent")
    )
    expect(cast("decimal(38,2)", "float64", ["123456789012345678.91"], true)).toEqual(ok("123456789012345680"))
    expect(cast("decimal(38,0)", "float64", ["1000000000000000000000000000000"])).toEqual(ok("1e+30"))
    expect(cast("decimal(9,4)", "float32", ["0.1000", "0.1234"])).toEqual(
      ok(String(Math.fround(0.1)), String(Math.fround(0.1234)))
    )
    expect(cast("decimal(18,12)", "float32", ["0.123456789012"])).toEqual(
      lossy("0.123456789012 has no exact float32 equivalent \\(it would become 0.12345679\\)")
    )
  })

  it("truncates timestamps to a coarser unit or a date only when allowed", () => {
    expect(cast("timestamp(ns)", "timestamp(us)", ["2024-01-01T00:00:00.123456"])).toEqual(
      ok("2024-01-01T00:00:00.123456")
    )
    expect(cast("timestamp(ns)", "timestamp(us)", ["2024-01-01T00:00:00.123456789"])).toEqual(
      lossy(
        "2024-01-01T00:00:00.123456789 is finer than timestamp\\(us\\) keeps \\(it would become 2024-01-01T00:00:00.123456\\)"
      )
    )
    expect(
      cast(
        "timestamp(ns, UTC)",
        "timestamp(s, UTC)",
        ["1969-12-31T23:59:59.999999999Z", "2024-01-01T00:00:01.5Z"],
        true
      )
    ).toEqual(ok("1969-12-31T23:59:59Z", "2024-01-01T00:00:01Z"))
    expect(cast("timestamp(us)", "date", ["2024-02-29T00:00:00", null])).toEqual(ok("2024-02-29", null))
    expect(cast("timestamp(us)", "date", ["2024-02-29T13:00:00"])).toEqual(
      lossy("is finer than date keeps \\(it would become 2024-02-29\\)")
    )
    expect(cast("timestamp(ms)", "date", ["1969-12-31T23:00:00"], true)).toEqual(ok("1969-12-31"))
  })
})

describe("planCasts", () => {
  const columns: ReadonlyArray<Column> = [
    { name: "flag", type: { kind: "bool" }, nullable: false },
    { name: "n", type: { kind: "int32" }, nullable: true },
    { name: "tags", type: { kind: "list", element: { kind: "utf8" } }, nullable: true }
  ]
  const plan = (casts: Record<string, string>, allowLossy = false) =>
    planCasts(columns, new Map(Object.entries(casts).map(([name, to]) => [name, type(to)])), allowLossy)

  it("refuses casts that can never work, naming the column, before any row is read", () => {
    expect(plan({ flag: "date" })).toEqual(Either.left("cannot cast column flag from bool to date"))
    expect(plan({ n: "bool" })).toEqual(Either.left("cannot cast column n from int32 to bool"))
    expect(plan({ n: "date" }, true)).toEqual(Either.left("cannot cast column n from int32 to date"))
    expect(plan({ tags: "int32" })).toEqual(Either.left("cannot cast column tags from list<utf8> to int32"))
    expect(plan({ missing: "int32" })).toEqual(
      Either.left("casts name column missing, which the dataset does not have")
    )
  })

  it("changes only the named columns, keeping names, order and nullability", () => {
    const planned = Either.getOrThrow(plan({ n: "decimal(12,2)" }))
    expect(planned.columns).toEqual([
      columns[0],
      { name: "n", type: type("decimal(12,2)"), nullable: true },
      columns[2]
    ])
    const batch = batchOf(columns, [[true, 7, ["a"]]])
    const result = Either.getOrThrow(applyCasts(planned, batch))
    expect(result.data.children[0]).toBe(batch.data.children[0])
    expect(batchReaders(planned.columns, result).map((read) => read(0))).toEqual([true, 700n, ["a"]])
    const none = Either.getOrThrow(plan({}))
    expect(Either.getOrThrow(applyCasts(none, batch))).toBe(batch)
  })

  it("casts sliced batches, keeping each row's null", () => {
    const planned = Either.getOrThrow(plan({ n: "int64" }))
    const rows = Array.from({ length: 40 }, (_, i): Array<Value | null> => [i % 2 === 0, i % 3 === 0 ? null : i, null])
    const sliced = batchOf(columns, rows).slice(5, 35)
    const result = Either.getOrThrow(applyCasts(planned, sliced))
    const read = batchReaders(planned.columns, result)[1]!
    expect(Array.from({ length: 30 }, (_, i) => read(i))).toEqual(
      rows.slice(5, 35).map(([, n]) => (n === null ? null : BigInt(n as number)))
    )
  })
})

describe("floats and decimals, against their text forms", () => {
  /** A small deterministic generator, so a failure can be replayed. */
  const random = (seed: number) => () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  /** The decimal text of `text` rounded half away from zero to `scale` places, and whether that dropped anything. */
  const roundText = (text: string, scale: number): { text: string; exact: boolean } => {
    const [, sign, digits, fraction, exponent] = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(text)!
    let unscaled = BigInt(digits! + (fraction ?? ""))
    let places = (fraction ?? "").length - Number(exponent ?? "0")
    if (places < 0) {
      unscaled *= 10n ** BigInt(-places)
      places = 0
    }
    let exact = true
    if (places > scale) {
      const divisor = 10n ** BigInt(places - scale)
      const remainder = unscaled % divisor
      unscaled = unscaled / divisor + (remainder * 2n >= divisor ? 1n : 0n)
      exact = remainder === 0n
    } else {
      unscaled *= 10n ** BigInt(scale - places)
    }
    const padded = unscaled.toString().padStart(scale + 1, "0")
    const body = scale === 0 ? padded : `${padded.slice(0, -scale)}.${padded.slice(-scale)}`
    return { text: unscaled === 0n ? body : `${sign}${body}`, exact }
  }

  it("rounds random float64 values into decimals as their shortest text says", () => {
    const next = random(7)
    for (let n = 0; n < 1500; n++) {
      const scale = Math.floor(next() * 8)
      const magnitude = 10 ** Math.floor(next() * 14 - 4)
      const value = next() < 0.5 ? Math.round(next() * 1e6) / 10 ** Math.floor(next() * 7) : (next() - 0.5) * magnitude
      const expected = roundText(String(value), scale)
      const target = `decimal(38,${scale})`
      expect(cast("float64", target, [String(value)], true)).toEqual(ok(expected.text))
      const strict = cast("float64", target, [String(value)])
      expect(Either.isRight(strict)).toBe(expected.exact)
    }
  })

  it("carries random decimals into float64 exactly when the float's shortest text is the decimal", () => {
    const next = random(11)
    for (let n = 0; n < 1500; n++) {
      const scale = Math.floor(next() * 10)
      const digits = 1 + Math.floor(next() * 20)
      const unscaled =
        BigInt(Math.floor(next() * 10 ** Math.min(digits, 15))) * 10n ** BigInt(Math.max(0, digits - 15)) + BigInt(n)
      const text = Either.getOrThrow(cast(`decimal(38,${scale})`, "utf8", [`${unscaled}e-${scale}`]))[0]!
      const float = Number(text)
      const exact = roundText(String(float), scale)
      const result = cast(`decimal(38,${scale})`, "float64", [text])
      expect({ text, exact: Either.isRight(result) }).toEqual({ text, exact: exact.exact && exact.text === text })
    }
  })
})
