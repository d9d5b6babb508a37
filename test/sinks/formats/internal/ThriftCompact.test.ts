import { DuckDBInstance } from "@duckdb/node-api"
import { describe, expect, it } from "@effect/vitest"
import * as Arrow from "apache-arrow"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as ParquetWasm from "parquet-wasm"
import { decodeStruct, encodeStruct, field, ThriftType } from "../../../../sinks/formats/internal/ThriftCompact.js"

const footerOf = (file: Uint8Array): Uint8Array => {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength)
  const length = view.getUint32(file.length - 8, true)
  return file.subarray(file.length - 8 - length, file.length - 8)
}

describe("ThriftCompact", () => {
  it("re-encodes a footer the Rust writer made byte for byte", () => {
    const table = new Arrow.Table({
      id: Arrow.vectorFromArray([1n, -2n, 2n ** 62n], new Arrow.Int64()),
      name: Arrow.vectorFromArray(["a", null, "ü"], new Arrow.Utf8()),
      score: Arrow.vectorFromArray([1.5, NaN, -0], new Arrow.Float64())
    })
    const file = ParquetWasm.writeParquet(ParquetWasm.Table.fromIPCStream(Arrow.tableToIPC(table, "stream")))
    const footer = footerOf(file)
    const metadata = decodeStruct(footer)
    expect(field(metadata, 3)).toBe(3n) // num_rows
    expect(encodeStruct(metadata)).toEqual(footer)
  })

  it("re-encodes a footer DuckDB wrote byte for byte, statistics and all", async () => {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-thrift-test-"))
    try {
      const target = path.join(directory, "duck.parquet")
      const connection = await (await DuckDBInstance.create(":memory:")).connect()
      await connection.run(
        `COPY (SELECT range AS id, range::VARCHAR AS text, range % 2 = 0 AS even, [range, NULL] AS pair
               FROM range(5000)) TO '${target}' (FORMAT parquet, ROW_GROUP_SIZE 1000)`
      )
      connection.closeSync()
      const footer = footerOf(new Uint8Array(fs.readFileSync(target)))
      const metadata = decodeStruct(footer)
      const rowGroups = metadata.fields.find((candidate) => candidate.id === 4)!
      expect(rowGroups.type).toBe(ThriftType.List)
      expect(encodeStruct(metadata)).toEqual(footer)
    } finally {
      fs.rmSync(directory, { recursive: true, force: true })
    }
  })
})
