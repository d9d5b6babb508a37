import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import { SourceError } from "../../core/Errors.js"
import type { FileWriter, WrittenFile } from "../../core/Sink.js"
import type { EncodedTable, FileAccess, FileEntry } from "../../core/Source.js"
import { copyFiles, transferEncodedToFile } from "../../core/Transfer.js"

/** A file store held in a map; `onRead` runs after each read, to change a file under the copier's feet. */
const memoryFiles = (files: Map<string, string>, onRead: (path: string) => void = () => {}) => {
  const versions = new Map<string, number>()
  const entry = (path: string): FileEntry => ({
    path,
    size: Buffer.byteLength(files.get(path)!),
    lastModified: 1_000 + [...files.keys()].indexOf(path),
    etag: `${path}@${versions.get(path) ?? 0}`
  })
  const access: FileAccess<null> = {
    list: () => Stream.fromIterable([...files.keys()].sort().map(entry)),
    read: (_, file) =>
      Stream.suspend(() => {
        const bytes = new TextEncoder().encode(files.get(file.path)!)
        onRead(file.path)
        return Stream.make(bytes)
      }),
    stat: (_, path) => Effect.succeed(entry(path))
  }
  const change = (path: string, content: string) => {
    files.set(path, content)
    versions.set(path, (versions.get(path) ?? 0) + 1)
  }
  return { access, change }
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")

/** A writer keeping what it was given; `copies` decides whether it copies in place, from `source`. */
const memoryWriter = (copies: boolean | "refuses", source = new Map<string, string>()) => {
  const streamed: Array<string> = []
  const copied: Array<string> = []
  const content = new Map<string, string>()
  const writer: FileWriter = {
    write: (file, bytes) =>
      Effect.map(Stream.runCollect(bytes), (chunks): WrittenFile => {
        const text = [...chunks].map((chunk) => new TextDecoder().decode(chunk)).join("")
        streamed.push(file.path)
        content.set(file.path, text)
        return { path: file.path, bytes: Buffer.byteLength(text), sha256: sha256(text) }
      }),
    ...(copies === false
      ? {}
      : {
          copy: (file) =>
            Effect.sync(() => {
              if (copies === "refuses") return Option.none()
              const text = source.get(file.path)!
              copied.push(file.path)
              return Option.some({ path: file.path, bytes: Buffer.byteLength(text), sha256: sha256(text) })
            })
        }),
    commit: () => Effect.die("not committed in these tests"),
    abort: Effect.void
  }
  return { writer, streamed, copied, content }
}

const copy = (access: FileAccess<null>, writer: FileWriter) =>
  copyFiles({
    access,
    dataset: null,
    range: { after: Option.none(), until: Number.MAX_SAFE_INTEGER },
    writer,
    report: () => Effect.void,
    store: "memory"
  })

describe("copyFiles", () => {
  const files = () =>
    new Map([
      ["a.txt", "alpha"],
      ["b/c.txt", "gamma"]
    ])

  it.effect("streams each file through the writer when the source cannot say where it is", () =>
    Effect.gen(function* () {
      const { access } = memoryFiles(files())
      const target = memoryWriter(true)
      const result = yield* copy(access, target.writer)
      expect(target.streamed).toEqual(["a.txt", "b/c.txt"])
      expect(target.copied).toEqual([])
      expect(result).toMatchObject({ files: 2, bytes: 10, copiedInStore: 0, streamedBytes: 10 })
      expect(Option.getOrThrow(result.watermark).path).toBe("b/c.txt")
    })
  )

  it.effect("copies inside the store when both sides can, and streams when the writer declines", () =>
    Effect.gen(function* () {
      const source = files()
      const { access } = memoryFiles(source)
      const located: FileAccess<null> = {
        ...access,
        locate: (_, file) => Effect.succeed({ kind: "local", path: `/store/${file.path}` })
      }
      const inStore = memoryWriter(true, source)
      expect(yield* copy(located, inStore.writer)).toMatchObject({ files: 2, copiedInStore: 2, streamedBytes: 0 })
      expect(inStore.copied).toEqual(["a.txt", "b/c.txt"])
      expect(inStore.streamed).toEqual([])

      const declining = memoryWriter("refuses")
      expect(yield* copy(located, declining.writer)).toMatchObject({ files: 2, copiedInStore: 0 })
      expect(declining.streamed).toEqual(["a.txt", "b/c.txt"])
    })
  )

  it.effect("copies a file again when it changed while it was read, and delivers the new content", () =>
    Effect.gen(function* () {
      let changes = 0
      const store = memoryFiles(files(), (path) => {
        if (path === "a.txt" && changes++ === 0) store.change("a.txt", "alpha, rewritten")
      })
      const target = memoryWriter(false)
      const result = yield* copy(store.access, target.writer)
      expect(target.content.get("a.txt")).toBe("alpha, rewritten")
      expect(target.streamed.filter((path) => path === "a.txt")).toHaveLength(2)
      expect(result.files).toBe(2)
    })
  )

  it.effect("fails, naming the file, when it keeps changing", () =>
    Effect.gen(function* () {
      let version = 0
      const store = memoryFiles(files(), (path) => {
        if (path === "b/c.txt") store.change(path, `gamma ${++version}`)
      })
      const error = yield* Effect.flip(copy(store.access, memoryWriter(false).writer))
      expect(error._tag).toBe("SourceError")
      expect((error as SourceError).file).toBe("b/c.txt")
      expect(error.message).toBe("b/c.txt kept changing while it was copied (3 attempts); try again when it is stable")
    })
  )

  it.effect("copies a file again when its read failed because it changed, and lets other failures stand", () =>
    Effect.gen(function* () {
      const source = files()
      const store = memoryFiles(source)
      const refused = (path: string) =>
        new SourceError({ store: "memory", file: path, message: `${path} is not the version listed` })
      // A store that reads on the condition that the etag still holds: the read fails once the file changed.
      let changes = 0
      const conditional: FileAccess<null> = {
        ...store.access,
        read: (dataset, file) =>
          Stream.suspend(() => {
            if (file.path === "a.txt" && changes++ === 0) store.change("a.txt", "alpha, rewritten")
            return store.access.stat(dataset, file.path).pipe(
              Effect.map((now) => now.etag === file.etag),
              Stream.fromEffect,
              Stream.flatMap((same) => (same ? store.access.read(dataset, file) : Stream.fail(refused(file.path))))
            )
          })
      }
      const target = memoryWriter(false)
      const result = yield* copy(conditional, target.writer)
      expect(target.content.get("a.txt")).toBe("alpha, rewritten")
      expect(result.files).toBe(2)

      // The same failure without a change is the run's failure.
      const failing: FileAccess<null> = { ...store.access, read: (_, file) => Stream.fail(refused(file.path)) }
      const error = yield* Effect.flip(copy(failing, memoryWriter(false).writer))
      expect(error.message).toBe("a.txt is not the version listed")
    })
  )
})

describe("transferEncodedToFile", () => {
  const encode = (text: string) => new TextEncoder().encode(text)
  /** Parts of encoded rows, one line per row; the watermark is the number of rows. */
  const encoded = (parts: ReadonlyArray<ReadonlyArray<string>>): EncodedTable<number> => {
    let rows = 0
    return {
      parts: parts.map((lines) =>
        Stream.fromIterable(lines).pipe(
          Stream.map((line) => {
            rows++
            return encode(`${line}\n`)
          })
        )
      ),
      rows: () => rows,
      watermark: Option.some(parts.flat().length)
    }
  }
  const transfer = (parts: ReadonlyArray<ReadonlyArray<string>>, writeEmpty: boolean) =>
    Effect.gen(function* () {
      const { writer, content } = memoryWriter(false)
      const transferred = yield* transferEncodedToFile({
        encoded: encoded(parts),
        header: [encode("n\n")],
        writer,
        path: (part) => `part-${part}.csv`,
        writeEmpty,
        report: () => Effect.void
      })
      return { transferred, content: Object.fromEntries(content) }
    })

  it.effect("writes each part with rows as a file of its own, each after the header", () =>
    Effect.gen(function* () {
      const { transferred, content } = yield* transfer([["1", "2"], [], ["3"]], true)
      expect(content).toEqual({ "part-0.csv": "n\n1\n2\n", "part-2.csv": "n\n3\n" })
      expect(transferred).toEqual({ rows: 3, bytes: 10, files: 2, watermark: Option.some(3) })
    })
  )

  it.effect("gives a chunk back to the source once a writer that releases chunks pulls more, and never to others", () =>
    Effect.gen(function* () {
      const lines = Array.from({ length: 40 }, (_, index) => String(index))
      const run = (releasesChunks: boolean) =>
        Effect.gen(function* () {
          const recycled = new Set<Uint8Array>()
          const table = { ...encoded([lines]), recycle: (chunk: Uint8Array) => recycled.add(chunk) }
          const seen: Array<Uint8Array> = []
          const writer: FileWriter = {
            ...memoryWriter(false).writer,
            ...(releasesChunks ? { releasesChunks } : {}),
            write: (file, content) =>
              Effect.as(
                Stream.runForEach(content, (chunk) =>
                  Effect.gen(function* () {
                    // Nothing it is writing, or will write, has gone back, nor goes back while it writes.
                    expect(recycled.has(chunk)).toBe(false)
                    yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
                    expect(recycled.has(chunk)).toBe(false)
                    seen.push(chunk)
                  })
                ),
                { path: file.path, bytes: 0 }
              )
          }
          yield* transferEncodedToFile({
            encoded: table,
            header: [encode("n\n")],
            writer,
            path: (part) => `part-${part}.csv`,
            writeEmpty: true,
            report: () => Effect.void
          })
          return { recycled, seen }
        })
      const releasing = yield* run(true)
      expect(releasing.seen.length).toBe(41)
      // All but the last pull's rows go back (and the header, which the source ignores).
      expect(releasing.recycled.size).toBeGreaterThanOrEqual(35)
      expect(releasing.recycled.has(releasing.seen.at(-1)!)).toBe(false)
      const holding = yield* run(false)
      expect(holding.seen.length).toBe(41)
      expect(holding.recycled.size).toBe(0)
    })
  )

  it.effect("writes the header alone for a full snapshot without rows, and nothing for an incremental run", () =>
    Effect.gen(function* () {
      const full = yield* transfer([[], []], true)
      expect(full.content).toEqual({ "part-0.csv": "n\n" })
      expect(full.transferred).toEqual({ rows: 0, bytes: 2, files: 1, watermark: Option.none() })
      const incremental = yield* transfer([[], []], false)
      expect(incremental.content).toEqual({})
      expect(incremental.transferred).toEqual({ rows: 0, bytes: 0, files: 0, watermark: Option.none() })
    })
  )
})
