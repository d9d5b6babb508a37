/**
 * The blob source against Azurite: tables read from CSV and Parquet blobs, block, append
 * and page blobs read alike, incremental runs that copy only the blobs changed since the
 * last one, a blob rewritten while it is copied (streamed or server-side), and the
 * errors a user meets.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import type { AzureBlobDatasetConfig as DatasetConfig } from "../../../connectors/azure-blob/AzureBlobSource.js"
import { AzureBlobDatasetConfig, azureBlobSource } from "../../../connectors/azure-blob/AzureBlobSource.js"
import type { AzureBlobStoreConfig } from "../../../connectors/azure-blob/AzureBlobStore.js"
import { AzureBlobStoreConfig as AzureBlobStoreConfigSchema } from "../../../connectors/azure-blob/AzureBlobStore.js"
import type { SourceError } from "../../../core/Errors.js"
import type { FileAccess, SourceSession } from "../../../core/Source.js"
import { copyFiles } from "../../../core/Transfer.js"
import { formatNamed } from "../../../sinks/formats/Formats.js"
import { localSink } from "../../../sinks/local/LocalSink.js"
import { azureBlobSink } from "../../../sinks/azure-blob/AzureBlobSink.js"
import { batchOf, collect, column } from "../../conformance/index.js"
import { csvLines, datasetsOf, runOnce, shareConfig, tree, workspace } from "../../runtime/RunSupport.js"
import {
  blobContents,
  container,
  containerSas,
  DEV_ACCOUNT,
  DEV_KEY,
  keyStore,
  keyStoreLine,
  putBlobs,
  sasStore,
  azuriteForTests
} from "../../support/azurite.js"

const azurite = azuriteForTests()

const context = { store: "lake", baseDir: "." }
/** Listings of files leave out the second the service's clock is in: wait until it is over. */
const settle = Effect.sleep(1_100)
const dataset = (fields: Record<string, unknown>): DatasetConfig =>
  Schema.decodeUnknownSync(AzureBlobDatasetConfig)(fields)
const open = (config: AzureBlobStoreConfig = keyStore(azurite)) => azureBlobSource.open(config, context)

/** The blob's bytes as the source reads them, and the listed entries of its dataset. */
const readAll = <W>(session: SourceSession<DatasetConfig, W>, folder: DatasetConfig) =>
  Effect.gen(function* () {
    const entries = yield* collect(
      session.files!.list(folder, { after: Option.none(), until: Number.MAX_SAFE_INTEGER })
    )
    return yield* Effect.forEach(entries, (entry) =>
      Effect.map(collect(session.files!.read(folder, entry)), (chunks) => [entry.path, Buffer.concat(chunks)] as const)
    )
  })

describe("azure_blob source", () => {
  it.scopedLive("reads tables from a CSV blob and from a folder of Parquet blobs", () =>
    Effect.gen(function* () {
      const bucket = yield* container(azurite)
      const columns = [
        column("id", { kind: "int64" }, false),
        column("amount", { kind: "decimal", precision: 10, scale: 2 })
      ]
      const parquet = formatNamed("parquet")
      const options = Schema.decodeUnknownSync(parquet.options)({})
      for (const [part, rows] of [
        [
          0,
          [
            [1n, 1050n],
            [2n, 20n]
          ]
        ],
        [1, [[3n, 99999n]]]
      ] as const) {
        const bytes = Buffer.concat(
          yield* collect(parquet.encode(columns, Stream.make(batchOf(columns, rows)), options))
        )
        yield* Effect.promise(() => putBlobs(azurite, bucket, [[`orders/part-${part}.parquet`, bytes]]))
      }
      yield* Effect.promise(() =>
        putBlobs(azurite, bucket, [
          ["exports/customers.csv", 'id,name,since\n1,Ada,2026-01-02\n2,"Lovelace, A.",2026-03-04\n'],
          ["orders/readme.txt", "not a part of the table"]
        ])
      )
      const space = workspace(
        shareConfig({
          stores: [keyStoreLine(azurite, "lake", "contoso")],
          datasets: [
            `{ name: customers, source: { store: lake, container: ${bucket}, blob: exports/customers.csv, kind: table } }`,
            `{ name: orders, source: { store: lake, container: ${bucket}, prefix: orders, kind: table } }`
          ],
          mappings: [
            "customers: { store: out, path: customers/, format: csv }",
            "orders: { store: out, path: orders/, format: csv }"
          ]
        })
      )
      yield* Effect.addFinalizer(() => Effect.sync(space.remove))
      const ran = yield* runOnce(space)
      expect(datasetsOf(ran)).toMatchObject([
        { status: "succeeded", rows: 2 },
        { status: "succeeded", rows: 3 }
      ])
      expect(csvLines(space.out("customers"))).toEqual(["1,Ada,2026-01-02", '2,"Lovelace, A.",2026-03-04'])
      expect(csvLines(space.out("orders")).sort()).toEqual(["1,10.50", "2,0.20", "3,999.99"])
    })
  )

  it.scopedLive("reads block, append and page blobs alike, by ranges of the block size", () =>
    Effect.gen(function* () {
      const bucket = yield* container(azurite)
      const client = azurite.service.getContainerClient(bucket)
      const block = Buffer.from(Array.from({ length: 50_000 }, (_, i) => i % 253))
      yield* Effect.promise(async () => {
        await client.getBlockBlobClient("kinds/block.bin").uploadData(block)
        const append = client.getAppendBlobClient("kinds/append.log")
        await append.create()
        await append.appendBlock("one\n", 4)
        await append.appendBlock("two\n", 4)
        const page = client.getPageBlobClient("kinds/page.bin")
        await page.create(40 * 512)
        await page.uploadPages(Buffer.alloc(40 * 512, 0x41), 0, 40 * 512)
      })
      yield* settle
      const session = yield* open(keyStore(azurite, { block_size_kib: 16 }))
      const read = new Map(yield* readAll(session, dataset({ container: bucket, prefix: "kinds/" })))
      expect(new Map([...read].map(([name, bytes]) => [name, bytes.length]))).toEqual(
        new Map([
          ["append.log", 8],
          ["block.bin", 50_000],
          ["page.bin", 20_480]
        ])
      )
      expect(read.get("block.bin")!.equals(block)).toBe(true)
      expect(read.get("append.log")!.toString()).toBe("one\ntwo\n")
      expect(read.get("page.bin")!.equals(Buffer.alloc(20_480, 0x41))).toBe(true)
      // One blob as a dataset: its entry is its name.
      const single = yield* readAll(session, dataset({ container: bucket, blob: "kinds/append.log" }))
      expect(single.map(([name]) => name)).toEqual(["append.log"])
    })
  )

  it.scopedLive("signs in with a connection string, with the account key or a SAS", () =>
    Effect.gen(function* () {
      const bucket = yield* container(azurite)
      yield* Effect.promise(() => putBlobs(azurite, bucket, [["docs/a.txt", "alpha"]]))
      yield* settle
      const sas = containerSas(azurite, bucket, "rl", new Date(Date.now() + 3_600_000))
      for (const connection of [
        `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};BlobEndpoint=${azurite.url};`,
        `BlobEndpoint=${azurite.url};SharedAccessSignature=${sas}`
      ]) {
        const config = Schema.decodeUnknownSync(AzureBlobStoreConfigSchema)({ connection_string: connection })
        const session = yield* open(config)
        const read = yield* readAll(session, dataset({ container: bucket, prefix: "docs" }))
        expect(read.map(([name, bytes]) => [name, bytes.toString()])).toEqual([["a.txt", "alpha"]])
      }
    })
  )

  it.scopedLive("copies, incrementally, only the blobs added or changed since the last run", () =>
    Effect.gen(function* () {
      const bucket = yield* container(azurite)
      yield* Effect.promise(() =>
        putBlobs(azurite, bucket, [
          ["docs/a.txt", "a1"],
          ["docs/b.txt", "b1"],
          ["docs/c.txt", "c1"]
        ])
      )
      const space = workspace(
        shareConfig({
          stores: [keyStoreLine(azurite, "lake", "contoso")],
          datasets: [`{ name: docs, source: { store: lake, container: ${bucket}, prefix: docs } }`],
          mappings: ["docs: { store: out, path: docs/ }"]
        })
      )
      yield* Effect.addFinalizer(() => Effect.sync(space.remove))
      // Blob times are whole seconds, and a run leaves the last second to the next one.
      yield* Effect.sleep(2_100)
      expect(datasetsOf(yield* runOnce(space))).toMatchObject([{ status: "succeeded", mode: "full", files: 3 }])

      yield* Effect.promise(() =>
        putBlobs(azurite, bucket, [
          ["docs/b.txt", "b2, changed"],
          ["docs/d.txt", "d1, added"]
        ])
      )
      yield* Effect.sleep(2_100)
      const second = yield* runOnce(space)
      expect(datasetsOf(second)).toMatchObject([{ status: "succeeded", mode: "incremental", files: 2 }])
      expect(fs.readFileSync(space.out("docs", "b.txt"), "utf8")).toBe("b2, changed")
      expect(tree(space.out("docs")).filter((file) => !file.startsWith("_ferry/"))).toEqual([
        "a.txt",
        "b.txt",
        "c.txt",
        "d.txt"
      ])
      expect(datasetsOf(yield* runOnce(space))).toMatchObject([{ status: "succeeded", mode: "incremental", files: 0 }])
    })
  )

  it.scopedLive("copies a blob again when it is rewritten while it is read, or fails when it keeps changing", () =>
    Effect.gen(function* () {
      const bucket = yield* container(azurite)
      const blob = azurite.service.getContainerClient(bucket).getBlockBlobClient("docs/report.bin")
      const version = (n: number) => Buffer.alloc(100_000, n)
      yield* Effect.promise(() => blob.uploadData(version(1)))
      yield* settle
      const folder = dataset({ container: bucket, prefix: "docs" })
      // Reads in 16 KiB ranges, each on the condition that the blob is the version listed.
      const session = yield* open(keyStore(azurite, { block_size_kib: 16 }))
      let rewrites = 0
      const rewriting = (limit: number): FileAccess<DatasetConfig> => ({
        ...session.files!,
        read: (dataset, file) =>
          session
            .files!.read(dataset, file)
            .pipe(
              Stream.tap(() =>
                rewrites < limit ? Effect.promise(() => blob.uploadData(version(2 + rewrites++))) : Effect.void
              )
            )
      })
      const copy = (access: FileAccess<DatasetConfig>, runId: string) =>
        Effect.scoped(
          Effect.gen(function* () {
            const root = fs.mkdtempSync(`${process.env["TMPDIR"] ?? "/tmp"}/ferry-blob-copy-`)
            yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(root, { recursive: true, force: true })))
            const sink = yield* localSink.open({ root }, { store: "out", baseDir: root })
            const writer = yield* sink.files!.open(
              { path: "docs" },
              { runId, dataset: "docs", mode: "replace", key: [] }
            )
            const copied = yield* copyFiles({
              access,
              dataset: folder,
              range: { after: Option.none(), until: Number.MAX_SAFE_INTEGER },
              writer,
              report: () => Effect.void,
              store: "lake"
            })
            yield* writer.commit({ runId, watermark: null, rows: 0 })
            return { copied, bytes: fs.readFileSync(`${root}/docs/report.bin`) }
          })
        )

      const once = yield* copy(rewriting(1), "run-1")
      expect(rewrites).toBe(1)
      expect(once.copied.files).toBe(1)
      expect(once.bytes.equals(version(2))).toBe(true)

      rewrites = 0
      yield* settle
      const error = yield* Effect.flip(copy(rewriting(10), "run-2"))
      expect(error.message).toBe(
        "report.bin kept changing while it was copied (3 attempts); try again when it is stable"
      )
    })
  )

  it.scopedLive("copies a blob rewritten between its listing and its server-side copy as it is after", () =>
    Effect.gen(function* () {
      const source = yield* container(azurite)
      const target = yield* container(azurite)
      const blob = azurite.service.getContainerClient(source).getBlockBlobClient("docs/a.txt")
      yield* Effect.promise(() => blob.uploadData(Buffer.from("first")))
      yield* settle
      const session = yield* open()
      const folder = dataset({ container: source, prefix: "docs" })
      let rewritten = false
      const access: FileAccess<DatasetConfig> = {
        ...session.files!,
        locate: (dataset, file) =>
          Effect.zipRight(
            rewritten
              ? Effect.void
              : Effect.promise(async () => {
                  rewritten = true
                  await blob.uploadData(Buffer.from("second, longer"))
                }),
            session.files!.locate!(dataset, file)
          )
      }
      const sink = yield* azureBlobSink.open(keyStore(azurite), { store: "inbox", baseDir: "." })
      const writer = yield* sink.files!.open(
        { container: target, path: "in" },
        { runId: "run-1", dataset: "docs", mode: "replace", key: [] }
      )
      const copied = yield* copyFiles({
        access,
        dataset: folder,
        range: { after: Option.none(), until: Number.MAX_SAFE_INTEGER },
        writer,
        report: () => Effect.void,
        store: "lake"
      })
      expect(copied).toMatchObject({ files: 1, copiedInStore: 1, streamedBytes: 0, bytes: 14 })
      yield* writer.commit({ runId: "run-1", watermark: null, rows: 0 })
      const delivered = yield* Effect.promise(() => blobContents(azurite, target, "in/a.txt"))
      expect(delivered.get("in/a.txt")!.toString()).toBe("second, longer")
    })
  )

  it.scopedLive("tells what is wrong, naming the store, container and blob, never the key or SAS", () =>
    Effect.gen(function* () {
      const bucket = yield* container(azurite)
      yield* Effect.promise(() => putBlobs(azurite, bucket, [["docs/a.txt", "a"]]))
      const refusal = <A>(effect: Effect.Effect<A, SourceError, Scope.Scope>) =>
        Effect.map(Effect.flip(Effect.scoped(effect)), (error) => {
          for (const secret of [DEV_KEY, "sig="]) expect(error.message).not.toContain(secret)
          expect(error.store).toBe("lake")
          return error.message
        })
      const list = (config: AzureBlobStoreConfig, folder: DatasetConfig) =>
        Effect.flatMap(open(config), (session) =>
          collect(session.files!.list(folder, { after: Option.none(), until: Number.MAX_SAFE_INTEGER }))
        )
      const docs = dataset({ container: bucket, prefix: "docs" })

      expect(
        yield* refusal(list(keyStore(azurite, { account_key: Buffer.alloc(64, 3).toString("base64") }), docs))
      ).toBe(`listing container ${bucket}: the account key was refused (authentication failed); check account_key`)
      expect(yield* refusal(list(keyStore(azurite), dataset({ container: "not-there", prefix: "docs" })))).toBe(
        "listing container not-there: container not-there does not exist in the account"
      )
      expect(
        yield* refusal(Effect.flatMap(open(), (session) => session.describe(dataset({ container: "not-there" }))))
      ).toBe("listing container not-there: container not-there does not exist in the account")
      const expired = containerSas(azurite, bucket, "rl", new Date(Date.now() - 60_000))
      expect(yield* refusal(list(sasStore(azurite, expired), docs))).toMatch(
        /^the SAS token expired at \d{4}-\d\d-\d\dT[\d:.]+Z; give a new one$/
      )
      // A SAS for another container is refused by the service.
      const other = containerSas(azurite, "some-other", "rl", new Date(Date.now() + 3_600_000))
      expect(yield* refusal(list(sasStore(azurite, other), docs))).toBe(
        `listing container ${bucket}: the SAS token was refused (authentication failed): it may have expired or been revoked (its stored access policy changed or deleted), or be for another account or container`
      )
      const missing = dataset({ container: bucket, blob: "docs/missing.csv", kind: "table" })
      expect(yield* refusal(Effect.flatMap(open(), (session) => session.describe(missing)))).toBe(
        `reading blob ${bucket}/docs/missing.csv: it does not exist`
      )
    })
  )
})
