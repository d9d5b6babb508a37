/**
 * The blob sink against Azurite, through the run path where a run is what matters:
 * blob to blob copied server-side (no byte through Ferry), local to blob streamed in
 * staged blocks, blob to local, empty files, a large blob in small blocks with memory
 * bounded, the publish protocol (lock, a decided commit completed after a crash), the
 * errors a user meets, and Azurite stopped in the middle of a run.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { AzureBlobStoreConfig } from "../../../connectors/azure-blob/AzureBlobStore.js"
import type { SinkError } from "../../../core/Errors.js"
import type { FileWriter } from "../../../core/Sink.js"
import { ProgressDisplay } from "../../../runtime/Progress.js"
import type { AzureBlobTargetConfig } from "../../../sinks/azure-blob/AzureBlobSink.js"
import { azureBlobSink } from "../../../sinks/azure-blob/AzureBlobSink.js"
import { datasetsOf, runOnce, shareConfig, tree, workspace } from "../../runtime/RunSupport.js"
import {
  blobContents,
  container,
  containerSas,
  DEV_KEY,
  keyStore,
  keyStoreLine,
  manifestsOf,
  publishedBlobs,
  putBlobs,
  sasStore,
  azuriteForTests,
  startAzurite
} from "../../support/azurite.js"

const azurite = azuriteForTests()

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")
const context = { store: "inbox", baseDir: "." }

const openWriter = (
  config: AzureBlobStoreConfig,
  target: AzureBlobTargetConfig,
  runId: string
): Effect.Effect<FileWriter, SinkError, Scope.Scope> =>
  Effect.flatMap(azureBlobSink.open(config, context), (session) =>
    session.files!.open(target, { runId, dataset: "docs", mode: "replace", key: [] })
  )

const text = (value: string) => Stream.make(new TextEncoder().encode(value))

describe("azure_blob sink", () => {
  it.scopedLive("copies blob to blob server-side: bytes identical, none through Ferry", () =>
    Effect.gen(function* () {
      const source = yield* container(azurite)
      const target = yield* container(azurite)
      const blobs: Array<readonly [string, Uint8Array]> = [
        ["docs/a.txt", Buffer.from("alpha")],
        ["docs/deep/b.bin", Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) % 256))],
        ["docs/empty.txt", new Uint8Array(0)],
        ["other/c.txt", Buffer.from("not in the dataset")]
      ]
      yield* Effect.promise(() => putBlobs(azurite, source, blobs))
      // The target signs in with a SAS of its own container: the copy reads the source through the source's SAS.
      const sas = containerSas(azurite, target, "racwdl", new Date(Date.now() + 3_600_000))
      const space = workspace(
        shareConfig({
          stores: [
            keyStoreLine(azurite, "lake", "contoso"),
            `inbox: { type: azure_blob, account: fabrikam, account_url: "${azurite.url}", sas_token: "${sas}", max_tries: 2, retry_delay_ms: 20 }`
          ],
          datasets: [`{ name: docs, source: { store: lake, container: ${source}, prefix: docs } }`],
          mappings: [`docs: { store: inbox, container: ${target}, path: received/ }`]
        })
      )
      yield* Effect.addFinalizer(() => Effect.sync(space.remove))
      yield* Effect.sleep(1_200) // past the second the blobs were written in
      const ran = yield* runOnce(space)
      expect(datasetsOf(ran)).toMatchObject([
        { status: "succeeded", files: 3, message: "copied inside the store: 3 files, 0 B through Ferry" }
      ])
      const delivered = yield* Effect.promise(() => publishedBlobs(azurite, target, "received/"))
      expect([...delivered.keys()].sort()).toEqual(["a.txt", "deep/b.bin", "empty.txt"])
      for (const [name, bytes] of blobs.slice(0, 3)) {
        expect(sha256(delivered.get(name.slice("docs/".length))!)).toBe(sha256(bytes))
      }
      const [manifest] = yield* Effect.promise(() => manifestsOf(azurite, target, "received/"))
      expect(manifest).toMatchObject({ run_id: ran.results[0]!.runId, copied_in_store: 3, bytes: 70_005 })
      // MD5s as the service keeps them; no SHA-256, which would need the bytes.
      const md5 = (bytes: Uint8Array) => createHash("md5").update(bytes).digest("hex")
      expect(manifest!.files.map((file) => [file.path, file.md5, file.sha256])).toEqual([
        ["a.txt", md5(blobs[0]![1]), undefined],
        ["deep/b.bin", md5(blobs[1]![1]), undefined],
        ["empty.txt", md5(blobs[2]![1]), undefined]
      ])
      // Nothing staged is left behind.
      expect([...(yield* Effect.promise(() => blobContents(azurite, target, "received/_ferry/tmp/"))).keys()]).toEqual(
        []
      )
    })
  )

  it.scopedLive("streams local files into blobs, and blobs into local files, empty ones too", () =>
    Effect.gen(function* () {
      const bucket = yield* container(azurite)
      const space = workspace(
        shareConfig({
          stores: [keyStoreLine(azurite, "inbox", "fabrikam"), keyStoreLine(azurite, "lake", "contoso")],
          datasets: [
            "{ name: docs, source: { store: src, files: docs } }",
            `{ name: back, source: { store: lake, container: ${bucket}, prefix: inbox } }`
          ],
          mappings: [`docs: { store: inbox, container: ${bucket}, path: inbox }`, "back: { store: out, path: back/ }"]
        })
      )
      yield* Effect.addFinalizer(() => Effect.sync(space.remove))
      const big = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 251))
      space.write("docs/a.csv", "id\n1\n")
      space.write("docs/sub/big.bin", big)
      space.write("docs/zero.txt", "")
      const old = new Date(Date.now() - 10_000)
      for (const file of ["docs/a.csv", "docs/sub/big.bin", "docs/zero.txt"]) fs.utimesSync(space.src(file), old, old)

      // The first run delivers docs into the blob store; `back` finds nothing there yet.
      const first = yield* runOnce(space)
      const docs = datasetsOf(first).find((_, i) => i === 0)!
      expect(docs).toMatchObject({ status: "succeeded", files: 3, bytes: big.length + 5 })
      expect(docs.message).toBeUndefined()
      const delivered = yield* Effect.promise(() => publishedBlobs(azurite, bucket, "inbox/"))
      expect(new Map([...delivered].map(([name, bytes]) => [name, sha256(bytes)]))).toEqual(
        new Map([
          ["a.csv", sha256(Buffer.from("id\n1\n"))],
          ["sub/big.bin", sha256(big)],
          ["zero.txt", sha256(new Uint8Array(0))]
        ])
      )
      const [manifest] = yield* Effect.promise(() => manifestsOf(azurite, bucket, "inbox/"))
      expect(manifest!.files.find((file) => file.path === "sub/big.bin")).toMatchObject({
        bytes: big.length,
        sha256: sha256(big)
      })
      expect(manifest!.copied_in_store).toBe(0)

      // The second run reads them back from the blob store into a local folder, streamed.
      yield* Effect.sleep(1_200)
      const second = yield* runOnce(space, { full: true })
      expect(datasetsOf(second).map((dataset) => dataset.status)).toEqual(["succeeded", "succeeded"])
      expect(tree(space.out("back")).filter((file) => !file.startsWith("_ferry/"))).toEqual([
        "a.csv",
        "sub/big.bin",
        "zero.txt"
      ])
      expect(sha256(fs.readFileSync(space.out("back", "sub", "big.bin")))).toBe(sha256(big))
      expect(fs.statSync(space.out("back", "zero.txt")).size).toBe(0)
    })
  )

  it.scopedLive("writes a large blob in small staged blocks, never holding more than a few of them", () =>
    Effect.gen(function* () {
      const bucket = yield* container(azurite)
      const blockBytes = 64 * 1024
      const chunkBytes = 48 * 1024
      const chunks = 400 // 18.75 MiB
      const config = keyStore(azurite, { block_size_kib: blockBytes / 1024 })
      const writer = yield* openWriter(config, { container: bucket, path: "big" }, "run-big")
      const staged = azurite.service.getContainerClient(bucket).getBlockBlobClient("big/_ferry/tmp/run-big/big.bin")
      const hash = createHash("sha256")
      let pulled = 0
      let behind = 0
      // Before each chunk, how far the bytes pulled are ahead of the blocks the service holds.
      const content = Stream.range(1, chunks).pipe(
        Stream.mapEffect((index) =>
          Effect.promise(async () => {
            if (pulled > 0) {
              const { uncommittedBlocks } = await staged.getBlockList("uncommitted").catch(() => ({
                uncommittedBlocks: []
              }))
              const held = (uncommittedBlocks ?? []).reduce((total, block) => total + block.size, 0)
              behind = Math.max(behind, pulled - held)
            }
            const chunk = Buffer.alloc(chunkBytes, index % 256)
            hash.update(chunk)
            pulled += chunk.length
            return new Uint8Array(chunk)
          })
        )
      )
      const written = yield* writer.write({ path: "big.bin" }, content)
      expect(written).toMatchObject({ bytes: chunks * chunkBytes, sha256: hash.digest("hex") })
      // The block being filled, two being sent, and the chunk that overflowed into the next.
      expect(behind).toBeLessThanOrEqual(3 * blockBytes + chunkBytes)
      expect(behind).toBeGreaterThan(0)
      const { committedBlocks } = yield* Effect.promise(() => staged.getBlockList("committed"))
      expect(committedBlocks?.length).toBe(Math.ceil((chunks * chunkBytes) / blockBytes))
      expect(new Set(committedBlocks?.slice(0, -1).map((block) => block.size))).toEqual(new Set([blockBytes]))
      yield* writer.commit({ runId: "run-big", watermark: null, rows: 0 })
      const properties = yield* Effect.promise(() =>
        azurite.service.getContainerClient(bucket).getBlobClient("big/big.bin").getProperties()
      )
      expect(properties.contentLength).toBe(chunks * chunkBytes)
    })
  )

  it.scopedLive("keeps one writer per target; a lease left by a writer of this process that ended is taken over", () =>
    Effect.gen(function* () {
      const bucket = yield* container(azurite)
      const target = { container: bucket, path: "shared" }
      const first = yield* Effect.scoped(
        Effect.gen(function* () {
          yield* openWriter(keyStore(azurite), target, "run-1")
          return yield* Effect.flip(Effect.scoped(openWriter(keyStore(azurite), target, "run-2")))
        })
      )
      expect(first.message).toContain("the target is being written by run run-1 (process")

      // A lease whose writer is gone from this process without releasing it (as when the service went away).
      const lock = azurite.service.getContainerClient(bucket).getBlockBlobClient("shared/_ferry/lock")
      const lease = yield* Effect.promise(() => lock.getBlobLeaseClient().acquireLease(60))
      yield* Effect.promise(() =>
        lock.setMetadata(
          { ferry_holder: "gone", ferry_run_id: "run-0", ferry_host: os.hostname(), ferry_pid: String(process.pid) },
          { conditions: { leaseId: lease.leaseId! } }
        )
      )
      const writer = yield* openWriter(keyStore(azurite), target, "run-3")
      yield* writer.write({ path: "a.txt" }, text("a"))
      expect(yield* writer.commit({ runId: "run-3", watermark: null, rows: 0 })).toMatchObject({ files: 1 })
    })
  )

  it.scopedLive("completes a commit decided before a crash when asked whether it is committed", () =>
    Effect.gen(function* () {
      const bucket = yield* container(azurite)
      const target = { container: bucket, path: "t" }
      yield* Effect.promise(() =>
        putBlobs(azurite, bucket, [
          ["t/old.txt", "replaced"],
          ["t/_ferry/tmp/run-9/new.txt", "new"]
        ])
      )
      const record = {
        run_id: "run-9",
        dataset: "docs",
        mode: "replace",
        committed_at: new Date().toISOString(),
        rows: 0,
        bytes: 3,
        files: [{ path: "new.txt", bytes: 3 }],
        copied_in_store: 0,
        removed: ["old.txt"],
        watermark: { path: "new.txt" }
      }
      const session = yield* azureBlobSink.open(keyStore(azurite), context)
      expect(yield* session.isCommitted(target, "run-9")).toBe(false)
      yield* Effect.promise(() => putBlobs(azurite, bucket, [["t/_ferry/commits/run-9.json", JSON.stringify(record)]]))
      expect(yield* session.isCommitted(target, "run-9")).toBe(true)
      const delivered = yield* Effect.promise(() => publishedBlobs(azurite, bucket, "t/"))
      expect([...delivered].map(([name, bytes]) => [name, bytes.toString()])).toEqual([["new.txt", "new"]])
      expect(
        (yield* Effect.promise(() => manifestsOf(azurite, bucket, "t/"))).map((manifest) => manifest.run_id)
      ).toEqual(["run-9"])
      const left = yield* Effect.promise(() => blobContents(azurite, bucket, "t/_ferry/"))
      expect([...left.keys()].filter((name) => !name.endsWith("/lock"))).toEqual(["t/_ferry/manifests/run-9.json"])
    })
  )

  it.scopedLive("tells what is wrong, naming the store, container and blob, never the key or SAS", () =>
    Effect.gen(function* () {
      const bucket = yield* container(azurite)
      const target = { container: bucket, path: "t" }
      const refusal = (config: AzureBlobStoreConfig, where = target) =>
        Effect.map(Effect.flip(Effect.scoped(openWriter(config, where, "run-1"))), (error) => {
          for (const secret of [DEV_KEY, "sig="]) expect(error.message).not.toContain(secret)
          return error
        })

      const wrongKey = yield* refusal(keyStore(azurite, { account_key: Buffer.alloc(64, 7).toString("base64") }))
      expect(wrongKey).toMatchObject({ store: "inbox", target: `${bucket}/t/` })
      expect(wrongKey.message).toBe(
        `listing container ${bucket}: the account key was refused (authentication failed); check account_key`
      )

      const readOnly = sasStore(azurite, containerSas(azurite, bucket, "rl", new Date(Date.now() + 3_600_000)))
      expect((yield* refusal(readOnly)).message).toBe(
        `writing blob ${bucket}/t/_ferry/lock: the SAS token does not allow writing (its permissions are "rl"; a source needs rl, a target racwdl)`
      )

      const expired = sasStore(azurite, containerSas(azurite, bucket, "racwdl", new Date(Date.now() - 60_000)))
      expect((yield* refusal(expired)).message).toMatch(
        /^the SAS token expired at \d{4}-\d\d-\d\dT[\d:.]+Z; give a new one$/
      )

      expect((yield* refusal(keyStore(azurite), { container: "no-such-container", path: "t" })).message).toBe(
        "listing container no-such-container: container no-such-container does not exist in the account"
      )

      const writer = yield* openWriter(keyStore(azurite), target, "run-2")
      const long = `${"n".repeat(17_000)}.txt`
      const rejected = yield* Effect.flip(writer.write({ path: long }, text("x")))
      const full = `${bucket}/t/_ferry/tmp/run-2/${long}`
      expect(rejected.message).toBe(
        `writing blob ${full.slice(0, 120)}… (${full.length} characters): the service rejects the name (HTTP 431)`
      )
      const escaping = yield* Effect.flip(writer.write({ path: "../other/x.txt" }, text("x")))
      expect(escaping.message).toBe('"../other/x.txt" is not a blob path: it has an empty, "." or ".." segment')
    })
  )
})

describe("azure_blob sink when the service stops", () => {
  it.scopedLive("fails the run cleanly, publishes nothing, and the next run completes it", () =>
    Effect.gen(function* () {
      const location = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-azurite-"))
      const emulator = yield* Effect.acquireRelease(
        Effect.promise(() => startAzurite({ location })),
        (started) =>
          Effect.promise(async () => {
            await started.stop()
            fs.rmSync(location, { recursive: true, force: true })
          })
      )
      yield* Effect.promise(() => emulator.service.getContainerClient("inbox").create())
      const space = workspace(
        shareConfig({
          stores: [keyStoreLine(emulator, "inbox", "fabrikam")],
          datasets: ["{ name: docs, source: { store: src, files: docs } }"],
          mappings: ["docs: { store: inbox, container: inbox, path: docs/ }"]
        })
      )
      yield* Effect.addFinalizer(() => Effect.sync(space.remove))
      const old = new Date(Date.now() - 10_000)
      for (let i = 0; i < 12; i++) {
        space.write(`docs/f${String(i).padStart(2, "0")}.txt`, `file ${i}\n`.repeat(1000))
        fs.utimesSync(space.src(`docs/f${String(i).padStart(2, "0")}.txt`), old, old)
      }

      // The emulator stops once the run has staged its first files.
      let stopped = false
      const display = Layer.succeed(ProgressDisplay, {
        start: () => Effect.void,
        update: (_label, progress) =>
          progress.files >= 2 && !stopped
            ? Effect.promise(async () => {
                stopped = true
                await emulator.stop()
              })
            : Effect.void,
        finish: () => Effect.void,
        note: () => Effect.void
      })
      const failed = yield* runOnce(space, {}, undefined, display)
      expect(stopped).toBe(true)
      const [outcome] = datasetsOf(failed)
      expect(outcome).toMatchObject({ status: "failed" })
      expect(outcome!.message).toContain("the service at 127.0.0.1:")
      // A request in flight as the emulator stops has its connection reset; a later one is refused.
      expect(outcome!.message).toMatch(/cannot be reached \(ECONN(REFUSED|RESET)\)/)

      yield* Effect.promise(() => emulator.start())
      expect(yield* Effect.promise(() => publishedBlobs(emulator, "inbox", "docs/"))).toEqual(new Map())
      const staged = yield* Effect.promise(() => blobContents(emulator, "inbox", "docs/_ferry/tmp/"))
      expect(staged.size).toBeGreaterThan(0)

      const next = yield* runOnce(space)
      expect(datasetsOf(next)).toMatchObject([{ status: "succeeded", files: 12 }])
      const delivered = yield* Effect.promise(() => publishedBlobs(emulator, "inbox", "docs/"))
      expect(delivered.size).toBe(12)
      expect(delivered.get("f07.txt")!.toString()).toBe("file 7\n".repeat(1000))
      expect([...(yield* Effect.promise(() => blobContents(emulator, "inbox", "docs/_ferry/tmp/"))).keys()]).toEqual([])
    })
  )
})
