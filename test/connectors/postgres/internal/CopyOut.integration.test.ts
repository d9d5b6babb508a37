/**
 * The copy-out stream gives exactly the COPY data's bytes, with notices interspersed
 * between rows, and leaves the connection usable after the copy or after an error in
 * the middle of it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type pg from "pg"
import { to as copyTo } from "pg-copy-streams"
import { copyOut } from "../../../../connectors/postgres/internal/CopyOut.js"
import { connect } from "../../../support/postgres.js"

let client: pg.Client

beforeAll(async () => {
  client = await connect()
})
afterAll(async () => {
  await client.end()
})

/** The bytes of a copy-out: pg-copy-streams gives chunks, copyOut lists of them. */
const collect = async (stream: AsyncIterable<Buffer | ReadonlyArray<Buffer>>): Promise<Buffer> => {
  const chunks: Array<Buffer> = []
  for await (const chunk of stream) chunks.push(...(Buffer.isBuffer(chunk) ? [chunk] : chunk))
  return Buffer.concat(chunks)
}

describe("copy out", () => {
  it("gives the same bytes as pg-copy-streams, for text and binary, small and large", async () => {
    for (const sql of [
      "COPY (SELECT i, repeat('x', i % 300), i * 0.5 FROM generate_series(1, 20000) AS i) TO STDOUT (FORMAT binary)",
      "COPY (SELECT i, md5(i::text) FROM generate_series(1, 5000) AS i) TO STDOUT",
      "COPY (SELECT repeat('é', 200000) FROM generate_series(1, 3)) TO STDOUT (FORMAT binary)",
      "COPY (SELECT 1 WHERE false) TO STDOUT (FORMAT binary)"
    ]) {
      const ours = await collect(client.query(copyOut(sql)))
      const theirs = await collect(client.query(copyTo(sql)))
      expect(ours.equals(theirs)).toBe(true)
      expect((await client.query("SELECT 42 AS n")).rows[0].n).toBe(42)
    }
  })

  it("skips notices sent between rows", async () => {
    await client.query(`CREATE OR REPLACE FUNCTION pg_temp.noisy(i int) RETURNS int LANGUAGE plpgsql AS
      $$ BEGIN RAISE NOTICE 'row %', i; RETURN i; END $$`)
    const sql = "COPY (SELECT pg_temp.noisy(i) FROM generate_series(1, 300) AS i) TO STDOUT"
    const text = (await collect(client.query(copyOut(sql)))).toString("utf8")
    expect(text).toBe(Array.from({ length: 300 }, (_, i) => `${i + 1}\n`).join(""))
  })

  it("fails with the server's error in the middle of a copy, and the connection goes on", async () => {
    const sql = "COPY (SELECT 1 / (i - 5000) FROM generate_series(1, 10000) AS i) TO STDOUT (FORMAT binary)"
    await expect(collect(client.query(copyOut(sql)))).rejects.toThrow("division by zero")
    expect((await client.query("SELECT 7 AS n")).rows[0].n).toBe(7)
    await expect(collect(client.query(copyOut("COPY (SELECT * FROM no_such_table) TO STDOUT")))).rejects.toThrow(
      'relation "no_such_table" does not exist'
    )
    expect((await client.query("SELECT 8 AS n")).rows[0].n).toBe(8)
  })
})
