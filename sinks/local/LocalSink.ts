/**
 * The local sink writes files into a folder of a local store and publishes them
 * atomically:
 *
 * 1. files are written into a hidden staging folder inside the target
 *    (`.ferry-staging-<run id>/`) and fsynced;
 * 2. commit writes a commit record into the staging folder and fsyncs it: from this
 *    point the commit is decided and rolls forward, even after a crash;
 * 3. each file is renamed into place (an atomic step per file), files the run
 *    replaces are removed, and the run's manifest is written last, under
 *    `_ferry/manifests/<run id>.json`.
 *
 * A consumer treats a run as delivered when its manifest is there. A staging folder
 * without a commit record is an aborted run and is removed; one with a record is
 * completed the next time the target is opened. A manifest for the run id makes a
 * second commit a no-op.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import { constants as fsConstants, createReadStream } from "node:fs"
import * as fs from "node:fs/promises"
import { pipeline } from "node:stream/promises"
import * as os from "node:os"
import * as path from "node:path"
import { SinkError } from "../../core/Errors.js"
import type {
  CommitRequest,
  Delivery,
  FileToWrite,
  FileWriter,
  SinkConnector,
  SinkSession,
  WriteOptions,
  WrittenFile
} from "../../core/Sink.js"
import type { FileLocation, StoreContext } from "../../core/Source.js"
import { isFerryInternal } from "../../connectors/local/LocalFiles.js"
import { LocalStoreConfig, relativePosix, resolveInside, resolveRoot } from "../../connectors/local/LocalStore.js"
import { isAlive } from "../internal/Processes.js"

export const LocalTargetConfig = Schema.Struct({
  path: Schema.NonEmptyString.annotations({
    description: "The folder, relative to the store's root, that receives the dataset.",
    examples: ["sales/", "received/documents"]
  })
}).annotations({ identifier: "LocalTargetConfig" })
export type LocalTargetConfig = typeof LocalTargetConfig.Type

const MANIFESTS = path.join("_ferry", "manifests")
const COMMIT_RECORD = ".ferry-commit.json"
const LOCK_FILE = ".ferry-lock"
const STAGING_PREFIX = ".ferry-staging-"

/** The run's manifest: what a consumer reads to know a delivery is complete. */
export const Manifest = Schema.Struct({
  run_id: Schema.String,
  dataset: Schema.String,
  mode: Schema.Literal("replace", "append", "merge"),
  committed_at: Schema.String,
  rows: Schema.Number,
  bytes: Schema.Number,
  files: Schema.Array(Schema.Struct({ path: Schema.String, bytes: Schema.Number, sha256: Schema.String })),
  removed: Schema.Array(Schema.String),
  watermark: Schema.Unknown
})
export type Manifest = typeof Manifest.Type

const decodeManifest = Schema.decodeUnknownSync(Schema.parseJson(Manifest))

interface Target {
  readonly store: string
  /** The target as the user wrote it, for messages. */
  readonly shown: string
  readonly folder: string
}

const fail = (target: Target, message: string) => new SinkError({ store: target.store, target: target.shown, message })

const attempt = <A>(target: Target, what: string, run: () => Promise<A>): Effect.Effect<A, SinkError> =>
  Effect.tryPromise({
    try: run,
    catch: (error) => fail(target, `${what}: ${error instanceof Error ? error.message : String(error)}`)
  })

const exists = (file: string): Promise<boolean> =>
  fs.access(file).then(
    () => true,
    () => false
  )

const fsyncPath = async (file: string): Promise<void> => {
  const handle = await fs.open(file, "r")
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

const writeDurably = async (file: string, content: string): Promise<void> => {
  const temporary = `${file}.tmp-${process.pid}`
  const handle = await fs.open(temporary, "w")
  try {
    await handle.writeFile(content)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await fs.rename(temporary, file)
  await fsyncPath(path.dirname(file))
}

const manifestPath = (target: Target, runId: string) => path.join(target.folder, MANIFESTS, `${runId}.json`)

const readManifest = (target: Target, runId: string): Effect.Effect<Manifest | undefined, SinkError> =>
  attempt(target, `reading the manifest of run ${runId}`, async () => {
    const file = manifestPath(target, runId)
    return (await exists(file)) ? decodeManifest(await fs.readFile(file, "utf8")) : undefined
  })

/** Every file Ferry has published in the target (bookkeeping and staging excluded). */
const publishedFiles = async (folder: string): Promise<Array<string>> => {
  const files: Array<string> = []
  const pending = [folder]
  while (pending.length > 0) {
    const current = pending.pop()!
    for (const entry of await fs.readdir(current, { withFileTypes: true })) {
      if (isFerryInternal(entry.name)) continue
      const full = path.join(current, entry.name)
      if (entry.isDirectory()) pending.push(full)
      else files.push(relativePosix(folder, full))
    }
  }
  return files
}

/** Finishes a decided commit; every step can run again after a crash half way. */
const rollForward = async (target: Target, staging: string, manifest: Manifest): Promise<void> => {
  for (const file of manifest.files) {
    const from = path.join(staging, file.path)
    const to = path.join(target.folder, file.path)
    if (await exists(from)) {
      await fs.mkdir(path.dirname(to), { recursive: true })
      await fs.rename(from, to)
    }
  }
  for (const file of manifest.removed) await fs.rm(path.join(target.folder, file), { force: true })
  await fs.mkdir(path.join(target.folder, MANIFESTS), { recursive: true })
  await writeDurably(manifestPath(target, manifest.run_id), JSON.stringify(manifest, null, 2))
  await fsyncPath(target.folder)
  await fs.rm(staging, { recursive: true, force: true })
}

/** Completes decided commits and removes aborted staging folders left by a crash. */
const recover = (target: Target): Effect.Effect<void, SinkError> =>
  attempt(target, "recovering an interrupted run", async () => {
    if (!(await exists(target.folder))) return
    for (const entry of await fs.readdir(target.folder, { withFileTypes: true })) {
      if (!entry.isDirectory() || !entry.name.startsWith(STAGING_PREFIX)) continue
      const staging = path.join(target.folder, entry.name)
      const record = path.join(staging, COMMIT_RECORD)
      if (await exists(record)) await rollForward(target, staging, decodeManifest(await fs.readFile(record, "utf8")))
      else await fs.rm(staging, { recursive: true, force: true })
    }
  })

/** How long an empty or torn lock file counts as being written rather than left by a crash. */
const TORN_LOCK_MS = 10_000

/**
 * Why the lock file still holds, or `undefined` when it may be taken over: it is gone,
 * its process no longer runs, or it was left empty by a crash between its creation and
 * its first write. A lock of another machine holds: its process cannot be checked from here.
 */
const stillHeld = async (lock: string): Promise<string | undefined> => {
  const [text, stats] = await Promise.all([
    fs.readFile(lock, "utf8").catch(() => ""),
    fs.stat(lock).catch(() => undefined)
  ])
  if (stats === undefined) return undefined
  let holder: { pid?: unknown; host?: unknown; run_id?: unknown }
  try {
    holder = JSON.parse(text) as typeof holder
  } catch {
    return Date.now() - stats.mtimeMs < TORN_LOCK_MS ? "the target is being locked by another process" : undefined
  }
  if (typeof holder.pid !== "number" || typeof holder.host !== "string") return undefined
  const run = typeof holder.run_id === "string" ? holder.run_id : "?"
  if (holder.host !== os.hostname()) {
    return `the target is being written by run ${run} (process ${holder.pid} on ${holder.host}); if that process is gone, remove ${lock}`
  }
  return isAlive(holder.pid) ? `the target is being written by run ${run} (process ${holder.pid})` : undefined
}

/**
 * One writer at a time per target folder: a lock file names the process and run
 * holding it. A lock left by a process that no longer runs is taken over. Succeeds
 * with why the target is busy when a live process holds it, and then holds nothing.
 */
const tryLockTarget = (target: Target, runId: string): Effect.Effect<string | undefined, SinkError, Scope.Scope> => {
  const lock = path.join(target.folder, LOCK_FILE)
  const owner = JSON.stringify({ pid: process.pid, host: os.hostname(), run_id: runId })
  const take = async (): Promise<string | undefined> => {
    await fs.mkdir(target.folder, { recursive: true })
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await fs.writeFile(lock, owner, { flag: "wx" })
        return undefined
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
        const busy = await stillHeld(lock)
        if (busy !== undefined) return busy
        await fs.rm(lock, { force: true })
      }
    }
    return "the target's lock could not be taken"
  }
  return Effect.acquireRelease(attempt(target, "locking the target", take), (busy) =>
    busy === undefined ? Effect.promise(() => fs.rm(lock, { force: true })) : Effect.void
  )
}

const lockTarget = (target: Target, runId: string): Effect.Effect<void, SinkError, Scope.Scope> =>
  Effect.flatMap(tryLockTarget(target, runId), (busy) =>
    busy === undefined ? Effect.void : Effect.fail(fail(target, busy))
  )

/** True when the run's staging folder holds a commit record: the commit is decided and will be completed. */
const isDecided = (target: Target, runId: string): Effect.Effect<boolean, SinkError> =>
  attempt(target, `reading the staging folder of run ${runId}`, () =>
    exists(path.join(target.folder, `${STAGING_PREFIX}${runId}`, COMMIT_RECORD))
  )

/** The staging path of a file, refused when it would leave the staging folder. */
const stagedPath = (target: Target, staging: string, file: FileToWrite) =>
  Effect.tap(
    resolveInside(staging, file.path).pipe(Effect.mapError((error) => fail(target, error.message))),
    (destination) =>
      attempt(target, `creating the folder of ${file.path}`, () =>
        fs.mkdir(path.dirname(destination), { recursive: true })
      )
  )

/** Keeps the source's modification time on the copy, so that the target's files read like the source's. */
const keepModificationTime = (target: Target, destination: string, file: FileToWrite) => {
  if (file.lastModified === undefined) return Effect.void
  const mtime = new Date(file.lastModified)
  return attempt(target, `setting the modification time of ${file.path}`, () => fs.utimes(destination, mtime, mtime))
}

/** A file written by this sink, which always knows its checksum. */
type Checksummed = WrittenFile & { readonly sha256: string }

const writeFile = <E>(
  target: Target,
  staging: string,
  file: FileToWrite,
  content: Stream.Stream<Uint8Array, E>
): Effect.Effect<Checksummed, SinkError | E> =>
  Effect.gen(function* () {
    const destination = yield* stagedPath(target, staging, file)
    const hash = createHash("sha256")
    let bytes = 0
    // Flushes started as the file grows, one at a time, so that the last has little left to write.
    let unflushed = 0
    let flushing: Promise<void> | undefined
    yield* Effect.acquireUseRelease(
      attempt(target, `creating ${file.path}`, () => fs.open(destination, "w")),
      (handle) =>
        Stream.runForEach(content, (chunk) =>
          attempt(target, `writing ${file.path}`, async () => {
            hash.update(chunk)
            bytes += chunk.byteLength
            await handle.write(chunk)
            unflushed += chunk.byteLength
            if (unflushed >= FLUSH_AHEAD_BYTES && flushing === undefined) {
              unflushed = 0
              const started = handle.datasync().finally(() => {
                if (flushing === started) flushing = undefined
              })
              // A failure surfaces in the last flush, which waits for this one.
              started.catch(() => undefined)
              flushing = started
            }
          })
        ).pipe(
          Effect.zipRight(
            attempt(target, `flushing ${file.path}`, async () => {
              await flushing
              await handle.sync()
            })
          )
        ),
      (handle) => Effect.promise(() => handle.close())
    )
    yield* keepModificationTime(target, destination, file)
    return { path: file.path, bytes, sha256: hash.digest("hex") }
  })

const HASH_CHUNK_BYTES = 4 * 1024 * 1024

/**
 * Bytes written between the flushes a file's writing starts on its way: the kernel
 * writes them to disk while the next bytes arrive, where one fsync at the end would
 * write the whole file then (0.11 s of a 230 MB CSV run on the benchmark machine).
 * What is left for the last flush is at most this much: 17 ms with 32 MiB there, 2 ms
 * with 8 MiB, for four times as many flushes on the way, one at a time.
 */
const FLUSH_AHEAD_BYTES = 8 * 1024 * 1024

/**
 * A file copied by the file system (a reflink where the file system can, a kernel copy
 * otherwise), then read back once for its checksum and fsynced. A file that is not on
 * this machine is not copied here (`None`): it is streamed.
 */
const copyLocalFile = (
  target: Target,
  staging: string,
  file: FileToWrite,
  from: FileLocation
): Effect.Effect<Option.Option<Checksummed>, SinkError> =>
  Effect.gen(function* () {
    if (from.kind !== "local") return Option.none()
    const destination = yield* stagedPath(target, staging, file)
    yield* attempt(target, `copying ${file.path}`, () =>
      fs.copyFile(from.path, destination, fsConstants.COPYFILE_FICLONE)
    )
    const hash = createHash("sha256")
    yield* attempt(target, `checksumming ${file.path}`, () =>
      pipeline(createReadStream(destination, { highWaterMark: HASH_CHUNK_BYTES }), hash)
    )
    const { size } = yield* attempt(target, `flushing ${file.path}`, () =>
      fsyncPath(destination).then(() => fs.stat(destination))
    )
    yield* keepModificationTime(target, destination, file)
    return Option.some({ path: file.path, bytes: size, sha256: hash.digest("hex") })
  })

const openWriter = (target: Target, options: WriteOptions): Effect.Effect<FileWriter, SinkError, Scope.Scope> =>
  Effect.gen(function* () {
    yield* lockTarget(target, options.runId)
    yield* recover(target)
    const staging = path.join(target.folder, `${STAGING_PREFIX}${options.runId}`)
    const written = new Map<string, Checksummed>()
    let committed = false
    const abort = Effect.promise(() => fs.rm(staging, { recursive: true, force: true }))
    yield* Effect.addFinalizer(() => (committed ? Effect.void : abort))
    yield* attempt(target, "creating the staging folder", () => fs.mkdir(staging, { recursive: true }))

    const commit = (request: CommitRequest): Effect.Effect<Delivery, SinkError> =>
      Effect.gen(function* () {
        const previous = yield* readManifest(target, request.runId)
        if (previous !== undefined) {
          committed = true
          yield* abort
          return { rows: previous.rows, bytes: previous.bytes, files: previous.files.length, alreadyCommitted: true }
        }
        const files = [...written.values()].sort((a, b) => (a.path < b.path ? -1 : 1))
        const kept = new Set(files.map((file) => file.path))
        const removed =
          options.mode === "replace"
            ? (yield* attempt(target, "listing the files to replace", () => publishedFiles(target.folder))).filter(
                (file) => !kept.has(file)
              )
            : []
        const manifest: Manifest = {
          run_id: request.runId,
          dataset: options.dataset,
          mode: options.mode,
          committed_at: new Date().toISOString(),
          rows: request.rows,
          bytes: files.reduce((total, file) => total + file.bytes, 0),
          files,
          removed,
          watermark: request.watermark
        }
        yield* attempt(target, "recording the commit", () =>
          writeDurably(path.join(staging, COMMIT_RECORD), JSON.stringify(manifest))
        )
        committed = true
        yield* attempt(target, "publishing the run's files", () => rollForward(target, staging, manifest))
        return { rows: manifest.rows, bytes: manifest.bytes, files: files.length, alreadyCommitted: false }
      })

    return {
      write: <E>(file: FileToWrite, content: Stream.Stream<Uint8Array, E>) =>
        writeFile(target, staging, file, content).pipe(
          Effect.tap((result) => Effect.sync(() => written.set(result.path, result)))
        ),
      // writeFile hashes each chunk and waits for its write before it pulls the next.
      releasesChunks: true,
      copy: (file, from) =>
        copyLocalFile(target, staging, file, from).pipe(
          Effect.tap((result) => Effect.sync(() => Option.map(result, (copied) => written.set(copied.path, copied))))
        ),
      commit,
      abort
    } satisfies FileWriter
  })

const openSession = (
  config: LocalStoreConfig,
  context: StoreContext
): Effect.Effect<SinkSession<LocalTargetConfig>, SinkError> =>
  Effect.gen(function* () {
    const root = resolveRoot(config, context.baseDir)
    const resolveTarget = (target: LocalTargetConfig): Effect.Effect<Target, SinkError> =>
      resolveInside(root, target.path).pipe(
        Effect.mapError(
          (error) => new SinkError({ store: context.store, target: target.path, message: error.message })
        ),
        Effect.map((folder) => ({ store: context.store, shown: target.path, folder }))
      )
    yield* Effect.tryPromise({
      try: () => fs.mkdir(root, { recursive: true }),
      catch: (error) =>
        new SinkError({ store: context.store, message: `the root ${root} cannot be created: ${String(error)}` })
    })
    return {
      describeTarget: (target) => target.path,
      files: {
        open: (target, options) => Effect.flatMap(resolveTarget(target), (resolved) => openWriter(resolved, options))
      },
      isCommitted: (target, runId) =>
        Effect.scoped(
          Effect.gen(function* () {
            const resolved = yield* resolveTarget(target)
            if (!(yield* Effect.promise(() => exists(resolved.folder)))) return false
            // Under the lock, a decided commit left by a crash is completed first. While
            // another writer holds it, a decided commit counts: that writer completes it.
            const busy = yield* tryLockTarget(resolved, runId)
            if (busy === undefined) yield* recover(resolved)
            if ((yield* readManifest(resolved, runId)) !== undefined) return true
            return busy !== undefined && (yield* isDecided(resolved, runId))
          })
        )
    }
  })

export const localSink: SinkConnector<LocalStoreConfig, LocalTargetConfig> = {
  type: "local",
  description:
    "A folder on this machine. Tables arrive as CSV, Parquet or JSON Lines files; files arrive byte for byte.",
  storeConfig: LocalStoreConfig,
  targetConfig: LocalTargetConfig,
  open: openSession
}
