/**
 * The ADLS sink with a hierarchical namespace. Its files go through the Blob endpoint,
 * served by Azurite; its directories and renames through the DFS endpoint, which Azurite
 * does not emulate: here a FAKE DFS handler (test/support/fakeDfs.ts) serves the few DFS
 * operations the sink sends, over Azurite's blobs. What these tests prove about the DFS
 * side is that the sink sends the right requests in the right order and reads the
 * service's answers right, not how a real account behaves (docs/adls.md says what only
 * real Azure can show).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { AdlsStoreConfig } from "../../../connectors/adls/AdlsStore.js"
import type { SinkError } from "../../../core/Errors.js"
import type { FileWriter } from "../../../core/Sink.js"
import type { AdlsTargetConfig } from "../../../sinks/adls/AdlsSink.js"
import { adlsSink } from "../../../sinks/adls/AdlsSink.js"
import { datasetsOf, runOnce, shareConfig, workspace } from "../../runtime/RunSupport.js"
import {
  blobContents,
  container,
  containerSas,
  DEV_KEY,
  keyStoreLine,
  lakeStore as lakeKeyStore,
  manifestsOf,
  publishedBlobs,
  putBlobs,
  azuriteForTests
} from "../../support/azurite.js"
import { fakeDfsForTests } from "../../support/fakeDfs.js"

const azurite = azuriteForTests()
const dfs = fakeDfsForTests(azurite)

const context = { store: "lake", baseDir: "." }

const lakeStore = (extra: Record<string, unknown> = {}): AdlsStoreConfig =>
  lakeKeyStore(azurite, { dfs_url: dfs.url, ...extra })

const openWriter = (
  target: AdlsTargetConfig,
  runId: string,
  mode: "replace" | "append" = "append",
  config: AdlsStoreConfig = lakeStore()
): Effect.Effect<FileWriter, SinkError, Scope.Scope> =>
  Effect.flatMap(adlsSink.open(config, context), (session) =>
    session.files!.open(target, { runId, dataset: "docs", mode, key: [] })
  )

const text = (value: string) => Stream.make(new TextEncoder().encode(value))

/** Writes the files and commits them as one run. */
const deliver = (
  target: AdlsTargetConfig,
  runId: string,
  files: ReadonlyArray<readonly [string, string]>,
  mode: "replace" | "append" = "append"
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const writer = yield* openWriter(target, runId, mode)
      for (const [path, content] of files) yield* writer.write({ path }, text(content))
      return yield* writer.commit({ runId, watermark: { run: runId }, rows: 0 })
    })
  )

/** What a consumer sees in a target directory: its files by path, with their content as text; no bookkeeping. */
const published = async (fileSystem: string, directory: string) =>
  Object.fromEntries(
    [...(await publishedBlobs(azurite, fileSystem, directory))].map(([path, bytes]) => [path, bytes.toString("utf8")])
  )

/** The DFS requests served since `from`, as `operation path` lines (renames with their source). */
const dfsSince = (from: number) =>
  dfs.requests
    .slice(from)
    .map((request) =>
      request.source === undefined
        ? `${request.operation} ${request.path}`
        : `${request.operation} ${request.source} -> ${request.path}`
    )

const manifestOf = async (fileSystem: string, directory: string, runId: string) =>
  (await manifestsOf(azurite, fileSystem, directory)).find((manifest) => manifest.run_id === runId)!

describe("adls sink with a hierarchical namespace (Blob endpoint: Azurite; DFS endpoint: a fake)", () => {
  it.scopedLive("publishes by renames: nothing visible before the commit, a new directory in one rename", () =>
    Effect.gen(function* () {
      const lake = yield* container(azurite)
      const target = { file_system: lake, directory: "in" }
      yield* deliver(target, "run-0", [["old.txt", "old"]])

      const start = dfs.requests.length
      const delivery = yield* Effect.scoped(
        Effect.gen(function* () {
          const writer = yield* openWriter(target, "run-1")
          yield* writer.write({ path: "reports/2026/q1.txt" }, text("q1"))
          yield* writer.write({ path: "reports/2026/q2.txt" }, text("q2"))
          yield* writer.write({ path: "reports/summary.txt" }, text("summary"))
          yield* writer.write({ path: "old.txt" }, text("old, rewritten"))
          // Staged under the run's own directory: a consumer of in/ sees nothing new.
          expect(yield* Effect.promise(() => published(lake, "in/"))).toEqual({ "old.txt": "old" })
          const staged = yield* Effect.promise(() => blobContents(azurite, lake, "in/_ferry/tmp/run-1/"))
          expect([...staged.keys()].sort()).toEqual([
            "in/_ferry/tmp/run-1/old.txt",
            "in/_ferry/tmp/run-1/reports/2026/q1.txt",
            "in/_ferry/tmp/run-1/reports/2026/q2.txt",
            "in/_ferry/tmp/run-1/reports/summary.txt"
          ])
          const session = yield* adlsSink.open(lakeStore(), context)
          expect(yield* session.isCommitted(target, "run-1")).toBe(false)
          return yield* writer.commit({ runId: "run-1", watermark: { at: 1 }, rows: 0 })
        })
      )
      expect(delivery).toMatchObject({ files: 4, bytes: 25, alreadyCommitted: false })
      expect(yield* Effect.promise(() => published(lake, "in/"))).toEqual({
        "old.txt": "old, rewritten",
        "reports/2026/q1.txt": "q1",
        "reports/2026/q2.txt": "q2",
        "reports/summary.txt": "summary"
      })
      // reports/ was not in the target: it moved whole, in one rename; old.txt replaced its namesake.
      expect(dfsSince(start)).toEqual([
        "create-directory in/_ferry/tmp/run-1",
        "rename in/_ferry/tmp/run-1/old.txt -> in/old.txt",
        "rename in/_ferry/tmp/run-1/reports -> in/reports",
        "delete in/_ferry/tmp/run-1"
      ])
      expect(yield* Effect.promise(() => manifestOf(lake, "in/", "run-1"))).toMatchObject({
        run_id: "run-1",
        mode: "append",
        files: [
          { path: "old.txt" },
          { path: "reports/2026/q1.txt" },
          { path: "reports/2026/q2.txt" },
          { path: "reports/summary.txt" }
        ],
        watermark: { at: 1 }
      })
      const session = yield* adlsSink.open(lakeStore(), context)
      expect(yield* session.isCommitted(target, "run-1")).toBe(true)
      expect(yield* session.isCommitted(target, "run-2")).toBe(false)
      const left = yield* Effect.promise(() => blobContents(azurite, lake, "in/_ferry/"))
      expect([...left.keys()].filter((name) => !name.includes("/manifests/")).sort()).toEqual(["in/_ferry/lock"])
    })
  )

  it.scopedLive("commits a run id once: the same run id again changes nothing and renames nothing", () =>
    Effect.gen(function* () {
      const lake = yield* container(azurite)
      const target = { file_system: lake, directory: "in" }
      yield* deliver(target, "run-1", [["a.txt", "a"]])
      const after = yield* Effect.promise(() => published(lake, "in/"))
      const start = dfs.requests.length
      const again = yield* deliver(target, "run-1", [["b.txt", "b"]], "replace")
      expect(again).toMatchObject({ alreadyCommitted: true, files: 1 })
      expect(yield* Effect.promise(() => published(lake, "in/"))).toEqual(after)
      expect(dfsSince(start).filter((line) => line.startsWith("rename"))).toEqual([])
    })
  )

  it.scopedLive("a full snapshot replaces the directory's files, deleting a directory it empties in one request", () =>
    Effect.gen(function* () {
      const lake = yield* container(azurite)
      const target = { file_system: lake }
      yield* deliver(target, "run-1", [
        ["keep/a.txt", "a"],
        ["gone/x.txt", "x"],
        ["gone/deep/y.txt", "y"],
        ["mixed/stays.txt", "s1"],
        ["mixed/goes.txt", "g"]
      ])
      const start = dfs.requests.length
      yield* deliver(
        target,
        "run-2",
        [
          ["keep/a.txt", "a2"],
          ["mixed/stays.txt", "s2"]
        ],
        "replace"
      )
      expect(yield* Effect.promise(() => published(lake, ""))).toEqual({ "keep/a.txt": "a2", "mixed/stays.txt": "s2" })
      expect(dfsSince(start).filter((line) => line.startsWith("delete") && !line.includes("_ferry"))).toEqual([
        "delete gone",
        "delete mixed/goes.txt"
      ])
      expect((yield* Effect.promise(() => manifestOf(lake, "", "run-2"))).removed).toEqual([
        "gone/deep/y.txt",
        "gone/x.txt",
        "mixed/goes.txt"
      ])
    })
  )

  it.scopedLive("copies blob → ADLS server-side through the run path, then publishes by renames", () =>
    Effect.gen(function* () {
      const source = yield* container(azurite)
      const lake = yield* container(azurite)
      yield* Effect.promise(() =>
        putBlobs(azurite, source, [
          ["docs/a.txt", "alpha"],
          ["docs/sub/b.txt", "beta"]
        ])
      )
      const sas = containerSas(azurite, lake, "racwdl", new Date(Date.now() + 3_600_000))
      const space = workspace(
        shareConfig({
          stores: [
            keyStoreLine(azurite, "blobs", "contoso"),
            // The lake signs in with a SAS of its file system, on both endpoints.
            `lake: { type: adls, account: fabrikam, account_url: "${azurite.url}", dfs_url: "${dfs.url}", sas_token: "${sas}", max_tries: 2, retry_delay_ms: 20 }`
          ],
          datasets: [`{ name: docs, source: { store: blobs, container: ${source}, prefix: docs } }`],
          mappings: [`docs: { store: lake, file_system: ${lake}, directory: received/docs }`]
        })
      )
      yield* Effect.addFinalizer(() => Effect.sync(space.remove))
      yield* Effect.sleep(1_100)
      const start = dfs.requests.length
      const ran = yield* runOnce(space)
      expect(datasetsOf(ran)).toMatchObject([
        { status: "succeeded", files: 2, message: "copied inside the store: 2 files, 0 B through Ferry" }
      ])
      expect(yield* Effect.promise(() => published(lake, "received/docs/"))).toEqual({
        "a.txt": "alpha",
        "sub/b.txt": "beta"
      })
      expect(dfsSince(start).filter((line) => line.startsWith("rename"))).toHaveLength(2)
      expect(dfs.requests.slice(start).every((request) => request.signature === "sas")).toBe(true)
    })
  )

  it.scopedLive("completes a commit decided before a failure: the next writer renames the rest into place", () =>
    Effect.gen(function* () {
      const lake = yield* container(azurite)
      const target = { file_system: lake, directory: "in" }
      dfs.failWhen((request) =>
        request.operation === "rename" && request.path === "in/b.txt"
          ? { status: 503, code: "ServerBusy", message: "The server is busy." }
          : undefined
      )
      const failed = yield* Effect.flip(
        deliver(target, "run-1", [
          ["a.txt", "a"],
          ["b.txt", "b"]
        ])
      ).pipe(Effect.ensuring(Effect.sync(() => dfs.failWhen(undefined))))
      expect(failed.message).toBe(
        `renaming ${lake}/in/_ferry/tmp/run-1/b.txt to path ${lake}/in/b.txt: the service failed (HTTP 503 ServerBusy); try again later`
      )
      expect(failed.store).toBe("lake")
      expect(failed.target).toBe(`${lake}/in/`)
      // Decided: the record is there, so the run counts as committed and is completed on the way.
      const session = yield* adlsSink.open(lakeStore(), context)
      expect(yield* session.isCommitted(target, "run-1")).toBe(true)
      expect(yield* Effect.promise(() => published(lake, "in/"))).toEqual({ "a.txt": "a", "b.txt": "b" })
      expect((yield* Effect.promise(() => manifestOf(lake, "in/", "run-1"))).files.map((file) => file.path)).toEqual([
        "a.txt",
        "b.txt"
      ])
    })
  )

  it.scopedLive(
    "completes a commit whose rename an earlier attempt carried out after giving up on it, if the file is in place",
    () =>
      Effect.gen(function* () {
        const lake = yield* container(azurite)
        const target = { file_system: lake, directory: "in" }
        const busy = (path: string) => (request: { operation: string; path: string }) =>
          request.operation === "rename" && request.path === path
            ? { status: 503, code: "ServerBusy", message: "The server is busy." }
            : undefined
        const gone = (path: string) => (request: { operation: string; path: string }) =>
          request.operation === "rename" && request.path === path
            ? { status: 404, code: "SourcePathNotFound", message: "The source path for a rename does not exist." }
            : undefined
        const decidedThenFailed = (runId: string, directory: string) =>
          Effect.gen(function* () {
            dfs.failWhen(busy(`${directory}/b.txt`))
            yield* Effect.flip(
              deliver({ file_system: lake, directory }, runId, [
                ["a.txt", "a"],
                ["b.txt", "b"]
              ])
            ).pipe(Effect.ensuring(Effect.sync(() => dfs.failWhen(undefined))))
          })

        // The late rename landed the file: the next writer finds the source gone and the file in place.
        yield* decidedThenFailed("run-1", "in")
        yield* Effect.promise(() => putBlobs(azurite, lake, [["in/b.txt", "b"]]))
        dfs.failWhen(gone("in/b.txt"))
        const session = yield* adlsSink.open(lakeStore(), context)
        const completed = yield* session
          .isCommitted(target, "run-1")
          .pipe(Effect.ensuring(Effect.sync(() => dfs.failWhen(undefined))))
        expect(completed).toBe(true)
        expect(yield* Effect.promise(() => published(lake, "in/"))).toEqual({ "a.txt": "a", "b.txt": "b" })

        // A source gone without the file in place is not taken for done.
        yield* decidedThenFailed("run-2", "out")
        dfs.failWhen(gone("out/b.txt"))
        const refused = yield* Effect.flip(session.isCommitted({ file_system: lake, directory: "out" }, "run-2")).pipe(
          Effect.ensuring(Effect.sync(() => dfs.failWhen(undefined)))
        )
        expect(refused.message).toContain(
          "run run-2 cannot be completed: its file b.txt is neither staged nor in place"
        )
      })
  )

  it.scopedLive("tells what is wrong, naming the store, file system and path, never the key", () =>
    Effect.gen(function* () {
      const lake = yield* container(azurite)
      const refusal = <A>(effect: Effect.Effect<A, SinkError, Scope.Scope>) =>
        Effect.map(Effect.flip(Effect.scoped(effect)), (error) => {
          expect(error.message).not.toContain(DEV_KEY)
          expect(error.store).toBe("lake")
          return error.message
        })

      const wrongKey = lakeStore({ account_key: Buffer.alloc(64, 3).toString("base64") })
      expect(yield* refusal(openWriter({ file_system: lake }, "run-1", "append", wrongKey))).toBe(
        `listing file system ${lake}: the account key was refused (authentication failed); check account_key`
      )
      expect(yield* refusal(openWriter({ file_system: "not-there", directory: "in" }, "run-1"))).toBe(
        "listing file system not-there: file system not-there does not exist in the account"
      )

      // The target has a directory report/ where the run delivers a file report: refused before deciding.
      yield* deliver({ file_system: lake, directory: "in" }, "run-1", [["report/part.txt", "p"]])
      const conflict = yield* Effect.flip(deliver({ file_system: lake, directory: "in" }, "run-2", [["report", "r"]]))
      expect(conflict.message).toBe(
        "nothing was published: the target has a directory report/ where the run delivers a file report"
      )
      expect(conflict.target).toBe(`${lake}/in/`)
      expect(yield* Effect.promise(() => published(lake, "in/"))).toEqual({ "report/part.txt": "p" })
      expect(
        yield* adlsSink
          .open(lakeStore(), context)
          .pipe(Effect.flatMap((s) => s.isCommitted({ file_system: lake, directory: "in" }, "run-2")))
      ).toBe(false)
      // A full snapshot replaces the directory anyway: it is deleted, then the file renamed in its place.
      yield* deliver({ file_system: lake, directory: "in" }, "run-3", [["report", "r"]], "replace")
      expect(yield* Effect.promise(() => published(lake, "in/"))).toEqual({ report: "r" })

      // A conflict the service finds (another writer got there between the listing and the rename).
      dfs.failWhen((request) =>
        request.operation === "rename"
          ? {
              status: 409,
              code: "DirectoryNotEmpty",
              message: "The recursive query parameter value must be true to delete a non-empty directory."
            }
          : undefined
      )
      const raced = yield* Effect.flip(deliver({ file_system: lake, directory: "in" }, "run-4", [["x.txt", "x"]])).pipe(
        Effect.ensuring(Effect.sync(() => dfs.failWhen(undefined)))
      )
      expect(raced.message).toBe(
        `renaming ${lake}/in/_ferry/tmp/run-4/x.txt to path ${lake}/in/x.txt: a directory that is not empty is in the way`
      )

      // An account without a hierarchical namespace, told to the user at the first DFS request.
      dfs.failWhen((request) =>
        request.operation === "create-directory"
          ? {
              status: 400,
              code: "HierarchicalNamespaceNotEnabled",
              message: "This operation is only supported on a hierarchical namespace account."
            }
          : undefined
      )
      const flat = yield* refusal(openWriter({ file_system: lake, directory: "flat" }, "run-5")).pipe(
        Effect.ensuring(Effect.sync(() => dfs.failWhen(undefined)))
      )
      expect(flat).toBe(
        `creating the directory path ${lake}/flat/_ferry/tmp/run-5: the account has no hierarchical namespace; set hierarchical_namespace: false`
      )
      const unreachable = lakeStore({ dfs_url: "http://127.0.0.1:1" })
      expect(yield* refusal(openWriter({ file_system: lake, directory: "far" }, "run-6", "append", unreachable))).toBe(
        `creating the directory path ${lake}/far/_ferry/tmp/run-6: the DFS endpoint at 127.0.0.1:1 cannot be reached (ECONNREFUSED); check dfs_url`
      )
    })
  )
})
