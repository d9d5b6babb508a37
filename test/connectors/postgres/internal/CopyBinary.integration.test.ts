/**
 * The COPY BINARY decoder on real server output: the same rows whatever the chunk
 * boundaries (down to one byte at a time), exact numerics of every shape, and clear
 * errors for streams that are cut, padded or shaped unlike the columns.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { to as copyTo } from "pg-copy-streams"
import type { CopyColumn } from "../../../../connectors/postgres/internal/CopyBinary.js"
import { CopyBinaryDecoder, CopyDecodeError } from "../../../../connectors/postgres/internal/CopyBinary.js"
import type { Batch } from "../../../../core/Batch.js"
import { rowsOf, rowText } from "../../../conformance/index.js"
import { makeSchema } from "../../../support/postgres.js"

let schema: Awaited<ReturnType<typeof makeSchema>>

const COLUMNS: ReadonlyArray<CopyColumn> = [
  { name: "id", type: { kind: "int32" }, nullable: true, wire: { kind: "int4" } },
  { name: "small", type: { kind: "int16" }, nullable: true, wire: { kind: "int2" } },
  { name: "big", type: { kind: "int64" }, nullable: true, wire: { kind: "int8" } },
  {
    name: "price",
    type: { kind: "decimal", precision: 38, scale: 10 },
    nullable: true,
    wire: { kind: "numeric", scale: 10 }
  },
  {
    name: "cents",
    type: { kind: "decimal", precision: 12, scale: 2 },
    nullable: true,
    wire: { kind: "numeric", scale: 2 }
  },
  { name: "label", type: { kind: "utf8" }, nullable: true, wire: { kind: "text" } },
  { name: "blob", type: { kind: "binary" }, nullable: true, wire: { kind: "bytea" } },
  { name: "at", type: { kind: "timestamp", unit: "us", timeZone: "UTC" }, nullable: true, wire: { kind: "timestamp" } },
  { name: "day", type: { kind: "date" }, nullable: true, wire: { kind: "date" } },
  { name: "clock", type: { kind: "time", unit: "us" }, nullable: true, wire: { kind: "time" } },
  { name: "ok", type: { kind: "bool" }, nullable: true, wire: { kind: "bool" } },
  { name: "ratio", type: { kind: "float32" }, nullable: true, wire: { kind: "float4" } },
  { name: "score", type: { kind: "float64" }, nullable: true, wire: { kind: "float8" } },
  { name: "ref", type: { kind: "uuid" }, nullable: true, wire: { kind: "uuid" } },
  { name: "doc", type: { kind: "json" }, nullable: true, wire: { kind: "jsonb" } },
  {
    name: "tags",
    type: { kind: "list", element: { kind: "utf8" } },
    nullable: true,
    wire: { kind: "array", element: { kind: "text" } }
  },
  {
    name: "amounts",
    type: { kind: "list", element: { kind: "decimal", precision: 12, scale: 2 } },
    nullable: true,
    wire: { kind: "array", element: { kind: "numeric", scale: 2 } }
  }
]

const PRICES = [
  "0",
  "0.0000000001",
  "-0.0000000001",
  "10000",
  "9999.9999",
  "1.5",
  "123456789012345678.9012345678",
  "9999999999999999999999999999.9999999999",
  "-9999999999999999999999999999.9999999999",
  "100000000000000000000",
  "0.00012",
  "-42"
]

let bytes: Buffer

beforeAll(async () => {
  schema = await makeSchema("copy")
  await schema.client.query(`
    SET search_path = ${schema.name};
    CREATE TABLE t (id int, small int2, big int8, price numeric(38,10), cents numeric(12,2), label text, blob bytea,
      at timestamptz, day date, clock time, ok bool, ratio float4, score float8, ref uuid, doc jsonb, tags text[], amounts numeric(12,2)[]);
    INSERT INTO t SELECT i, (i % 65536 - 32768)::int2, i::int8 * 1000000007 * (CASE WHEN i % 2 = 0 THEN -1 ELSE 1 END),
      (ARRAY[${PRICES.map((price) => `'${price}'`).join(",")}]::numeric(38,10)[])[1 + i % ${PRICES.length}],
      (i * 1.01)::numeric(12,2), repeat('é', i % 70), decode(repeat('00ff', i % 5), 'hex'),
      timestamptz '1950-06-15 12:00:00.000001Z' + i * interval '7 days 1 microsecond', date '1999-12-25' + i, time '00:00:01' + i * interval '1 second',
      i % 3 = 0, i / 7.0, i * 1e-3, md5(i::text)::uuid, jsonb_build_object('i', i, 'é', repeat('x', i % 4)),
      ARRAY['a' || i, NULL, ''], ARRAY[i * 0.01, NULL]::numeric(12,2)[]
    FROM generate_series(1, 3000) AS i;
    INSERT INTO t (id) VALUES (0);
    INSERT INTO t (id, big, tags, amounts) VALUES (-1, -9223372036854775808, '{}', '{}'), (-2, 9223372036854775807, NULL, NULL);
  `)
  const stream = schema.client.query(
    copyTo(`COPY (SELECT * FROM ${schema.name}.t ORDER BY id) TO STDOUT (FORMAT binary)`)
  )
  const chunks: Array<Buffer> = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  bytes = Buffer.concat(chunks)
})
afterAll(async () => {
  await schema.drop()
})

const columns = COLUMNS.map(({ name, nullable, type }) => ({ name, nullable, type }))

const decode = (chunks: Iterable<Uint8Array>, batchRows?: number): { batches: Array<Batch>; rows: Array<string> } => {
  const decoder = new CopyBinaryDecoder(COLUMNS, batchRows === undefined ? {} : { batchRows })
  const batches: Array<Batch> = []
  for (const chunk of chunks) batches.push(...decoder.push(chunk))
  const last = decoder.end()
  if (last !== undefined) batches.push(last)
  return { batches, rows: rowsOf(columns, batches).map((row) => JSON.stringify(rowText(columns, row))) }
}

function* splits(data: Uint8Array, sizes: () => number): Generator<Uint8Array> {
  for (let at = 0; at < data.length;) {
    const size = Math.max(1, sizes())
    yield data.subarray(at, at + size)
    at += size
  }
}

const caught = (run: () => unknown): CopyDecodeError => {
  try {
    run()
  } catch (error) {
    if (error instanceof CopyDecodeError) return error
    throw error
  }
  throw new Error("expected a CopyDecodeError")
}

describe("COPY BINARY decoder", () => {
  it("decodes every type, NULLs and the extremes", async () => {
    const { rows } = decode([bytes])
    expect(rows).toHaveLength(3003)
    const byId = new Map(rows.map((row) => [JSON.parse(row)[0] as string, JSON.parse(row) as Array<string | null>]))
    expect(byId.get("0")!.slice(1)).toEqual(COLUMNS.slice(1).map(() => null))
    expect(byId.get("-1")!.slice(2, 3)).toEqual(["-9223372036854775808"])
    expect(byId.get("-1")!.slice(15)).toEqual(["[]", "[]"])
    expect(byId.get("-2")!.slice(2, 3)).toEqual(["9223372036854775807"])
    expect(byId.get("7")).toEqual([
      "7",
      "-32761",
      "7000000049",
      "9999999999999999999999999999.9999999999",
      "7.07",
      "ééééééé",
      "\\x00ff00ff",
      "1950-08-03T12:00:00.000008Z",
      "2000-01-01",
      "00:00:08",
      "false",
      String(Math.fround(1)),
      "0.007",
      "8f14e45f-ceea-167a-5a36-dedd4bea2543",
      '{"i": 7, "é": "xxx"}',
      '["a7",null,""]',
      '["0.07",null]'
    ])
    // Every shape of numeric: digits before and after the point, powers of 10000, both signs.
    const prices = PRICES.map((price) => {
      const negative = price.startsWith("-")
      const [whole, fraction = ""] = price.replace("-", "").split(".")
      return `${negative ? "-" : ""}${whole}.${fraction.padEnd(10, "0")}`
    })
    for (let i = 1; i <= 24; i++) expect(byId.get(String(i))![3]).toBe(prices[i % PRICES.length])
  })

  it("gives the same rows whatever the chunk boundaries, down to one byte at a time", () => {
    const whole = decode([bytes]).rows
    expect(decode(splits(bytes, () => 1)).rows).toEqual(whole)
    let seed = 7
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % 4000
    }
    expect(decode(splits(bytes, random)).rows).toEqual(whole)
    expect(decode(splits(bytes, () => 65536)).rows).toEqual(whole)
  })

  it("cuts batches at the row budget", () => {
    const { batches, rows } = decode([bytes], 1000)
    expect(batches.map((batch) => batch.numRows)).toEqual([1000, 1000, 1000, 3])
    expect(rows).toEqual(decode([bytes]).rows)
  })

  it("skips a header extension area", () => {
    const extended = Buffer.concat([bytes.subarray(0, 15), Buffer.from([0, 0, 0, 4, 1, 2, 3, 4]), bytes.subarray(19)])
    expect(decode([extended]).rows).toEqual(decode([bytes]).rows)
  })

  it("refuses cut, padded and foreign streams", () => {
    expect(caught(() => decode([bytes.subarray(0, bytes.length - 100)])).message).toContain("ended before its trailer")
    expect(caught(() => decode([bytes, Buffer.from([1])])).message).toContain("after the end")
    expect(caught(() => decode([Buffer.from("id,name\n1,x\n".repeat(3))])).message).toContain("not in COPY BINARY")
    const fewer = new CopyBinaryDecoder(COLUMNS.slice(0, 3))
    expect(caught(() => fewer.push(bytes)).message).toContain("a row of 17 fields, where 3 were asked for")
  })

  it("refuses multi-dimensional arrays, naming the column", async () => {
    const stream = schema.client.query(copyTo("COPY (SELECT ARRAY[['a','b'],['c','d']]) TO STDOUT (FORMAT binary)"))
    const chunks: Array<Buffer> = []
    for await (const chunk of stream) chunks.push(chunk as Buffer)
    const decoder = new CopyBinaryDecoder([COLUMNS[15]!])
    const error = caught(() => decoder.push(Buffer.concat(chunks)))
    expect(error.column).toBe("tags")
    expect(error.message).toContain("2-dimensional")
  })
})
