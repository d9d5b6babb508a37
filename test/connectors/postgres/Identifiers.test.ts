import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import {
  displayTableName,
  parseTableName,
  qualifiedName,
  quoteIdentifier
} from "../../../connectors/postgres/Identifiers.js"
import { sqlLiteral } from "../../../connectors/postgres/internal/Literals.js"

const parsed = (text: string) => Either.getOrThrow(parseTableName(text))
const refused = (text: string) =>
  Either.match(parseTableName(text), { onLeft: (message) => message, onRight: () => "" })

describe("table names", () => {
  it("reads names as PostgreSQL does: unquoted fold to lower case, quoted stay exact", () => {
    expect(parsed("sales")).toEqual({ schema: undefined, name: "sales" })
    expect(parsed("Public.Sales")).toEqual({ schema: "public", name: "sales" })
    expect(parsed('"My Schema"."Order Lines"')).toEqual({ schema: "My Schema", name: "Order Lines" })
    expect(parsed('"say ""hi"""')).toEqual({ schema: undefined, name: 'say "hi"' })
    expect(parsed(' s . "select" ')).toEqual({ schema: "s", name: "select" })
    expect(parsed("ventes_été")).toEqual({ schema: undefined, name: "ventes_été" })
  })

  it("refuses what is not a table name, saying why", () => {
    expect(refused("public.sales; DROP TABLE x")).toContain('unexpected ";"')
    expect(refused("a.b.c")).toContain("write table or schema.table")
    expect(refused('"unterminated')).toContain("without its closing quote")
    expect(refused('""')).toContain("empty name")
    expect(refused("1abc")).toContain("expected a name")
    expect(refused('"a\0b"')).toContain("NUL")
    expect(refused("x".repeat(64))).toContain("63 bytes")
  })

  it("always quotes, so no name can leave its identifier", () => {
    expect(quoteIdentifier('a"; DROP TABLE x; --')).toBe('"a""; DROP TABLE x; --"')
    expect(qualifiedName({ schema: "My Schema", name: "select" })).toBe('"My Schema"."select"')
    expect(qualifiedName({ schema: undefined, name: "sales" })).toBe('"sales"')
    expect(displayTableName({ schema: "public", name: "Order Lines" })).toBe('public."Order Lines"')
  })
})

describe("literals", () => {
  const literal = (...args: Parameters<typeof sqlLiteral>) => Either.getOrThrow(sqlLiteral(...args))
  it("renders typed literals from canonical values", () => {
    expect(literal({ kind: "utf8" }, "it's \\ 'x'")).toBe("'it''s \\ ''x'''")
    expect(literal({ kind: "int64" }, -(2n ** 63n))).toBe("'-9223372036854775808'::bigint")
    expect(literal({ kind: "decimal", precision: 12, scale: 2 }, -5n)).toBe("'-0.05'::numeric(12,2)")
    expect(literal({ kind: "float64" }, NaN)).toBe("'NaN'::double precision")
    expect(literal({ kind: "bool" }, false)).toBe("FALSE")
    expect(literal({ kind: "date" }, -719528)).toBe("'0001-01-01 BC'::date")
    expect(literal({ kind: "timestamp", unit: "us", timeZone: "UTC" }, -1n)).toBe(
      "'1969-12-31T23:59:59.999999+00'::timestamp with time zone"
    )
    expect(literal({ kind: "binary" }, new Uint8Array([0, 39]))).toBe("'\\x0027'::bytea")
  })

  it("refuses NUL, which PostgreSQL text cannot hold", () => {
    expect(Either.isLeft(sqlLiteral({ kind: "utf8" }, "a\0b"))).toBe(true)
  })
})
