import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { SinkError } from "../../../core/Errors.js"
import type { WriteMode } from "../../../core/Sink.js"
import { localSink, Manifest } from "../../../sinks/local/LocalSink.js"

const base = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-local-sink-"))
afterAll(() => fs.rmSync(base, { recursive: true, force: true }))

let roots = 0
const freshRoot = () => {
  const root = path.join(base, `root-${++roots}`)
  fs.mkdirSync(root)
  return root
}

const bytes = (text: string) => Stream.make(new TextEncoder().encode(text))

/** Every file under `folder`, as sorted `/` paths. */
const tree = (folder: string): Array<string> =>
  fs.existsSync(folder)
    ? (fs.readdirSync(folder, { recursive: true, withFileTypes: true }) as Array<fs.Dirent>)
        .filter((entry) => entry.isFile())
        .map((entry) => path.relative(folder, path.join(entry.parentPath, entry.name)).split(path.sep).join("/"))
        .sort()
    : []

/** What a consumer sees: files that are not Ferry's staging or lock. */
const visible = (folder: string) => tree(folder).filter((file) => !file.startsWith(".ferry-"))

const manifestOf = (folder: string, runId: string) =>
  Schema.decodeUnknownSync(Schema.parseJson(Manifest))(
    fs.readFileSync(path.join(folder, "_ferry", "manifests", `${runId}.json`), "utf8")
  )

const sha256 = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex")

const session = (root: string) => localSink.open({ root }, { store: "out", baseDir: root })

const openWriter = (root: string, runId: string, mode: WriteMode = "append", target = "sales") =>
  Effect.flatMap(session(root), (opened) =>
    opened.files!.open({ path: target }, { runId, dataset: "sales", mode, key: [] })
  )

/** One run writing `files` (path → content) and committing them. */
const deliver = (root: string, runId: string, mode: WriteMode, files: Record<string, string>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const writer = yield* openWriter(root, runId, mode)
      for (const [name, content] of Object.entries(files)) yield* writer.write({ path: name }, bytes(content))
      return yield* writer.commit({ runId, watermark: { cursor: runId, key: [] }, rows: 0 })
    })
  )

describe("local sink: atomic publish", () => {
  it.scoped("keeps everything in a hidden staging folder until commit, then publishes files and a manifest", () =>
    Effect.gen(function* () {
      const root = freshRoot()
      const target = path.join(root, "sales")
      const delivery = yield* Effect.scoped(
        Effect.gen(function* () {
          const writer = yield* openWriter(root, "run-1", "replace")
          const written = yield* writer.write({ path: "part-1.csv" }, bytes("id\n1\n2\n"))
          yield* writer.write({ path: "nested/part-2.csv" }, bytes("id\n3\n"))
          expect(written).toEqual({ path: "part-1.csv", bytes: 7, sha256: sha256Of("id\n1\n2\n") })
          expect(visible(target)).toEqual([])
          expect(tree(target)).toEqual([
            ".ferry-lock",
            ".ferry-staging-run-1/nested/part-2.csv",
            ".ferry-staging-run-1/part-1.csv"
          ])
          return yield* writer.commit({ runId: "run-1", watermark: { cursor: "7", key: ["a"] }, rows: 3 })
        })
      )
      expect(delivery).toEqual({ rows: 3, bytes: 12, files: 2, alreadyCommitted: false })
      expect(tree(target)).toEqual(["_ferry/manifests/run-1.json", "nested/part-2.csv", "part-1.csv"])
      const manifest = manifestOf(target, "run-1")
      expect(manifest).toMatchObject({
        run_id: "run-1",
        dataset: "sales",
        mode: "replace",
        rows: 3,
        bytes: 12,
        removed: [],
        watermark: { cursor: "7", key: ["a"] }
      })
      for (const file of manifest.files) {
        expect(file.sha256).toBe(sha256(path.join(target, file.path)))
        expect(file.bytes).toBe(fs.statSync(path.join(target, file.path)).size)
      }
      expect(manifest.files.map((file) => file.path)).toEqual(["nested/part-2.csv", "part-1.csv"])
      expect(yield* Effect.flatMap(session(root), (s) => s.isCommitted({ path: "sales" }, "run-1"))).toBe(true)
      expect(yield* Effect.flatMap(session(root), (s) => s.isCommitted({ path: "sales" }, "run-2"))).toBe(false)
    })
  )

  it.scoped("writes a file larger than its flushes ahead, every byte and its checksum, two files at once", () =>
    Effect.gen(function* () {
      const root = freshRoot()
      const target = path.join(root, "sales")
      // 40 MiB in 1 MiB chunks: flushes start on the way (every 32 MiB) and the last waits for them.
      const chunks = (seed: number) => Array.from({ length: 40 }, (_, i) => Buffer.alloc(1024 * 1024, seed + i))
      const content = (seed: number) => Stream.fromIterable(chunks(seed))
      const expected = (seed: number) =>
        createHash("sha256")
          .update(Buffer.concat(chunks(seed)))
          .digest("hex")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const writer = yield* openWriter(root, "run-large", "replace")
          const written = yield* Effect.all(
            [writer.write({ path: "part-0.bin" }, content(0)), writer.write({ path: "part-1.bin" }, content(7))],
            { concurrency: "unbounded" }
          )
          expect(written).toEqual([
            { path: "part-0.bin", bytes: 40 * 1024 * 1024, sha256: expected(0) },
            { path: "part-1.bin", bytes: 40 * 1024 * 1024, sha256: expected(7) }
          ])
          yield* writer.commit({ runId: "run-large", watermark: null, rows: 0 })
        })
      )
      expect(sha256(path.join(target, "part-0.bin"))).toBe(expected(0))
      expect(sha256(path.join(target, "part-1.bin"))).toBe(expected(7))
    })
  )

  it.scoped("copies a file by the file system, staged like a written one, with its checksum and time", () =>
    Effect.gen(function* () {
      const root = freshRoot()
      const original = path.join(base, `source-${roots}.bin`)
      const content = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 31) % 251)
      fs.writeFileSync(original, content)
      const lastModified = Date.UTC(2026, 0, 2, 3, 4, 5, 678)
      const target = path.join(root, "sales")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const writer = yield* openWriter(root, "run-copy")
          const copied = yield* writer.copy!({ path: "deep/blob.bin", lastModified }, { kind: "local", path: original })
          expect(Option.getOrThrow(copied)).toEqual({
            path: "deep/blob.bin",
            bytes: content.length,
            sha256: sha256(original)
          })
          expect(visible(target)).toEqual([])
          yield* writer.commit({ runId: "run-copy", watermark: null, rows: 0 })
        })
      )
      const published = path.join(target, "deep", "blob.bin")
      expect(fs.readFileSync(published).equals(Buffer.from(content))).toBe(true)
      expect(Math.round(fs.statSync(published).mtimeMs)).toBe(lastModified)
      expect(manifestOf(target, "run-copy").files).toEqual([
        { path: "deep/blob.bin", bytes: content.length, sha256: sha256(original) }
      ])
    })
  )

  it.scoped("replace removes the files of earlier runs, append keeps them", () =>
    Effect.gen(function* () {
      const root = freshRoot()
      const target = path.join(root, "sales")
      yield* deliver(root, "run-1", "replace", { "a.csv": "a", "b.csv": "b" })
      yield* deliver(root, "run-2", "append", { "c.csv": "c", "a.csv": "a2" })
      expect(visible(target)).toEqual([
        "_ferry/manifests/run-1.json",
        "_ferry/manifests/run-2.json",
        "a.csv",
        "b.csv",
        "c.csv"
      ])
      expect(fs.readFileSync(path.join(target, "a.csv"), "utf8")).toBe("a2")
      yield* deliver(root, "run-3", "replace", { "d.csv": "d" })
      expect(visible(target).filter((file) => !file.startsWith("_ferry/"))).toEqual(["d.csv"])
      expect(manifestOf(target, "run-3").removed).toEqual(["a.csv", "b.csv", "c.csv"])
    })
  )

  it.scoped("a run id committed twice changes nothing the second time", () =>
    Effect.gen(function* () {
      const root = freshRoot()
      const target = path.join(root, "sales")
      const first = yield* deliver(root, "run-1", "append", { "a.csv": "first" })
      const before = tree(target)
      const manifest = fs.readFileSync(path.join(target, "_ferry", "manifests", "run-1.json"), "utf8")
      const again = yield* deliver(root, "run-1", "replace", { "b.csv": "second" })
      expect(again).toEqual({ ...first, alreadyCommitted: true })
      expect(tree(target)).toEqual(before)
      expect(fs.readFileSync(path.join(target, "a.csv"), "utf8")).toBe("first")
      expect(fs.readFileSync(path.join(target, "_ferry", "manifests", "run-1.json"), "utf8")).toBe(manifest)
    })
  )

  it.scopedLive("abort, a scope closed without commit and an interrupted write leave no trace", () =>
    Effect.gen(function* () {
      const root = freshRoot()
      const target = path.join(root, "sales")
      yield* deliver(root, "run-0", "append", { "kept.csv": "kept" })
      const published = tree(target)

      yield* Effect.scoped(
        Effect.gen(function* () {
          const writer = yield* openWriter(root, "run-1")
          yield* writer.write({ path: "a.csv" }, bytes("a"))
          yield* writer.abort
          expect(tree(target)).toEqual([".ferry-lock", ...published])
        })
      )
      expect(tree(target)).toEqual(published)

      yield* Effect.scoped(
        Effect.gen(function* () {
          const writer = yield* openWriter(root, "run-2")
          yield* writer.write({ path: "b.csv" }, bytes("b"))
        })
      )
      expect(tree(target)).toEqual(published)

      // A write that never ends, interrupted once its first chunk is on disk.
      const scope = yield* Scope.make()
      const writer = yield* Scope.extend(openWriter(root, "run-3"), scope)
      const endless = Stream.concat(bytes("first chunk"), Stream.never)
      const fiber = yield* Effect.fork(writer.write({ path: "c.csv" }, endless))
      const staged = path.join(target, ".ferry-staging-run-3", "c.csv")
      while (!fs.existsSync(staged) || fs.statSync(staged).size === 0) yield* Effect.sleep("5 millis")
      yield* Fiber.interrupt(fiber)
      yield* Scope.close(scope, Exit.void)
      expect(tree(target)).toEqual(published)
    })
  )

  it.scoped("refuses a target outside the store's root, naming it", () =>
    Effect.gen(function* () {
      const root = freshRoot()
      const opened = yield* session(root)
      const error = yield* Effect.flip(
        opened.files!.open({ path: "../elsewhere" }, { runId: "r", dataset: "d", mode: "append", key: [] })
      )
      expect(error).toMatchObject({
        _tag: "SinkError",
        target: "../elsewhere",
        message: `path "../elsewhere" is outside the store's root ${root}`
      })
      expect(fs.existsSync(path.join(base, "elsewhere"))).toBe(false)
    })
  )
})

const sha256Of = (text: string) => createHash("sha256").update(text).digest("hex")

describe("local sink: recovery", () => {
  it.scoped("a commit decided but not rolled forward is completed on the next open", () =>
    Effect.gen(function* () {
      const root = freshRoot()
      const target = path.join(root, "sales")
      // A folder where the second file must land makes the roll-forward stop after the
      // commit record was written and the first file was moved: the state a crash there leaves.
      fs.mkdirSync(path.join(target, "b.csv", "obstacle"), { recursive: true })
      const failed = yield* Effect.flip(deliver(root, "run-1", "append", { "a.csv": "a", "b.csv": "b" }))
      expect(failed.message).toContain("publishing the run's files")
      expect(tree(target)).toEqual([".ferry-staging-run-1/.ferry-commit.json", ".ferry-staging-run-1/b.csv", "a.csv"])
      expect(fs.existsSync(path.join(target, "_ferry", "manifests", "run-1.json"))).toBe(false)

      // Recovery cannot finish while the obstacle stays, and says so.
      const blocked = yield* Effect.flip(
        Effect.flatMap(session(root), (s) => s.isCommitted({ path: "sales" }, "run-1"))
      )
      expect((blocked as SinkError).message).toContain("recovering an interrupted run")

      fs.rmSync(path.join(target, "b.csv"), { recursive: true })
      expect(yield* Effect.flatMap(session(root), (s) => s.isCommitted({ path: "sales" }, "run-1"))).toBe(true)
      expect(tree(target)).toEqual(["_ferry/manifests/run-1.json", "a.csv", "b.csv"])
      expect(manifestOf(target, "run-1").files.map((file) => [file.path, file.sha256])).toEqual([
        ["a.csv", sha256Of("a")],
        ["b.csv", sha256Of("b")]
      ])
      // The recovered run cannot be committed again.
      expect((yield* deliver(root, "run-1", "append", { "c.csv": "c" })).alreadyCommitted).toBe(true)
    })
  )

  it.scoped(
    "a killed writer's staging folder is removed, and its lock refuses others only while it lives",
    () =>
      Effect.gen(function* () {
        const root = freshRoot()
        const target = path.join(root, "sales")
        yield* deliver(root, "run-0", "append", { "kept.csv": "kept" })
        const child = spawn(
          process.execPath,
          [
            "--import",
            "tsx",
            fileURLToPath(new URL("./fixtures/SinkProcess.ts", import.meta.url)),
            root,
            "sales",
            "run-1"
          ],
          { stdio: ["ignore", "pipe", "pipe"] }
        )
        const exited = new Promise<void>((resolve) => child.on("close", () => resolve()))
        yield* Effect.promise(
          () =>
            new Promise<void>((resolve, reject) => {
              let output = ""
              child.stdout.on("data", (chunk: Buffer) => {
                output += chunk.toString()
                if (output.includes("staged")) resolve()
              })
              child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
              child.on("close", () => reject(new Error(`the writer process exited early: ${output}`)))
            })
        )
        const busy = yield* Effect.flip(Effect.scoped(openWriter(root, "run-2")))
        expect(busy.message).toBe(`the target is being written by run run-1 (process ${child.pid})`)

        child.kill("SIGKILL")
        yield* Effect.promise(() => exited)
        expect(tree(target)).toEqual([
          ".ferry-lock",
          ".ferry-staging-run-1/part.csv",
          "_ferry/manifests/run-0.json",
          "kept.csv"
        ])
        // The dead process's lock is taken over and its staging folder removed.
        expect(yield* Effect.flatMap(session(root), (s) => s.isCommitted({ path: "sales" }, "run-1"))).toBe(false)
        expect(tree(target)).toEqual(["_ferry/manifests/run-0.json", "kept.csv"])
        yield* deliver(root, "run-2", "append", { "new.csv": "new" })
        expect(visible(target)).toEqual([
          "_ferry/manifests/run-0.json",
          "_ferry/manifests/run-2.json",
          "kept.csv",
          "new.csv"
        ])
      }),
    120_000
  )

  it.scoped("a lock left empty by a crash is taken over once old; another machine's lock is not", () =>
    Effect.gen(function* () {
      const root = freshRoot()
      const target = path.join(root, "sales")
      fs.mkdirSync(target)
      // The lock file's name, as a live writer leaves it.
      const lockName = yield* Effect.scoped(
        Effect.map(openWriter(root, "run-0"), () => tree(target).find((file) => !file.includes("/"))!)
      )
      const lock = path.join(target, lockName)

      fs.writeFileSync(lock, "")
      const fresh = yield* Effect.flip(Effect.scoped(openWriter(root, "run-1")))
      expect(fresh.message).toBe("the target is being locked by another process")
      const old = new Date(Date.now() - 60_000)
      fs.utimesSync(lock, old, old)
      yield* deliver(root, "run-1", "append", { "a.csv": "a" })
      expect(visible(target)).toEqual(["_ferry/manifests/run-1.json", "a.csv"])

      fs.writeFileSync(lock, JSON.stringify({ pid: 1, host: "another-machine", run_id: "run-x" }))
      const remote = yield* Effect.flip(Effect.scoped(openWriter(root, "run-2")))
      expect(remote.message).toBe(
        `the target is being written by run run-x (process 1 on another-machine); if that process is gone, remove ${lock}`
      )
      fs.rmSync(lock)
    })
  )

  it.scoped("two writers of one process on one target: the second is refused until the first ends", () =>
    Effect.gen(function* () {
      const root = freshRoot()
      const scope = yield* Scope.make()
      yield* Scope.extend(openWriter(root, "run-1"), scope)
      const refused = yield* Effect.flip(Effect.scoped(openWriter(root, "run-2")))
      expect(refused.message).toBe(`the target is being written by run run-1 (process ${process.pid})`)
      // Asking whether a run was committed does not need the lock.
      expect(yield* Effect.flatMap(session(root), (s) => s.isCommitted({ path: "sales" }, "run-1"))).toBe(false)
      yield* Scope.close(scope, Exit.void)
      yield* deliver(root, "run-2", "append", { "a.csv": "a" })
      expect(visible(path.join(root, "sales"))).toEqual(["_ferry/manifests/run-2.json", "a.csv"])
    })
  )
})
