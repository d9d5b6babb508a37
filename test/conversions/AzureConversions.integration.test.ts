/**
 * The conversions between Azure Blob Storage, local folders and PostgreSQL, each through
 * the run path (`runSnapshots`, as `ferry run` does) against Azurite and the tests'
 * PostgreSQL server, each followed by an incremental run that must bring only what is
 * new or changed:
 *
 * - blob → blob (copied by the service, bytes untouched) and local → blob (streamed);
 * - a PostgreSQL table → CSV and Parquet blobs, read back (Parquet with DuckDB) and
 *   compared value by value: decimals, timestamps with zone, NULLs, non-ASCII text;
 * - CSV blobs and Parquet blobs (written by DuckDB) → PostgreSQL tables: replaced, then
 *   merged on the key with the changed rows.
 *
 * What other files already prove (blob → blob and local ↔ blob full snapshots, blob →
 * local incremental, tables from blobs into local files) is not repeated here; the list
 * is in docs/azure-blob.md. The database is one of the test file's own, dropped at the
 * end (the PostgreSQL sink keeps its bookkeeping in the database it writes to); Azurite
 * keeps its data in memory; every container is deleted with its test.
 */
import { DuckDBInstance } from "@duckdb/node-api"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { parse } from "csv-parse/sync"
import * as Effect from "effect/Effect"
import { createHash, randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { Ran } from "../runtime/RunSupport.js"
import { datasetsOf, runOnce, shareConfig, workspace } from "../runtime/RunSupport.js"
import type { Azurite } from "../support/azurite.js"
import { container, keyStoreLine, manifestsOf, publishedBlobs, putBlobs, startAzurite } from "../support/azurite.js"
import type { TestDatabase } from "../support/postgres.js"
import { createDatabase } from "../support/postgres.js"

let azurite: Azurite
let database: TestDatabase
beforeAll(async () => {
  ;[azurite, database] = await Promise.all([startAzurite(), createDatabase("ferry_azure_conversions")])
  await database.query("CREATE SCHEMA src; CREATE SCHEMA dst")
}, 30_000)
afterAll(async () => {
  await Promise.all([azurite?.stop(), database?.drop()])
}, 30_000)

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")
const md5 = (bytes: Uint8Array) => createHash("md5").update(bytes).digest("hex")

/** A blob store line of a share config, signed with the development key. */
const blobStore = (name: string, account: string) => keyStoreLine(azurite, name, account)

const pgStore = (name: string, account: string) =>
  `${name}: { type: postgres, url: "${database.url}", account: ${account} }`

/** Each dataset's outcome, by name. */
const outcomes = (ran: Ran) => Object.fromEntries(datasetsOf(ran).map((outcome) => [outcome.dataset, outcome]))

/** The files a consumer sees under a target folder of a container, by path, without Ferry's bookkeeping. */
const published = (bucket: string, folder: string) => publishedBlobs(azurite, bucket, folder)

/** Blob times are whole seconds and a listing leaves out the second the service is in: wait past it. */
const settle = Effect.sleep(2_100)

// ---- the rows every table conversion carries --------------------------------------------

/**
 * id, name, amount numeric(12,2), placed_at timestamptz, updated_at timestamptz (the cursor).
 * Each value as PostgreSQL prints it in UTC, which is also how DuckDB prints a Parquet
 * value read back; `null` is NULL.
 */
type Row = readonly [id: string, name: string | null, amount: string | null, at: string | null, updated: string]

const ROWS: ReadonlyArray<Row> = [
  ["1", 'Zoë Müller, "Zo"', "1234567890.12", "2026-03-01 00:30:00.123456+00", "2026-03-01 00:00:01+00"],
  ["2", "東京都 渋谷区\nline two", "-0.05", "1969-12-31 23:59:59.999999+00", "2026-03-01 00:00:02+00"],
  ["3", "", null, null, "2026-03-01 00:00:03+00"],
  ["4", null, "0.00", "2000-02-29 17:00:00+00", "2026-03-01 00:00:04+00"]
]
/** Row 2 changed and row 5 new, after every other row's cursor. */
const CHANGED: ReadonlyArray<Row> = [
  ["2", "changed 🚀", "99999.99", "2026-03-02 10:00:00+00", "2026-03-02 00:00:00+00"],
  ["5", " leading space", "-9999999999.99", "1900-01-01 00:00:00.000001+00", "2026-03-03 00:00:00+00"]
]
/** The rows after the changes, by id. */
const MERGED: ReadonlyArray<Row> = [ROWS[0]!, CHANGED[0]!, ROWS[2]!, ROWS[3]!, CHANGED[1]!]

/** The same instants written with other offsets, as a provider's session or file may give them. */
const AT_AS_WRITTEN: Record<string, string> = {
  "2026-03-01 00:30:00.123456+00": "2026-03-01T09:30:00.123456+09:00",
  "2000-02-29 17:00:00+00": "2000-02-29T12:00:00-05:00",
  "2026-03-02 10:00:00+00": "2026-03-02T05:00:00-05:00"
}
const asWritten = (value: string) => AT_AS_WRITTEN[value] ?? value.replace(" ", "T").replace(/\+00$/, "Z")

/** A PostgreSQL text form in UTC as Ferry's CSV writes it: ISO 8601 with `Z`. */
const csvTimestamp = (value: string) => value.replace(" ", "T").replace(/\+00$/, "Z")
const asCsvRecord = (row: Row) => [
  row[0],
  row[1],
  row[2],
  row[3] === null ? null : csvTimestamp(row[3]),
  csvTimestamp(row[4])
]

const sqlText = (value: string | null) => (value === null ? "NULL" : `'${value.replaceAll("'", "''")}'`)
const insertRows = (table: string, rows: ReadonlyArray<Row>) =>
  `INSERT INTO ${table} VALUES ${rows
    .map(([id, name, amount, at, updated]) =>
      [id, sqlText(name), amount ?? "NULL", at === null ? "NULL" : sqlText(asWritten(at)), sqlText(updated)].join(", ")
    )
    .map((values) => `(${values})`)
    .join(", ")}`

/** A table's rows in id order, each value as PostgreSQL prints it in UTC. */
const tableRows = (table: string) =>
  Effect.promise(async () => {
    const client = await database.pool.connect()
    try {
      await client.query("SET TIME ZONE 'UTC'")
      const result = await client.query<Array<string | null>>({
        text: `SELECT id::text, name, amount::text, placed_at::text, updated_at::text FROM ${table} ORDER BY id`,
        rowMode: "array"
      })
      return result.rows
    } finally {
      client.release()
    }
  })

/** The records of a CSV file, header first; a quoted empty field is "", an unquoted one NULL. */
const csvRecords = (bytes: Buffer): Array<Array<string | null>> =>
  parse(bytes, {
    cast: (value, context) => (value === "" && !context.quoting ? null : value)
  }) as Array<Array<string | null>>

/** A Parquet file's rows, read by DuckDB, in id order, with the DuckDB types of amount and placed_at. */
const parquetRows = (bytes: Buffer) =>
  Effect.promise(async () => {
    const file = path.join(os.tmpdir(), `ferry-${randomBytes(6).toString("hex")}.parquet`)
    fs.writeFileSync(file, bytes)
    const instance = await DuckDBInstance.create(":memory:")
    const duck = await instance.connect()
    try {
      await duck.run("SET TimeZone = 'UTC'")
      const reader = await duck.runAndReadAll(
        `SELECT id::VARCHAR, name, amount::VARCHAR, placed_at::VARCHAR, updated_at::VARCHAR, typeof(amount), typeof(placed_at)
         FROM read_parquet('${file}') ORDER BY id`
      )
      return reader.getRows().map((row) => row.map((value) => (value === null ? null : String(value))))
    } finally {
      duck.closeSync()
      instance.closeSync()
      fs.rmSync(file, { force: true })
    }
  })

/** A Parquet file of the rows, written by DuckDB (another writer than Ferry's). */
const duckdbParquet = (rows: ReadonlyArray<Row>) =>
  Effect.promise(async () => {
    const file = path.join(os.tmpdir(), `ferry-${randomBytes(6).toString("hex")}.parquet`)
    const instance = await DuckDBInstance.create(":memory:")
    const duck = await instance.connect()
    try {
      const values = rows
        .map(
          ([id, name, amount, at, updated]) =>
            `(${id}::BIGINT, ${sqlText(name)}, ${amount ?? "NULL"}::DECIMAL(12,2), ${at === null ? "NULL" : sqlText(asWritten(at))}::TIMESTAMPTZ, ${sqlText(updated)}::TIMESTAMPTZ)`
        )
        .join(", ")
      await duck.run(
        `COPY (SELECT * FROM (VALUES ${values}) AS t(id, name, amount, placed_at, updated_at)) TO '${file}' (FORMAT parquet)`
      )
      return fs.readFileSync(file)
    } finally {
      duck.closeSync()
      instance.closeSync()
      fs.rmSync(file, { force: true })
    }
  })

/** A CSV file of the rows as a provider may write it: offsets other than UTC, NULL as an empty field. */
const providerCsv = (rows: ReadonlyArray<Row>, header: boolean) => {
  const field = (value: string | null) =>
    value === null ? "" : /[",\n]|^$|^\s/.test(value) ? `"${value.replaceAll('"', '""')}"` : value
  const lines = rows.map(([id, name, amount, at, updated]) =>
    [id, field(name), amount ?? "", at === null ? "" : asWritten(at), asWritten(updated)].join(",")
  )
  return `${header ? "id,name,amount,placed_at,updated_at\n" : ""}${lines.join("\n")}\n`
}

describe("Azure Blob Storage conversions through the run path", () => {
  it.scopedLive("blob → blob server-side and local → blob streamed: full, then only what was added or changed", () =>
    Effect.gen(function* () {
      const lake = yield* container(azurite)
      const inbox = yield* container(azurite)
      const bytes = (seed: number, size: number) =>
        Buffer.from(Array.from({ length: size }, (_, i) => (i * seed) % 256))
      const blobs = new Map<string, Buffer>([
        ["a.bin", bytes(3, 40_000)],
        ["b.bin", bytes(5, 90_000)],
        ["deep/c.txt", Buffer.from("ça va, 東京\n")]
      ])
      const client = azurite.service.getContainerClient(lake)
      yield* Effect.promise(async () => {
        for (const [name, content] of blobs) {
          // A content type and metadata of its own: a server-side copy keeps them, a re-upload would not.
          await client.getBlockBlobClient(`docs/${name}`).uploadData(content, {
            blobHTTPHeaders: { blobContentType: "application/x-ferry-test" },
            metadata: { origin: "lake" }
          })
        }
      })
      const space = workspace(
        shareConfig({
          stores: [blobStore("lake", "contoso"), blobStore("inbox", "fabrikam")],
          datasets: [
            `{ name: blobs, source: { store: lake, container: ${lake}, prefix: docs } }`,
            "{ name: local, source: { store: src, files: docs } }"
          ],
          mappings: [
            `blobs: { store: inbox, container: ${inbox}, path: from-blob/ }`,
            `local: { store: inbox, container: ${inbox}, path: from-local/ }`
          ]
        })
      )
      yield* Effect.addFinalizer(() => Effect.sync(space.remove))
      const files = new Map<string, Buffer>([
        ["x.csv", Buffer.from("id\n1\n")],
        ["sub/y.bin", bytes(7, 120_000)]
      ])
      const old = new Date(Date.now() - 20_000)
      for (const [name, content] of files) fs.utimesSync(space.write(`docs/${name}`, content), old, old)
      yield* settle

      const first = outcomes(yield* runOnce(space))
      expect(first["blobs"]).toMatchObject({
        status: "succeeded",
        mode: "full",
        files: 3,
        message: "copied inside the store: 3 files, 0 B through Ferry"
      })
      expect(first["local"]).toMatchObject({ status: "succeeded", mode: "full", files: 2 })
      expect(first["local"]!.message).toBeUndefined()

      // b.bin rewritten and d.bin added in the lake; y.bin changed and z.txt added in the folder.
      blobs.set("b.bin", bytes(11, 70_000))
      blobs.set("d.bin", bytes(13, 5_000))
      yield* Effect.promise(async () => {
        for (const name of ["b.bin", "d.bin"]) {
          await client.getBlockBlobClient(`docs/${name}`).uploadData(blobs.get(name)!, {
            blobHTTPHeaders: { blobContentType: "application/x-ferry-test" },
            metadata: { origin: "lake" }
          })
        }
      })
      files.set("sub/y.bin", bytes(17, 100_000))
      files.set("z.txt", Buffer.from("new\n"))
      const recent = new Date(Date.now() - 5_000)
      for (const name of ["sub/y.bin", "z.txt"])
        fs.utimesSync(space.write(`docs/${name}`, files.get(name)!), recent, recent)
      yield* settle

      const second = outcomes(yield* runOnce(space))
      expect(second["blobs"]).toMatchObject({
        status: "succeeded",
        mode: "incremental",
        files: 2,
        message: "copied inside the store: 2 files, 0 B through Ferry"
      })
      expect(second["local"]).toMatchObject({ status: "succeeded", mode: "incremental", files: 2 })

      // Every file as it is at the source, the unchanged ones from the first run.
      const fromBlob = yield* Effect.promise(() => published(inbox, "from-blob/"))
      expect(new Map([...fromBlob].map(([name, content]) => [name, sha256(content)]))).toEqual(
        new Map([...blobs].map(([name, content]) => [name, sha256(content)]))
      )
      const fromLocal = yield* Effect.promise(() => published(inbox, "from-local/"))
      expect(new Map([...fromLocal].map(([name, content]) => [name, sha256(content)]))).toEqual(
        new Map([...files].map(([name, content]) => [name, sha256(content)]))
      )
      // Copied by the service: the blob keeps its content type and metadata.
      const copied = yield* Effect.promise(() =>
        azurite.service.getContainerClient(inbox).getBlobClient("from-blob/d.bin").getProperties()
      )
      expect([copied.contentType, copied.metadata]).toEqual(["application/x-ferry-test", { origin: "lake" }])

      // Each run's manifest lists what it delivered: the second only the two changed or added files.
      const blobRuns = yield* Effect.promise(() => manifestsOf(azurite, inbox, "from-blob/"))
      expect(blobRuns.map((manifest) => [manifest.mode, manifest.copied_in_store])).toEqual([
        ["replace", 3],
        ["append", 2]
      ])
      expect(blobRuns[1]!.files.map((file) => [file.path, file.md5])).toEqual([
        ["b.bin", md5(blobs.get("b.bin")!)],
        ["d.bin", md5(blobs.get("d.bin")!)]
      ])
      const localRuns = yield* Effect.promise(() => manifestsOf(azurite, inbox, "from-local/"))
      expect(localRuns.map((manifest) => [manifest.mode, manifest.copied_in_store])).toEqual([
        ["replace", 0],
        ["append", 0]
      ])
      expect(localRuns[1]!.files.map((file) => [file.path, file.sha256])).toEqual([
        ["sub/y.bin", sha256(files.get("sub/y.bin")!)],
        ["z.txt", sha256(files.get("z.txt")!)]
      ])

      const third = outcomes(yield* runOnce(space))
      expect([third["blobs"], third["local"]]).toMatchObject([
        { mode: "incremental", files: 0 },
        { mode: "incremental", files: 0 }
      ])
    })
  )

  it.scopedLive("a PostgreSQL table → CSV and Parquet blobs, then only the changed rows", () =>
    Effect.gen(function* () {
      const lake = yield* container(azurite)
      yield* Effect.promise(async () => {
        await database.query(
          "CREATE TABLE src.orders (id bigint PRIMARY KEY, name text, amount numeric(12,2), placed_at timestamptz, updated_at timestamptz NOT NULL)"
        )
        await database.query(insertRows("src.orders", ROWS))
      })
      const incremental = "incremental: { cursor: updated_at, key: [id] }"
      const space = workspace(
        shareConfig({
          stores: [pgStore("db", "contoso"), blobStore("lake", "fabrikam")],
          datasets: [
            `{ name: as-csv, source: { store: db, table: src.orders }, ${incremental} }`,
            `{ name: as-parquet, source: { store: db, table: src.orders }, ${incremental} }`
          ],
          mappings: [
            `as-csv: { store: lake, container: ${lake}, path: orders/csv/, format: csv }`,
            `as-parquet: { store: lake, container: ${lake}, path: orders/parquet/, format: parquet }`
          ]
        })
      )
      yield* Effect.addFinalizer(() => Effect.sync(space.remove))
      /** The part files of a run, by run id. */
      const partOf = (folder: string, runId: string) =>
        Effect.map(
          Effect.promise(() => published(lake, folder)),
          (parts) => [...parts].find(([name]) => name.includes(runId))?.[1]
        )
      const byId = (records: ReadonlyArray<ReadonlyArray<string | null>>) =>
        [...records].sort((a, b) => Number(a[0]) - Number(b[0]))

      const first = yield* runOnce(space)
      const firstRun = first.results[0]!.runId
      expect(outcomes(first)).toMatchObject({
        "as-csv": { status: "succeeded", mode: "full", rows: 4, files: 1 },
        "as-parquet": { status: "succeeded", mode: "full", rows: 4, files: 1 }
      })
      const [header, ...records] = csvRecords((yield* partOf("orders/csv/", firstRun))!)
      expect(header).toEqual(["id", "name", "amount", "placed_at", "updated_at"])
      expect(byId(records)).toEqual(ROWS.map(asCsvRecord))
      const typed = (rows: ReadonlyArray<Row>) =>
        rows.map((row) => [...row, "DECIMAL(12,2)", "TIMESTAMP WITH TIME ZONE"])
      expect(yield* parquetRows((yield* partOf("orders/parquet/", firstRun))!)).toEqual(typed(ROWS))

      yield* Effect.promise(async () => {
        const [changed, added] = CHANGED
        await database.query(
          `UPDATE src.orders SET name = ${sqlText(changed![1])}, amount = ${changed![2]}, placed_at = ${sqlText(asWritten(changed![3]!))}, updated_at = ${sqlText(changed![4])} WHERE id = 2`
        )
        await database.query(insertRows("src.orders", [added!]))
      })
      const second = yield* runOnce(space)
      const secondRun = second.results[0]!.runId
      expect(outcomes(second)).toMatchObject({
        "as-csv": { status: "succeeded", mode: "incremental", rows: 2, files: 1 },
        "as-parquet": { status: "succeeded", mode: "incremental", rows: 2, files: 1 }
      })
      // A new part beside the first, holding only the two rows.
      const [, ...changedRecords] = csvRecords((yield* partOf("orders/csv/", secondRun))!)
      expect(byId(changedRecords)).toEqual(CHANGED.map(asCsvRecord))
      expect(yield* parquetRows((yield* partOf("orders/parquet/", secondRun))!)).toEqual(typed(CHANGED))
      for (const folder of ["orders/csv/", "orders/parquet/"]) {
        expect((yield* Effect.promise(() => published(lake, folder))).size).toBe(2)
      }

      expect(outcomes(yield* runOnce(space))).toMatchObject({
        "as-csv": { mode: "incremental", rows: 0 },
        "as-parquet": { mode: "incremental", rows: 0 }
      })
    })
  )

  it.scopedLive("CSV blobs and Parquet blobs → PostgreSQL tables: replaced, then merged with the changed rows", () =>
    Effect.gen(function* () {
      const lake = yield* container(azurite)
      yield* Effect.promise(() =>
        putBlobs(azurite, lake, [["csv/part-1.csv", providerCsv(ROWS, true)]]).then(async () =>
          putBlobs(azurite, lake, [["parquet/part-1.parquet", await Effect.runPromise(duckdbParquet(ROWS))]])
        )
      )
      const incremental = "incremental: { cursor: updated_at, key: [id] }"
      const types = 'column_types: { id: int64, amount: "decimal(12, 2)", placed_at: "timestamp(us, UTC)" }'
      const space = workspace(
        shareConfig({
          stores: [blobStore("lake", "contoso"), pgStore("db", "fabrikam")],
          datasets: [
            `{ name: from-csv, source: { store: lake, container: ${lake}, prefix: csv, kind: table, ${types} }, ${incremental} }`,
            `{ name: from-parquet, source: { store: lake, container: ${lake}, prefix: parquet, kind: table }, ${incremental} }`
          ],
          mappings: [
            "from-csv: { store: db, table: dst.from_csv }",
            "from-parquet: { store: db, table: dst.from_parquet }"
          ]
        })
      )
      yield* Effect.addFinalizer(() => Effect.sync(space.remove))

      const first = yield* runOnce(space)
      expect(outcomes(first)).toMatchObject({
        "from-csv": { status: "succeeded", mode: "full", rows: 4 },
        "from-parquet": { status: "succeeded", mode: "full", rows: 4 }
      })
      expect(yield* tableRows("dst.from_csv")).toEqual(ROWS)
      expect(yield* tableRows("dst.from_parquet")).toEqual(ROWS)
      const columnTypes = yield* Effect.promise(() =>
        database.query<{ table_name: string; columns: string }>(
          `SELECT table_name, string_agg(column_name || ' ' || data_type ||
             coalesce('(' || numeric_precision || ',' || numeric_scale || ')', ''), ', ' ORDER BY ordinal_position) AS columns
           FROM information_schema.columns WHERE table_schema = 'dst' AND column_name IN ('amount', 'placed_at', 'updated_at')
           GROUP BY table_name ORDER BY table_name`
        )
      )
      const zoned = "placed_at timestamp with time zone, updated_at timestamp with time zone"
      expect(columnTypes).toEqual([
        { table_name: "from_csv", columns: `amount numeric(12,2), ${zoned}` },
        { table_name: "from_parquet", columns: `amount numeric(12,2), ${zoned}` }
      ])

      // A second file in each folder: row 2 changed, row 5 new.
      yield* Effect.promise(async () => {
        await putBlobs(azurite, lake, [
          ["csv/part-2.csv", providerCsv(CHANGED, true)],
          ["parquet/part-2.parquet", await Effect.runPromise(duckdbParquet(CHANGED))]
        ])
      })
      const second = yield* runOnce(space)
      expect(outcomes(second)).toMatchObject({
        "from-csv": { status: "succeeded", mode: "incremental", rows: 2 },
        "from-parquet": { status: "succeeded", mode: "incremental", rows: 2 }
      })
      expect(yield* tableRows("dst.from_csv")).toEqual(MERGED)
      expect(yield* tableRows("dst.from_parquet")).toEqual(MERGED)
      const commits = yield* Effect.promise(() =>
        database.query<{ target: string; mode: string; rows: string }>(
          "SELECT target, mode, rows::text AS rows FROM _ferry.commits ORDER BY target, committed_at"
        )
      )
      expect(commits.map((commit) => [commit.target.replaceAll('"', ""), commit.mode, commit.rows])).toEqual([
        ["dst.from_csv", "replace", "4"],
        ["dst.from_csv", "merge", "2"],
        ["dst.from_parquet", "replace", "4"],
        ["dst.from_parquet", "merge", "2"]
      ])

      expect(outcomes(yield* runOnce(space))).toMatchObject({
        "from-csv": { mode: "incremental", rows: 0 },
        "from-parquet": { mode: "incremental", rows: 0 }
      })
    })
  )
})
