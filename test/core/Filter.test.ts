import { DuckDBInstance } from "@duckdb/node-api"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import type { Batch } from "../../core/Batch.js"
import { BatchBuilder } from "../../core/Batch.js"
import type { Filter } from "../../core/Filter.js"
import {
  checkFilter,
  compileFilter,
  evaluateFilter,
  filterColumns,
  filterToSql,
  formatFilter,
  parseFilter
} from "../../core/Filter.js"
import type { Column, LogicalType } from "../../core/Types.js"
import type { Value } from "../../core/Values.js"
import { formatText, parseText } from "../../core/Values.js"

const parse = (text: string): Filter => Either.getOrThrow(parseFilter(text))

const parseError = (text: string) => {
  const result = parseFilter(text)
  if (Either.isRight(result)) throw new Error(`expected "${text}" to fail, got ${formatFilter(result.right)}`)
  return { message: result.left.message, offset: result.left.offset }
}

const column = (name: string, type: LogicalType): Column => ({ name, type, nullable: true })

const batchOf = (columns: ReadonlyArray<Column>, rows: ReadonlyArray<ReadonlyArray<string | null>>): Batch => {
  const builder = new BatchBuilder(columns)
  for (const row of rows) {
    builder.appendRow(
      row.map((text, i) => (text === null ? null : Either.getOrThrow(parseText(columns[i]!.type, text))))
    )
  }
  return builder.finish()
}

const select = (text: string, columns: ReadonlyArray<Column>, batch: Batch): Array<number> => [
  ...Either.getOrThrow(evaluateFilter(parse(text), columns, batch))
]

describe("parseFilter", () => {
  it("reads every comparison operator, with <> as !=", () => {
    for (const op of ["=", "!=", "<", "<=", ">", ">="] as const) {
      expect(parse(`amount ${op} 5`)).toEqual({
        kind: "compare",
        column: "amount",
        op,
        value: { kind: "number", text: "5" }
      })
    }
    expect(parse("a<>'x'")).toEqual({ kind: "compare", column: "a", op: "!=", value: { kind: "string", text: "x" } })
    expect(parse("a<=-1")).toMatchObject({ op: "<=", value: { kind: "number", text: "-1" } })
  })

  it("reads IN, BETWEEN, LIKE and IS NULL, each negated or not", () => {
    expect(parse("region in ('EU', 'US')")).toEqual({
      kind: "in",
      column: "region",
      values: [
        { kind: "string", text: "EU" },
        { kind: "string", text: "US" }
      ],
      negated: false
    })
    expect(parse("id NOT IN (1)")).toMatchObject({ kind: "in", negated: true, values: [{ text: "1" }] })
    expect(parse("x between 1 and 10")).toEqual({
      kind: "between",
      column: "x",
      low: { kind: "number", text: "1" },
      high: { kind: "number", text: "10" },
      negated: false
    })
    expect(parse("x not between 'a' and 'b'")).toMatchObject({ kind: "between", negated: true })
    expect(parse("name like 'A%_'")).toEqual({ kind: "like", column: "name", pattern: "A%_", negated: false })
    expect(parse("name not like '%x'")).toMatchObject({ kind: "like", negated: true })
    expect(parse("x is null")).toEqual({ kind: "is_null", column: "x", negated: false })
    expect(parse("x IS NOT NULL")).toEqual({ kind: "is_null", column: "x", negated: true })
  })

  it("gives NOT precedence over AND, and AND over OR", () => {
    expect(formatFilter(parse("a = 1 or b = 2 and c = 3"))).toBe("(a = 1 or (b = 2 and c = 3))")
    expect(formatFilter(parse("a = 1 and b = 2 or c = 3"))).toBe("((a = 1 and b = 2) or c = 3)")
    expect(formatFilter(parse("not a = 1 and b = 2"))).toBe("(not (a = 1) and b = 2)")
    expect(formatFilter(parse("not not a = 1"))).toBe("not (not (a = 1))")
    expect(formatFilter(parse("(a = 1 or b = 2) and c = 3"))).toBe("((a = 1 or b = 2) and c = 3)")
    expect(formatFilter(parse("a = 1 or b = 2 or c = 3"))).toBe("((a = 1 or b = 2) or c = 3)")
    // The AND of BETWEEN belongs to BETWEEN, the next one joins conditions.
    expect(formatFilter(parse("x between 1 and 2 and y = 3"))).toBe("(x between 1 and 2 and y = 3)")
  })

  it("reads keywords in any case", () => {
    expect(formatFilter(parse("A In (1) AnD B iS nOt NuLl Or NOT c BeTwEeN 1 AND 2 oR d LiKe 'x'"))).toBe(
      "(((A in (1) and B is not null) or not (c between 1 and 2)) or d like 'x')"
    )
  })

  it("reads quoted column names and strings with doubled quotes", () => {
    expect(parse(`"Order Id" = 7`)).toMatchObject({ column: "Order Id" })
    expect(parse(`"say ""hi""" = 'it''s'`)).toEqual({
      kind: "compare",
      column: 'say "hi"',
      op: "=",
      value: { kind: "string", text: "it's" }
    })
    expect(parse(`"and" = true`)).toEqual({
      kind: "compare",
      column: "and",
      op: "=",
      value: { kind: "boolean", value: true }
    })
    expect(parse("flag = FALSE")).toMatchObject({ value: { kind: "boolean", value: false } })
    expect(parse("s = ''")).toMatchObject({ value: { kind: "string", text: "" } })
    expect(parse("s = 'a\nb'")).toMatchObject({ value: { kind: "string", text: "a\nb" } })
  })

  it("reads numbers with signs, fractions and exponents", () => {
    for (const text of ["-12", "3.5", "1e3", "2.5E-3", ".5", "-.5", "0", "12."]) {
      expect(parse(`x = ${text}`)).toMatchObject({ value: { kind: "number", text } })
    }
  })

  it("prints filters that read back the same", () => {
    for (const text of [
      `"Order Id" not in ('a''b', 'c') or not (x >= -1.5e3 and flag = true)`,
      `"select" like '50\\% off%' and y is not null`,
      `a between 'x' and 'y' or b not between 1 and 2`
    ]) {
      const filter = parse(text)
      expect(parse(formatFilter(filter))).toEqual(filter)
    }
  })

  it("says what it expected and where", () => {
    expect(parseError("amount 5")).toEqual({
      message: `expected a comparison operator after column amount, found "5"`,
      offset: 7
    })
    expect(parseError("amount")).toEqual({
      message: "expected a comparison operator after column amount, found the end of the filter",
      offset: 6
    })
    expect(parseError("x = 1 and name = 'abc")).toEqual({
      message: "unterminated string starting at offset 17",
      offset: 17
    })
    expect(parseError(`"Order Id = 1`)).toMatchObject({ offset: 0, message: expect.stringMatching(/unterminated/) })
    expect(parseError(`"" = 1`)).toMatchObject({ offset: 0, message: expect.stringMatching(/empty quoted/) })
    expect(parseError("a = 1 and")).toMatchObject({ offset: 9, message: expect.stringMatching(/expected a column/) })
    expect(parseError("(a = 1")).toMatchObject({ offset: 6, message: expect.stringMatching(/expected "\)"/) })
    expect(parseError("a = 1)")).toMatchObject({ offset: 5, message: expect.stringMatching(/after a complete/) })
    expect(parseError("a = 1 b = 2")).toMatchObject({ offset: 6, message: expect.stringMatching(/AND or OR/) })
    expect(parseError("a = 1; drop table t")).toEqual({ message: `unexpected character ";" at offset 5`, offset: 5 })
    expect(parseError("a = null")).toMatchObject({ offset: 4, message: expect.stringMatching(/IS NULL/) })
    expect(parseError("a = b")).toMatchObject({ offset: 4, message: expect.stringMatching(/single quotes/) })
    expect(parseError("a = ")).toMatchObject({
      offset: 4,
      message: "expected a value after =, found the end of the filter"
    })
    expect(parseError("a in ()")).toMatchObject({ offset: 6, message: expect.stringMatching(/in the IN list/) })
    expect(parseError("a in (1 2)")).toMatchObject({ offset: 8, message: expect.stringMatching(/"," or "\)"/) })
    expect(parseError("a in 1")).toMatchObject({ offset: 5, message: expect.stringMatching(/"\(" after IN/) })
    expect(parseError("a between 1 or 2")).toMatchObject({ offset: 12, message: expect.stringMatching(/AND/) })
    expect(parseError("a like 5")).toMatchObject({ offset: 7, message: expect.stringMatching(/quoted pattern/) })
    expect(parseError("a like 'x\\'")).toMatchObject({ offset: 7, message: expect.stringMatching(/escape/) })
    expect(parseError("a is 5")).toMatchObject({ offset: 5, message: expect.stringMatching(/NULL after IS/) })
    expect(parseError("a not = 1")).toMatchObject({ offset: 6, message: expect.stringMatching(/IN, BETWEEN or LIKE/) })
    expect(parseError("= 1")).toMatchObject({ offset: 0, message: expect.stringMatching(/column name/) })
    expect(parseError("and = 1")).toMatchObject({ offset: 0, message: expect.stringMatching(/keyword AND.*"and"/) })
    expect(parseError("x = 12abc")).toMatchObject({ offset: 4, message: expect.stringMatching(/invalid number/) })
    expect(parseError("")).toMatchObject({ offset: 0 })
  })
})

describe("checkFilter", () => {
  const columns = [
    column("id", { kind: "int32" }),
    column("OrderId", { kind: "int64" }),
    column("name", { kind: "utf8" }),
    column("amount", { kind: "decimal", precision: 8, scale: 2 }),
    column("day", { kind: "date" }),
    column("flag", { kind: "bool" }),
    column("tags", { kind: "list", element: { kind: "utf8" } })
  ]
  const check = (text: string) => checkFilter(parse(text), columns)

  it("accepts literals that are values of their columns", () => {
    expect(check("id in (1, -2) and amount >= 10.5 and day < '2024-02-29' and flag = true")).toEqual(
      Either.right(undefined)
    )
    expect(check("amount between '1' and 1e3 and name like 'x%' and tags is not null")).toEqual(Either.right(undefined))
  })

  it("names what is wrong", () => {
    expect(check("orderid = 1")).toEqual(Either.left(expect.stringMatching(/orderid.*did you mean OrderId/)))
    expect(check("missing is null")).toEqual(Either.left(expect.stringMatching(/column missing/)))
    expect(check("id = 'abc'")).toEqual(Either.left(expect.stringMatching(/column id \(int32\).*not an integer/)))
    expect(check("id = 3.5")).toEqual(Either.left(expect.stringMatching(/not an integer/)))
    expect(check("id < 3000000000")).toEqual(Either.left(expect.stringMatching(/out of range for int32/)))
    expect(check("amount = 1.234")).toEqual(Either.left(expect.stringMatching(/more than 2 digits/)))
    expect(check("day = '2024-02-30'")).toEqual(Either.left(expect.stringMatching(/not a calendar date/)))
    expect(check("name = 5")).toEqual(Either.left(expect.stringMatching(/number 5; write it in quotes/)))
    expect(check("id = true")).toEqual(Either.left(expect.stringMatching(/cannot be compared with true/)))
    expect(check("id like '1%'")).toEqual(Either.left(expect.stringMatching(/LIKE needs a text column/)))
    expect(check("tags = 'a'")).toEqual(Either.left(expect.stringMatching(/IS \[NOT\] NULL/)))
  })

  it("lists the columns a filter names, once each", () => {
    expect(filterColumns(parse(`b = 1 and ("a" = 2 or not b is null) and c like 'x'`))).toEqual(["b", "a", "c"])
  })
})

describe("evaluateFilter", () => {
  const columns = [column("n", { kind: "int32" }), column("s", { kind: "utf8" }), column("f", { kind: "float64" })]
  const batch = batchOf(columns, [
    ["1", "x", "1.5"],
    [null, "x", null],
    ["3", null, "NaN"],
    ["4", "y", "-2"],
    [null, null, null]
  ])

  it("drops rows whose condition is unknown, as SQL does", () => {
    expect(select("n > 1", columns, batch)).toEqual([2, 3])
    expect(select("not n > 1", columns, batch)).toEqual([0])
    expect(select("n != 3", columns, batch)).toEqual([0, 3])
    expect(select("n not in (3)", columns, batch)).toEqual([0, 3])
    expect(select("n not between 2 and 3", columns, batch)).toEqual([0, 3])
    expect(select("s not like 'x'", columns, batch)).toEqual([3])
  })

  it("combines unknown with AND, OR and NOT by three-valued logic", () => {
    // unknown OR true is true; unknown OR false is unknown.
    expect(select("n > 1 or s = 'x'", columns, batch)).toEqual([0, 1, 2, 3])
    // unknown AND false is false, so NOT of it is true; true AND unknown stays unknown under NOT.
    expect(select("not (n > 1 and s = 'y')", columns, batch)).toEqual([0, 1])
    // unknown AND true is unknown, and so is its negation.
    expect(select("not (n > 0 and s = 'x')", columns, batch)).toEqual([3])
    expect(select("n is null", columns, batch)).toEqual([1, 4])
    expect(select("not n is not null", columns, batch)).toEqual([1, 4])
    expect(select("n is null and s is null", columns, batch)).toEqual([4])
  })

  it("orders NaN after every other float, as PostgreSQL does", () => {
    expect(select("f > 1e308", columns, batch)).toEqual([2])
    expect(select("f = 'NaN'", columns, batch)).toEqual([2])
    expect(select("f < 0", columns, batch)).toEqual([3])
  })

  it("compares exactly: int64 extremes, decimals, nanosecond timestamps, float32", () => {
    const exact = [
      column("big", { kind: "int64" }),
      column("price", { kind: "decimal", precision: 38, scale: 10 }),
      column("at", { kind: "timestamp", unit: "ns", timeZone: "UTC" }),
      column("ratio", { kind: "float32" }),
      column("id", { kind: "uuid" })
    ]
    const rows = batchOf(exact, [
      [
        "9223372036854775807",
        "1234567890123456789012345678.0000000001",
        "2024-01-01T00:00:00.000000001Z",
        "0.1",
        "0f0e8e07-1f4c-4e3f-9e4a-2b1d4f5a6b7c"
      ],
      [
        "9223372036854775806",
        "1234567890123456789012345678",
        "2024-01-01T00:00:00Z",
        "0.2",
        "AAAAAAAA-1f4c-4e3f-9e4a-2b1d4f5a6b7c"
      ],
      ["-9223372036854775808", "-0.0000000001", "2023-12-31T23:59:59.999999999-00:00", null, null]
    ])
    expect(select("big = 9223372036854775807", exact, rows)).toEqual([0])
    expect(select("big < -9223372036854775807", exact, rows)).toEqual([2])
    expect(select("price > 1234567890123456789012345678", exact, rows)).toEqual([0])
    expect(select("price < 0", exact, rows)).toEqual([2])
    expect(select("at > '2024-01-01T00:00:00Z'", exact, rows)).toEqual([0])
    expect(select("at between '2023-12-31T23:59:59.999999999Z' and '2024-01-01'", exact, rows)).toEqual([1, 2])
    expect(select("at >= '2024-01-01T01:00:00+01:00'", exact, rows)).toEqual([0, 1])
    // The literal becomes a float32 too, so 0.1 finds the float32 nearest 0.1.
    expect(select("ratio = 0.1", exact, rows)).toEqual([0])
    expect(select("id in ('aaaaaaaa1f4c4e3f9e4a2b1d4f5a6b7c')", exact, rows)).toEqual([1])
  })

  it("matches LIKE patterns by characters, with % and _ and \\ escapes", () => {
    const text = [column("s", { kind: "utf8" })]
    const rows = batchOf(text, [["50% off"], ["50 off"], ["a😀b"], ["line\nbreak"], ["a.b"], ["[x]"], ["back\\slash"]])
    expect(select("s like '50\\%%'", text, rows)).toEqual([0])
    expect(select("s like '50%'", text, rows)).toEqual([0, 1])
    expect(select("s like 'a_b'", text, rows)).toEqual([2, 4])
    expect(select("s like 'line%'", text, rows)).toEqual([3])
    expect(select("s like '[x]'", text, rows)).toEqual([5])
    expect(select("s like '%\\\\%'", text, rows)).toEqual([6])
    expect(select("s like 'A%'", text, rows)).toEqual([])
  })

  it("works on sliced batches", () => {
    const sliced = batch.slice(2, 5)
    expect(select("n > 1", columns, sliced)).toEqual([0, 1])
    expect(select("s = 'y' or n is null", columns, sliced)).toEqual([1, 2])
  })

  it("returns the check's message for a filter that does not fit", () => {
    expect(evaluateFilter(parse("n = 'x'"), columns, batch)).toEqual(Either.left(expect.stringMatching(/column n/)))
  })
})

describe("filterToSql", () => {
  const quote = (name: string) => `"${name.replace(/"/g, '""')}"`
  const render = (text: string, columns: ReadonlyArray<Column>) => {
    const bound: Array<{ value: Value; type: string }> = []
    const sql = Either.getOrThrow(
      filterToSql(
        parse(text),
        quote,
        (value, type) => {
          bound.push({ value, type: type.kind })
          return `$${bound.length}`
        },
        columns
      )
    ).sql
    return { sql, bound }
  }
  const columns = [
    column("id", { kind: "int64" }),
    column("name", { kind: "utf8" }),
    column("amount", { kind: "decimal", precision: 12, scale: 2 }),
    column(`x"; drop table t; --`, { kind: "utf8" })
  ]

  it("binds every literal in its column's type and quotes every identifier", () => {
    expect(
      render("id in (1, 2) and not (amount between 1 and '2.5' or name like 'a[b%') or name is not null", columns)
    ).toEqual({
      sql: `(("id" IN ($1, $2) AND (NOT ("amount" BETWEEN $3 AND $4 OR "name" LIKE $5 ESCAPE '\\'))) OR "name" IS NOT NULL)`,
      bound: [
        { value: 1n, type: "int64" },
        { value: 2n, type: "int64" },
        { value: 100n, type: "decimal" },
        { value: 250n, type: "decimal" },
        { value: "a\\[b%", type: "utf8" }
      ]
    })
    expect(render("id != 1 and name not in ('a') and amount not between 1 and 2", columns).sql).toBe(
      `(("id" <> $1 AND "name" NOT IN ($2)) AND "amount" NOT BETWEEN $3 AND $4)`
    )
  })

  it("keeps an injection attempt in a literal or a column name harmless", () => {
    const { bound, sql } = render(`name = ''' or 1=1; drop table t; --' and "x""; drop table t; --" = 'a'`, columns)
    expect(sql).toBe(`("name" = $1 AND "x""; drop table t; --" = $2)`)
    expect(bound[0]!.value).toBe("' or 1=1; drop table t; --")
  })

  it("refuses a filter that does not fit the columns", () => {
    expect(filterToSql(parse("nope = 1"), quote, () => "?", columns)).toEqual(
      Either.left(expect.stringMatching(/column nope/))
    )
  })
})

// ---- against DuckDB ---------------------------------------------------------------------

/** A small deterministic generator, so a failure can be replayed. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

describe("evaluateFilter against DuckDB", () => {
  const columns = [
    column("i", { kind: "int32" }),
    column("b", { kind: "int64" }),
    column("s", { kind: "utf8" }),
    column("f", { kind: "float64" }),
    column("d", { kind: "decimal", precision: 10, scale: 2 }),
    column("day", { kind: "date" }),
    column("ok", { kind: "bool" })
  ]
  const duckTypes: Record<string, string> = {
    i: "INTEGER",
    b: "BIGINT",
    s: "VARCHAR",
    f: "DOUBLE",
    d: "DECIMAL(10,2)",
    day: "DATE",
    ok: "BOOLEAN"
  }
  const next = random(42)
  const pick = <T>(items: ReadonlyArray<T>): T => items[Math.floor(next() * items.length)]!
  const pools: Record<string, ReadonlyArray<string>> = {
    i: ["-3", "0", "1", "2", "7", "-2147483648", "2147483647"],
    b: ["0", "-1", "9223372036854775807", "-9223372036854775808", "4611686018427387904", "12"],
    s: ["", "a", "ab", "abc", "b", "B", "a%c", "a_c", "[x]", "zz"],
    f: ["0", "-0", "1.5", "-2.25", "NaN", "Infinity", "-Infinity", "1e300"],
    d: ["0", "0.01", "-0.01", "12.5", "99999999.99", "-3"],
    day: ["1970-01-01", "2024-02-29", "1969-12-31", "2000-01-01", "0001-01-01"],
    ok: ["true", "false"]
  }
  const rows = Array.from({ length: 300 }, () => columns.map((c) => (next() < 0.15 ? null : pick(pools[c.name]!))))
  const batch = batchOf(columns, rows)

  const literal = (name: string): string => {
    const text = pick(pools[name]!)
    return ["i", "b", "f", "d"].includes(name) && /^-?[\d.e]+$/.test(text) ? text : `'${text.replace(/'/g, "''")}'`
  }
  const predicate = (): string => {
    const name = pick(columns).name
    const kind = pick(["compare", "compare", "in", "between", "like", "null"])
    const not = next() < 0.3 ? "not " : ""
    if (kind === "null") return `${name} is ${not}null`
    if (name === "ok") return `ok ${pick(["=", "!=", "<", ">="])} ${pick(["true", "false", "'t'", "'no'"])}`
    if (kind === "in") return `${name} ${not}in (${[literal(name), literal(name), literal(name)].join(", ")})`
    if (kind === "between") return `${name} ${not}between ${literal(name)} and ${literal(name)}`
    if (kind === "like" && name === "s")
      return `s ${not}like '${pick(["a%", "%c", "a_c", "a\\%c", "%", "_", "[x]", "B%"])}'`
    return `${name} ${pick(["=", "!=", "<", "<=", ">", ">=", "<>"])} ${literal(name)}`
  }
  const expression = (depth: number): string => {
    if (depth === 0 || next() < 0.3) return predicate()
    const roll = next()
    if (roll < 0.2) return `not (${expression(depth - 1)})`
    return `(${expression(depth - 1)}) ${roll < 0.6 ? "and" : "or"} (${expression(depth - 1)})`
  }

  it("selects the same rows as DuckDB for 400 random filters", async () => {
    const instance = await DuckDBInstance.create(":memory:")
    const connection = await instance.connect()
    try {
      await connection.run(
        `CREATE TABLE t (row_number INTEGER, ${columns.map((c) => `"${c.name}" ${duckTypes[c.name]}`).join(", ")})`
      )
      const values = rows.map(
        (row, r) =>
          `(${r}, ${row.map((text, i) => (text === null ? "NULL" : `CAST('${text}' AS ${duckTypes[columns[i]!.name]})`)).join(", ")})`
      )
      await connection.run(`INSERT INTO t VALUES ${values.join(", ")}`)
      for (let n = 0; n < 400; n++) {
        const text = expression(3)
        const filter = Either.getOrThrow(parseFilter(text))
        const ours = compileFilter(filter, columns)
        if (Either.isLeft(ours)) throw new Error(`${text}: ${ours.left}`)
        const parameters: Array<string> = []
        const { sql } = Either.getOrThrow(
          filterToSql(
            filter,
            (name) => `"${name}"`,
            (value, type) => {
              parameters.push(formatText(type, value))
              const duckType = columns.find((c) => c.type === type)?.name
              return `CAST($${parameters.length} AS ${duckType === undefined ? "VARCHAR" : duckTypes[duckType]})`
            },
            columns
          )
        )
        const reader = await connection.runAndReadAll(
          `SELECT row_number FROM t WHERE ${sql} ORDER BY row_number`,
          parameters
        )
        const expected = reader.getRows().map((row) => Number(row[0]))
        expect({ text, rows: [...ours.right.select(batch)] }).toEqual({ text, rows: expected })
      }
    } finally {
      connection.closeSync()
      instance.closeSync()
    }
  })
})
