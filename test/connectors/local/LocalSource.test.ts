import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { SourceError } from "../../../core/Errors.js"
import type { FileRange, ReadPlan } from "../../../core/Source.js"
import type { Column } from "../../../core/Types.js"
import { typeName } from "../../../core/Types.js"
import type { LocalDatasetConfig, LocalWatermark } from "../../../connectors/local/LocalSource.js"
import { LocalDatasetConfig as DatasetSchema, localSource } from "../../../connectors/local/LocalSource.js"
import { Parquet } from "../../../sinks/formats/Parquet.js"
import { batchOf, collect, column, rowsOf, rowText } from "../../conformance/Tables.js"
import { readPlan } from "../../support/plans.js"

const base = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-local-source-"))
afterAll(() => fs.rmSync(base, { recursive: true, force: true }))

let folders = 0
/** A fresh store root holding the given files (text or bytes), with their parent folders. */
const store = (files: Record<string, string | Uint8Array> = {}): string => {
  const root = path.join(base, `store-${++folders}`)
  fs.mkdirSync(root, { recursive: true })
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true })
    fs.writeFileSync(path.join(root, name), content)
  }
  return root
}

const dataset = (fields: Record<string, unknown>): LocalDatasetConfig => Schema.decodeUnknownSync(DatasetSchema)(fields)

const open = (root: string) => localSource.open({ root }, { store: "src", baseDir: root })

const plan = (overrides: Partial<ReadPlan<LocalWatermark>> = {}): ReadPlan<LocalWatermark> => readPlan("d", overrides)

/** The dataset's columns (as type names) and every row as text. */
const readTable = (root: string, fields: Record<string, unknown>, readPlan = plan()) =>
  Effect.gen(function* () {
    const session = yield* open(root)
    const config = dataset(fields)
    const description = yield* session.describe(config)
    if (description.kind !== "table") throw new Error("expected a table")
    const pages = yield* collect(session.readTable!(config, readPlan))
    const columns = description.columns
    const names = Option.getOrElse(readPlan.columns, () => columns.map((c) => c.name))
    const read = names.map((name) => columns.find((c) => c.name === name)!)
    return {
      types: Object.fromEntries(columns.map((c) => [c.name, typeName(c.type)])),
      rows: rowsOf(
        read,
        pages.map((page) => page.batch)
      ).map((row) => rowText(read, row)),
      watermarks: pages.flatMap((page) => Option.toArray(page.watermark))
    }
  })

const refusal = <A, R>(effect: Effect.Effect<A, SourceError, R>) =>
  Effect.map(Effect.flip(effect), (error) => ({ file: error.file, message: error.message }))

describe("local source: tables", () => {
  it.scoped("reads a CSV file, inferring types; column_types fixes the ones it names", () =>
    Effect.gen(function* () {
      const root = store({ "sales.csv": "id,amount,sold_at\n1,10.5,2026-01-01T10:00:00Z\n2,,2026-01-02T10:00:00Z\n" })
      const inferred = yield* readTable(root, { table: "sales.csv" })
      expect(inferred.types).toEqual({ id: "int64", amount: "float64", sold_at: "timestamp(us, UTC)" })
      const declared = yield* readTable(root, {
        table: "sales.csv",
        column_types: { id: "int32", amount: "decimal(12,2)" }
      })
      expect(declared.types).toEqual({ id: "int32", amount: "decimal(12,2)", sold_at: "timestamp(us, UTC)" })
      expect(declared.rows).toEqual([
        ["1", "10.50", "2026-01-01T10:00:00Z"],
        ["2", null, "2026-01-02T10:00:00Z"]
      ])
    })
  )

  it.scoped("reads Parquet and JSON Lines files, with the format from the extension", () =>
    Effect.gen(function* () {
      const columns: ReadonlyArray<Column> = [
        column("id", { kind: "int64" }),
        column("price", { kind: "decimal", precision: 10, scale: 2 })
      ]
      const parquet = yield* collect(
        Parquet.encode(columns, Stream.make(batchOf(columns, [[1n, 1999n]])), {
          compression: "snappy",
          row_group_rows: 1000
        })
      )
      const root = store({
        "prices.parquet": Buffer.concat(parquet),
        "prices.jsonl": '{"id":2,"price":"5.25"}\n{"id":3,"price":null}\n'
      })
      const fromParquet = yield* readTable(root, { table: "prices.parquet" })
      expect(fromParquet).toMatchObject({ types: { id: "int64", price: "decimal(10,2)" }, rows: [["1", "19.99"]] })
      const fromJsonl = yield* readTable(root, { table: "prices.jsonl", column_types: { price: "decimal(10,2)" } })
      expect(fromJsonl).toMatchObject({
        types: { id: "int64", price: "decimal(10,2)" },
        rows: [
          ["2", "5.25"],
          ["3", null]
        ]
      })
    })
  )

  it.scoped("reads a folder of part files in path order, skipping other files and Ferry's own", () =>
    Effect.gen(function* () {
      const root = store({
        "orders/part-2.csv": "id,item\n3,c\n",
        "orders/part-1.csv": "id,item\n1,a\n2,b\n",
        "orders/sub/part-3.csv": "id,item\n4,d\n",
        "orders/README.txt": "not a part",
        "orders/.ferry-staging-run/part-9.csv": "id,item\n99,staged\n",
        "orders/_ferry/manifests/x.csv": "id,item\n98,bookkeeping\n"
      })
      const table = yield* readTable(root, { table: "orders/", format: "csv" })
      expect(table.rows).toEqual([
        ["1", "a"],
        ["2", "b"],
        ["3", "c"],
        ["4", "d"]
      ])
      const inferred = yield* readTable(root, { table: "orders/" })
      expect(inferred.rows).toEqual(table.rows)
    })
  )

  it.scoped("asks for format: when a folder holds table files of several formats", () =>
    Effect.gen(function* () {
      const root = store({ "mixed/a.csv": "id\n1\n", "mixed/b.jsonl": '{"id":2}\n' })
      const error = yield* refusal(readTable(root, { table: "mixed" }))
      expect(error.message).toBe("mixed holds csv and jsonl files; add format: to say which make the table")
      const csv = yield* readTable(root, { table: "mixed", format: "csv" })
      expect(csv.rows).toEqual([["1"]])
    })
  )

  it.scoped("takes the format from format: when the extension does not say, and asks for it otherwise", () =>
    Effect.gen(function* () {
      const root = store({ "export.txt": "id;name\n1;a\n" })
      const table = yield* readTable(root, { table: "export.txt", format: "csv", csv: { delimiter: ";" } })
      expect(table.rows).toEqual([["1", "a"]])
      const error = yield* refusal(readTable(root, { table: "export.txt" }))
      expect(error.message).toBe(
        "the format of export.txt is not known from its name or its files; add format: csv, parquet or jsonl"
      )
    })
  )

  it.scoped("reads incrementally after a watermark, and gives the new watermark on the last page", () =>
    Effect.gen(function* () {
      const root = store({
        "events.csv": "id,at\n1,2026-01-01T00:00:00Z\n2,2026-01-01T00:00:01Z\n3,2026-01-01T00:00:01Z\n"
      })
      const incremental = Option.some({ cursor: "at", key: ["id"], lookback: Option.none() })
      const table = yield* readTable(
        root,
        { table: "events.csv" },
        plan({
          mode: "incremental",
          incremental,
          after: Option.some({ cursor: "2026-01-01T00:00:01Z", key: ["2"] })
        })
      )
      expect(table.rows).toEqual([["3", "2026-01-01T00:00:01Z"]])
      expect(table.watermarks).toEqual([{ cursor: "2026-01-01T00:00:01Z", key: ["3"] }])
    })
  )
})

describe("local source: files", () => {
  const at = (iso: string) => new Date(iso)
  const files = (root: string, name: string, range: FileRange) =>
    Effect.gen(function* () {
      const session = yield* open(root)
      const entries = yield* collect(session.files!.list(dataset({ files: name }), range))
      return entries.map((entry) => [entry.path, new Date(entry.lastModified).toISOString()])
    })

  it.scoped("lists files by (modification time, path), after a watermark and up to a bound", () =>
    Effect.gen(function* () {
      const root = store({ "docs/b.txt": "b", "docs/a.txt": "a", "docs/sub/c.txt": "c", "docs/d.txt": "d" })
      const times: Record<string, string> = {
        "b.txt": "2026-01-01T00:00:00.000Z",
        "a.txt": "2026-01-01T00:00:01.000Z",
        "sub/c.txt": "2026-01-01T00:00:01.000Z",
        "d.txt": "2026-01-01T00:00:05.000Z"
      }
      for (const [name, time] of Object.entries(times)) fs.utimesSync(path.join(root, "docs", name), at(time), at(time))

      const all = yield* files(root, "docs/", { after: Option.none(), until: Number.MAX_SAFE_INTEGER })
      expect(all).toEqual([
        ["b.txt", times["b.txt"]],
        ["a.txt", times["a.txt"]],
        ["sub/c.txt", times["sub/c.txt"]],
        ["d.txt", times["d.txt"]]
      ])
      // After (t1, a.txt): the file sharing t1 but later in path order still comes; d is past the bound.
      const range: FileRange = {
        after: Option.some({ lastModified: at(times["a.txt"]!).getTime(), path: "a.txt" }),
        until: at("2026-01-01T00:00:04.999Z").getTime()
      }
      expect(yield* files(root, "docs", range)).toEqual([["sub/c.txt", times["sub/c.txt"]]])
    })
  )

  it.scoped("reads a file's bytes and tells when it changed", () =>
    Effect.gen(function* () {
      const root = store({ "docs/a.bin": new Uint8Array([0, 1, 2, 255]) })
      const session = yield* open(root)
      const config = dataset({ files: "docs" })
      const [entry] = yield* collect(session.files!.list(config, { after: Option.none(), until: Date.now() + 1000 }))
      const bytes = yield* collect(session.files!.read(config, entry!))
      expect([...Buffer.concat(bytes)]).toEqual([0, 1, 2, 255])
      expect((yield* session.files!.stat(config, "a.bin")).etag).toBe(entry!.etag)
      fs.writeFileSync(path.join(root, "docs", "a.bin"), "changed")
      expect((yield* session.files!.stat(config, "a.bin")).etag).not.toBe(entry!.etag)
    })
  )
})

describe("local source: paths outside the root", () => {
  const outside = store({ "secret.csv": "id\n1\n", "secret-folder/x.txt": "x" })

  it.scoped("refuses .., absolute paths and symbolic links leading out, naming the path", () =>
    Effect.gen(function* () {
      const root = store({ "ok.csv": "id\n1\n", "docs/ok.txt": "ok" })
      fs.symlinkSync(outside, path.join(root, "link"))
      const climbing = yield* refusal(readTable(root, { table: "../secret.csv" }))
      expect(climbing).toEqual({
        file: "../secret.csv",
        message: `path "../secret.csv" is outside the store's root ${root}`
      })
      const absolute = yield* refusal(readTable(root, { table: path.join(outside, "secret.csv") }))
      expect(absolute.message).toContain(`path "${path.join(outside, "secret.csv")}" is absolute`)
      const linked = yield* refusal(readTable(root, { table: "link/secret.csv" }))
      expect(linked.message).toBe(
        `path "link/secret.csv" leads through a symbolic link outside the store's root ${root}`
      )
      const session = yield* open(root)
      const linkedFolder = yield* refusal(
        collect(session.files!.list(dataset({ files: "link/secret-folder" }), { after: Option.none(), until: 0 }))
      )
      expect(linkedFolder.message).toContain('path "link/secret-folder" leads through a symbolic link outside')
    })
  )

  it.scoped("refuses a symbolic link inside a shared folder that points out of the root", () =>
    Effect.gen(function* () {
      const root = store({ "docs/ok.txt": "ok" })
      fs.symlinkSync(path.join(outside, "secret.csv"), path.join(root, "docs", "escape.csv"))
      const session = yield* open(root)
      const error = yield* refusal(
        collect(
          session.files!.list(dataset({ files: "docs" }), { after: Option.none(), until: Number.MAX_SAFE_INTEGER })
        )
      )
      expect(error).toEqual({
        file: "docs/escape.csv",
        message: `path "docs/escape.csv" leads through a symbolic link outside the store's root ${root}`
      })
      // The same link in a table folder is refused the same way.
      const table = yield* refusal(readTable(root, { table: "docs/", format: "csv" }))
      expect(table.message).toContain('path "docs/escape.csv" leads through a symbolic link outside')
    })
  )
})
