/**
 * Every PostgreSQL type the mapping names, read through the source: the logical type
 * each column is described with, and its values at their extremes, exactly.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { postgresSource } from "../../../connectors/postgres/PostgresSource.js"
import { numericTypmod, pgTypeFor } from "../../../connectors/postgres/PostgresTypes.js"
import type { LogicalType } from "../../../core/Types.js"
import { typeName } from "../../../core/Types.js"
import { collect, rowsOf, rowText } from "../../conformance/index.js"
import { makeSchema, storeConfig } from "../../support/postgres.js"

let schema: Awaited<ReturnType<typeof makeSchema>>

/** Column, PostgreSQL type, Ferry type, and literals with the text Ferry gives their values. */
const CASES: ReadonlyArray<readonly [string, string, string, ReadonlyArray<readonly [string, string | null]>]> = [
  [
    "s",
    "smallint",
    "int16",
    [
      ["-32768", "-32768"],
      ["32767", "32767"]
    ]
  ],
  [
    "i",
    "integer",
    "int32",
    [
      ["-2147483648", "-2147483648"],
      ["2147483647", "2147483647"]
    ]
  ],
  [
    "b",
    "bigint",
    "int64",
    [
      ["-9223372036854775808", "-9223372036854775808"],
      ["9223372036854775807", "9223372036854775807"]
    ]
  ],
  [
    "r",
    "real",
    "float32",
    [
      ["'NaN'", "NaN"],
      ["'-Infinity'", "-Infinity"]
    ]
  ],
  [
    "d",
    "double precision",
    "float64",
    [
      ["'Infinity'", "Infinity"],
      ["5e-324", "5e-324"]
    ]
  ],
  [
    "n",
    "numeric(38,10)",
    "decimal(38,10)",
    [
      ["9999999999999999999999999999.9999999999", "9999999999999999999999999999.9999999999"],
      ["-9999999999999999999999999999.9999999999", "-9999999999999999999999999999.9999999999"]
    ]
  ],
  [
    "n_small",
    "numeric(12,2)",
    "decimal(12,2)",
    [
      ["-0.01", "-0.01"],
      ["1234567890.1", "1234567890.10"]
    ]
  ],
  [
    "n_frac",
    "numeric(8,6)",
    "decimal(8,6)",
    [
      ["0.000001", "0.000001"],
      ["-12.3", "-12.300000"]
    ]
  ],
  [
    "n_neg_scale",
    "numeric(3,-2)",
    "decimal(5,0)",
    [
      ["99900", "99900"],
      ["-1250", "-1300"]
    ]
  ],
  [
    "n_big_scale",
    "numeric(2,4)",
    "decimal(4,4)",
    [
      ["0.0099", "0.0099"],
      ["-0.0001", "-0.0001"]
    ]
  ],
  [
    "n_free",
    "numeric",
    "utf8",
    [
      ["'NaN'", "NaN"],
      ["123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789"]
    ]
  ],
  [
    "n_wide",
    "numeric(50,5)",
    "utf8",
    [
      ["1e40", "10000000000000000000000000000000000000000.00000"],
      ["0", "0.00000"]
    ]
  ],
  [
    "flag",
    "boolean",
    "bool",
    [
      ["true", "true"],
      ["false", "false"]
    ]
  ],
  [
    "t",
    "text",
    "utf8",
    [
      ["''", ""],
      ["'héllo ✓ 日本語 🚀 ''q'' \\N'", "héllo ✓ 日本語 🚀 'q' \\N"]
    ]
  ],
  [
    "vc",
    "varchar(10)",
    "utf8",
    [
      ["'ab'", "ab"],
      ["'x y'", "x y"]
    ]
  ],
  [
    "ch",
    "char(4)",
    "utf8",
    [
      ["'ab'", "ab  "],
      ["'abcd'", "abcd"]
    ]
  ],
  [
    "by",
    "bytea",
    "binary",
    [
      ["'\\x00ff10'", "\\x00ff10"],
      ["''", "\\x"]
    ]
  ],
  [
    "u",
    "uuid",
    "uuid",
    [
      ["'123E4567-E89B-12D3-A456-426614174000'", "123e4567-e89b-12d3-a456-426614174000"],
      ["'00000000-0000-0000-0000-000000000000'", "00000000-0000-0000-0000-000000000000"]
    ]
  ],
  [
    "dt",
    "date",
    "date",
    [
      ["'0001-01-01'", "0001-01-01"],
      ["'9999-12-31'", "9999-12-31"]
    ]
  ],
  [
    "tm",
    "time",
    "time",
    [
      ["'00:00:00'", "00:00:00"],
      ["'23:59:59.999999'", "23:59:59.999999"]
    ]
  ],
  [
    "ts",
    "timestamp",
    "timestamp(us)",
    [
      ["'1900-01-01 00:00:00.000001'", "1900-01-01T00:00:00.000001"],
      ["'294247-01-10 04:00:54.775807'", "294247-01-10T04:00:54.775807"]
    ]
  ],
  [
    "tz",
    "timestamptz",
    "timestamp(us, UTC)",
    [
      ["'1969-12-31 23:59:59.5-03'", "1970-01-01T02:59:59.5Z"],
      ["'2262-04-11 23:47:16.854775+00'", "2262-04-11T23:47:16.854775Z"]
    ]
  ],
  [
    "iv",
    "interval",
    "utf8",
    [
      ["'1 year 2 months 3 days 04:05:06.5'", "P1Y2M3DT4H5M6.5S"],
      ["'-1 day'", "P-1D"]
    ]
  ],
  [
    "j",
    "json",
    "json",
    [
      ['\'{"b": 1,  "a": [true, null]}\'', '{"b": 1,  "a": [true, null]}'],
      ["'12345678901234567890'", "12345678901234567890"]
    ]
  ],
  [
    "jb",
    "jsonb",
    "json",
    [
      ['\'{"b": 1,  "a": [true, null]}\'', '{"a": [true, null], "b": 1}'],
      ["'\"text\"'", '"text"']
    ]
  ],
  [
    "mood_col",
    "mood",
    "utf8",
    [
      ["'sad'", "sad"],
      ["'happy'", "happy"]
    ]
  ],
  [
    "price",
    "price",
    "decimal(10,2)",
    [
      ["12.5", "12.50"],
      ["-0.01", "-0.01"]
    ]
  ],
  [
    "ints",
    "integer[]",
    "list<int32>",
    [
      ["'{1,NULL,-3}'", "[1,null,-3]"],
      ["'{}'", "[]"]
    ]
  ],
  [
    "texts",
    "text[]",
    "list<utf8>",
    [
      ["ARRAY['a,b', NULL, '']", '["a,b",null,""]'],
      ["'[0:1]={x,y}'", '["x","y"]']
    ]
  ],
  [
    "decs",
    "numeric(6,2)[]",
    "list<decimal(6,2)>",
    [
      ["'{1.5,-2}'", '["1.50","-2.00"]'],
      ["'{NULL}'", "[null]"]
    ]
  ],
  [
    "ivs",
    "interval[]",
    "list<utf8>",
    [
      ["ARRAY['1 hour'::interval]", '["PT1H"]'],
      ["'{}'", "[]"]
    ]
  ],
  [
    "stamps",
    "timestamptz[]",
    "list<timestamp(us, UTC)>",
    [
      ["ARRAY['2026-01-01 00:00:00+02'::timestamptz]", '["2025-12-31T22:00:00Z"]'],
      ["'{NULL}'", "[null]"]
    ]
  ],
  [
    "cash",
    "money",
    "utf8",
    [
      ["'12.34'", "12.34"],
      ["'-1000000.01'", "-1000000.01"]
    ]
  ],
  [
    "addr",
    "inet",
    "utf8",
    [
      ["'192.168.0.1/24'", "192.168.0.1/24"],
      ["'::1'", "::1/128"]
    ]
  ],
  [
    "bits",
    "bit(4)",
    "utf8",
    [
      ["B'1010'", "1010"],
      ["B'0001'", "0001"]
    ]
  ],
  [
    "clock_tz",
    "timetz",
    "utf8",
    [
      ["'12:34:56+02'", "12:34:56+02"],
      ["'00:00:00-05:30'", "00:00:00-05:30"]
    ]
  ],
  [
    "x",
    "xml",
    "utf8",
    [
      ["'<a>1</a>'", "<a>1</a>"],
      ["'<b/>'", "<b/>"]
    ]
  ]
]

beforeAll(async () => {
  schema = await makeSchema("types")
  const definitions = CASES.map(([name, type]) => `${name} ${type}`).join(", ")
  const rows = [0, 1].map((row) => `(${CASES.map(([, , , values]) => values[row]![0]).join(", ")})`)
  await schema.client.query(`
    SET search_path = ${schema.name};
    CREATE TYPE mood AS ENUM ('sad', 'happy');
    CREATE DOMAIN price AS numeric(10,2);
    CREATE TABLE every_type (${definitions});
    INSERT INTO every_type VALUES ${rows.join(", ")};
    INSERT INTO every_type DEFAULT VALUES;
  `)
})
afterAll(async () => {
  await schema.drop()
})

const readAll = Effect.gen(function* () {
  const session = yield* postgresSource.open(storeConfig(), { store: "pg", baseDir: "." })
  const dataset = { table: `${schema.name}.every_type` }
  const description = yield* session.describe(dataset)
  const columns = description.kind === "table" ? description.columns : []
  const pages = yield* collect(
    session.readTable!(dataset, {
      dataset: "types",
      mode: "full",
      after: Option.none(),
      columns: Option.none(),
      filter: Option.none(),
      incremental: Option.none()
    })
  )
  return {
    columns,
    rows: rowsOf(
      columns,
      pages.map((page) => page.batch)
    ).map((row) => rowText(columns, row))
  }
})

describe("PostgreSQL types", () => {
  it.scopedLive("each column is described with its mapped type", () =>
    Effect.gen(function* () {
      const { columns } = yield* readAll
      expect(columns.map((column) => `${column.name}: ${typeName(column.type)}`)).toEqual(
        CASES.map(([name, , ferry]) => `${name}: ${ferry}`)
      )
    })
  )

  it.scopedLive("values at their extremes, and NULL in every type, are read exactly", () =>
    Effect.gen(function* () {
      const { rows } = yield* readAll
      const sorted = [...rows].sort((a, b) => (a[0] === null ? 1 : b[0] === null ? -1 : Number(a[0]) - Number(b[0])))
      expect(sorted[0]).toEqual(CASES.map(([, , , values]) => values[0]![1]))
      expect(sorted[1]).toEqual(CASES.map(([, , , values]) => values[1]![1]))
      expect(sorted[2]).toEqual(CASES.map(() => null))
    })
  )

  it("maps Ferry types to column types and reads back what it wrote", () => {
    const cases: ReadonlyArray<readonly [LogicalType, string, string]> = [
      [{ kind: "int8" }, "smallint", "int16"],
      [{ kind: "decimal", precision: 38, scale: 10 }, "numeric(38,10)", "decimal(38,10)"],
      [{ kind: "timestamp", unit: "ms", timeZone: "Europe/Paris" }, "timestamp with time zone", "timestamp(us, UTC)"],
      [{ kind: "list", element: { kind: "uuid" } }, "uuid[]", "list<uuid>"],
      [{ kind: "json" }, "json", "json"]
    ]
    for (const [type, sql, back] of cases) {
      const mapped = Either.getOrThrow(pgTypeFor(type))
      expect([mapped.sql, typeName(mapped.readBack), mapped.exact]).toEqual([sql, back, true])
    }
    expect(Either.getOrThrow(pgTypeFor({ kind: "timestamp", unit: "ns", timeZone: null })).exact).toBe(false)
    expect(Either.isLeft(pgTypeFor({ kind: "list", element: { kind: "list", element: { kind: "int32" } } }))).toBe(true)
    // numeric(12,2) has typmod 786438; numeric(3,-2) packs its scale as 11 signed bits.
    expect(numericTypmod(786438)).toEqual({ precision: 12, scale: 2 })
    expect(numericTypmod(((3 << 16) | (-2 & 0x7ff)) + 4)).toEqual({ precision: 3, scale: -2 })
  })
})
