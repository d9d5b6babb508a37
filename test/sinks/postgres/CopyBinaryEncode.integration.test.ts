/**
 * The COPY BINARY encoder writes every value exactly as PostgreSQL's own send
 * functions do: each encoded field is compared byte for byte with `<type>_send` of the
 * same value parsed by the server from its text form. Values that PostgreSQL cannot
 * hold are refused with the column named.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import pg from "pg"
import { pgTypeFor } from "../../../connectors/postgres/PostgresTypes.js"
import type { Column, LogicalType } from "../../../core/Types.js"
import type { Value } from "../../../core/Values.js"
import { formatText, pow10 } from "../../../core/Values.js"
import type { JsonStorage } from "../../../sinks/postgres/internal/CopyBinaryEncode.js"
import { encodeRows, EncodeFailure } from "../../../sinks/postgres/internal/CopyBinaryEncode.js"
import type { Row } from "../../conformance/Tables.js"
import { allTypeColumns, allTypeRows, batchOf, column } from "../../conformance/Tables.js"
import { TEST_URL } from "../../support/postgres.js"

const pool = new pg.Pool({ connectionString: TEST_URL, max: 2 })
afterAll(() => pool.end())

/** The fields of a one-column COPY BINARY body: each value's bytes, or null. */
const fieldsOf = (body: Uint8Array): Array<Buffer | null> => {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength)
  const fields: Array<Buffer | null> = []
  let pos = 0
  while (pos < body.length) {
    expect(view.getInt16(pos)).toBe(1)
    const length = view.getInt32(pos + 2)
    pos += 6
    if (length < 0) {
      fields.push(null)
      continue
    }
    fields.push(Buffer.from(body.subarray(pos, pos + length)))
    pos += length
  }
  return fields
}

const sqlType = (type: LogicalType, json: JsonStorage): string =>
  type.kind === "json"
    ? json
    : type.kind === "list" && type.element.kind === "json"
      ? `${json}[]`
      : pgTypeFor(type).pipe((t) => (t._tag === "Right" ? t.right.sql : "?"))

/** The server's parse of each value's text form, as its binary send format. */
const serverSend = async (type: LogicalType, json: JsonStorage, values: ReadonlyArray<Value | null>) => {
  const target = sqlType(type, json)
  // Lists travel as JSON text; the server builds the array from its elements.
  const parse =
    type.kind === "list"
      ? `ARRAY(SELECT e::${sqlType(type.element, json)} FROM json_array_elements_text(v::json) WITH ORDINALITY AS j(e, i) ORDER BY i)::${target}`
      : `v::${target}`
  const texts = values.map((value) => (value === null ? null : formatText(type, value)))
  const result = await pool.query<{ sent: Buffer | null }>(
    `SELECT CASE WHEN v IS NULL THEN NULL ELSE ${sendFunction(type, json)}(${parse}) END AS sent
     FROM unnest($1::text[]) WITH ORDINALITY AS u(v, n) ORDER BY n`,
    [texts]
  )
  return result.rows.map((row) => row.sent)
}

const sendFunction = (type: LogicalType, json: JsonStorage): string => {
  switch (type.kind) {
    case "list":
      return "array_send"
    case "int8":
    case "int16":
      return "int2send"
    case "int32":
      return "int4send"
    case "int64":
      return "int8send"
    case "float32":
      return "float4send"
    case "float64":
      return "float8send"
    case "decimal":
      return "numeric_send"
    case "bool":
      return "boolsend"
    case "utf8":
      return "textsend"
    case "binary":
      return "byteasend"
    case "uuid":
      return "uuid_send"
    case "date":
      return "date_send"
    case "time":
      return "time_send"
    case "timestamp":
      return type.timeZone === null ? "timestamp_send" : "timestamptz_send"
    case "json":
      return json === "jsonb" ? "jsonb_send" : "json_send"
  }
}

const expectSameAsServer = async (col: Column, values: ReadonlyArray<Value | null>, json: JsonStorage = "json") => {
  const encoded = encodeRows(
    [{ column: col, json }],
    batchOf(
      [col],
      values.map((value) => [value])
    )
  )
  if (encoded instanceof EncodeFailure) throw new Error(`${encoded.column}: ${encoded.message}`)
  const ours = fieldsOf(encoded)
  const theirs = await serverSend(col.type, json, values)
  const hex = (fields: ReadonlyArray<Buffer | null>) => fields.map((field) => field?.toString("hex") ?? null)
  expect(hex(ours)).toEqual(hex(theirs.map((field) => (field === null ? null : Buffer.from(field)))))
}

const valuesOf = (name: string): Array<Value | null> => {
  const index = allTypeColumns.findIndex((c) => c.name === name)
  return allTypeRows().map((row: Row) => row[index] ?? null)
}

describe("COPY BINARY encoding", () => {
  for (const col of allTypeColumns.filter((c) => c.name !== "ts_ns" && c.name !== "ts_ns_utc")) {
    it(`encodes ${col.name} (${col.type.kind}) as the server sends it`, async () => {
      await expectSameAsServer(col, valuesOf(col.name))
    })
  }

  // jsonb_send gives its canonical text, so the values here are written canonically.
  it("encodes json as jsonb's binary form where the column is jsonb", async () => {
    await expectSameAsServer(column("doc", { kind: "json" }), ['{"a": 1}', "[]", null, '"x"'], "jsonb")
  })

  it("encodes decimals of every scale and size exactly", async () => {
    // Each scale from 0 to 38, with values from one digit to the full precision, both signs.
    for (const scale of [0, 1, 2, 3, 4, 5, 7, 8, 10, 13, 20, 37, 38]) {
      const values: Array<Value | null> = [0n, null]
      for (let digits = 1; digits <= 38; digits += 3) {
        const big = pow10(digits) - 1n
        values.push(big, -big, pow10(digits - 1), -pow10(digits - 1) - 7n, big / 3n)
      }
      values.push(123456789012345n, -9_007_199_254_740_993n, 4_503_599_627_370_496n, 10_000n, 100_000_000n)
      await expectSameAsServer(column("dec", { kind: "decimal", precision: 38, scale }), values)
    }
  })

  it("encodes timestamps of every unit, near the fast path's edges and far from 1970", async () => {
    const edges = [0n, -1n, 1n, 2n ** 52n - 1n, -(2n ** 52n) + 1n, 2n ** 52n, -(2n ** 52n), 2n ** 53n + 1n]
    const perSecond = { s: 1n, ms: 1_000n, us: 1_000_000n }
    for (const unit of ["s", "ms", "us"] as const) {
      // Early in year 5 to 9 trillion seconds after 1970 (PostgreSQL's own range is wider, but
      // its text input spells years before 1 AD with BC, which ISO 8601 text does not).
      const first = -62_000_000_000n * perSecond[unit]
      const last = 9_000_000_000_000n * perSecond[unit]
      const values = [...edges, first, last, 1_700_000_000n * perSecond[unit]].filter((v) => v >= first && v <= last)
      await expectSameAsServer(column("ts", { kind: "timestamp", unit, timeZone: "UTC" }), values)
      await expectSameAsServer(column("ts", { kind: "timestamp", unit, timeZone: null }), values)
    }
    await expectSameAsServer(column("ts", { kind: "timestamp", unit: "ns", timeZone: "UTC" }), [
      1_700_000_000_123_456_000n,
      -1_000n,
      0n
    ])
  })

  it("encodes lists of every element type, empty lists and NULL elements", async () => {
    await expectSameAsServer(column("l", { kind: "list", element: { kind: "utf8" } }), [
      ["a", null, "ü"],
      [],
      null,
      [null]
    ])
    await expectSameAsServer(column("l", { kind: "list", element: { kind: "decimal", precision: 12, scale: 2 } }), [
      [1234n, -5n, null],
      []
    ])
    await expectSameAsServer(
      column("l", { kind: "list", element: { kind: "timestamp", unit: "us", timeZone: "UTC" } }),
      [[0n, 1_700_000_000_000_000n]]
    )
    await expectSameAsServer(column("l", { kind: "list", element: { kind: "int64" } }), [
      [2n ** 63n - 1n, -(2n ** 63n)]
    ])
  })

  it("refuses values PostgreSQL cannot hold, naming the column", () => {
    const failure = (col: Column, value: Value) =>
      encodeRows([{ column: col, json: "json" }], batchOf([col], [[value]]))
    expect(failure(column("t", { kind: "timestamp", unit: "ns", timeZone: null }), 1n)).toEqual(
      new EncodeFailure("t", "1970-01-01T00:00:00.000000001 has nanoseconds, and PostgreSQL keeps microseconds")
    )
    expect(failure(column("t", { kind: "timestamp", unit: "ms", timeZone: "UTC" }), 2n ** 63n - 1n)).toMatchObject({
      column: "t",
      message: expect.stringMatching(/outside the range of PostgreSQL timestamps/)
    })
    expect(failure(column("t", { kind: "timestamp", unit: "us", timeZone: null }), -(2n ** 63n))).toMatchObject({
      column: "t",
      message: expect.stringMatching(/outside the range/)
    })
    expect(failure(column("d", { kind: "date" }), 2_147_483_647)).toMatchObject({
      column: "d",
      message: expect.stringMatching(/outside the range of PostgreSQL dates/)
    })
    expect(
      failure(column("nested", { kind: "list", element: { kind: "list", element: { kind: "int32" } } }), [[1]])
    ).toMatchObject({ column: "nested" })
  })
})
