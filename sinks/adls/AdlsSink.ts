/**
 * Azure Data Lake Storage Gen2 as a sink: files arrive in a directory of a file system
 * (the target's `directory`), streamed through the Blob endpoint in staged blocks, or
 * copied server-side when they come from blob or ADLS storage the service can read (a
 * signed, read-only URL the source gives). Tables arrive as CSV, Parquet or JSON Lines
 * parts. The target's bookkeeping is the blob sink's (`_ferry/` in the directory: the
 * lock, commit records, manifests), so a target can change between the two ways of
 * publishing below and still complete a commit a crash left decided.
 *
 * With a hierarchical namespace (`hierarchical_namespace: true`, the default), a commit
 * publishes by renaming through the DFS endpoint:
 *
 * 1. a writer takes the target's lock, completes a commit left decided by a crash, and
 *    deletes what aborted runs left (`_ferry/tmp/`, one request);
 * 2. files are written under the directory `_ferry/tmp/<run id>/`, created first;
 * 3. commit plans the renames from two listings and refuses, before deciding anything,
 *    a path where the target holds the other kind (a file where the run delivers a
 *    directory, or the reverse) that the run does not replace;
 * 4. the commit record (`_ferry/commits/<run id>.json`) decides the commit;
 * 5. the staged tree is renamed into place: a directory the target lacks moves whole in
 *    one atomic rename, a file replaces the file at its path in one; files a full
 *    snapshot replaces are deleted after, whole directories at once; the manifest is
 *    written last (`_ferry/manifests/<run id>.json`), and the staging directory deleted.
 *
 * Without one, the target publishes as a blob target does (sinks/azure-blob: a
 * server-side copy and a delete per file), which this module delegates to.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { AdlsStoreConfig } from "../../connectors/adls/AdlsStore.js"
import {
  AdlsStoreConfig as StoreConfig,
  blobStoreConfig,
  FileSystemName,
  inLakeTerms,
  openBlobSide,
  openLake
} from "../../connectors/adls/AdlsStore.js"
import type { Lake } from "../../connectors/adls/AdlsStore.js"
import type { AzureBlobError } from "../../connectors/azure-blob/AzureBlobStore.js"
import { canCopyBetween, checkContainer, statusOf } from "../../connectors/azure-blob/AzureBlobStore.js"
import { blobPathProblem, isFerryInternal } from "../../connectors/azure-blob/BlobFiles.js"
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
import type { AzureBlobManifest, AzureBlobTargetConfig, Target as BlobTarget } from "../azure-blob/AzureBlobSink.js"
import * as BlobSink from "../azure-blob/AzureBlobSink.js"
import { uploadBlocks } from "../azure-blob/internal/BlockUpload.js"
import { tryLock } from "../azure-blob/internal/TargetLock.js"
import type { PlannedPath } from "./internal/RenamePlan.js"
import { pathKinds, planRemovals, planRenames } from "./internal/RenamePlan.js"

export const AdlsTargetConfig = Schema.Struct({
  file_system: FileSystemName.annotations({
    description: "The file system that receives the dataset; it must exist.",
    examples: ["received"]
  }),
  directory: Schema.optional(
    Schema.String.pipe(
      Schema.filter(
        (text) => {
          const folder = text.replace(/^\/+/, "").replace(/\/+$/, "")
          const problem = folder === "" ? undefined : blobPathProblem(folder)
          return problem === undefined ? undefined : inLakeTerms(problem)
        },
        { jsonSchema: {} }
      )
    ).annotations({
      description: "The directory of the file system that receives the dataset; by default, the whole file system.",
      examples: ["contoso/sales/"]
    })
  )
}).annotations({ identifier: "AdlsTargetConfig" })
export type AdlsTargetConfig = typeof AdlsTargetConfig.Type

/** The target as the blob sink names it: the file system as a container, the directory as a path. */
export const blobTarget = (target: AdlsTargetConfig): AzureBlobTargetConfig => ({
  container: target.file_system,
  ...(target.directory === undefined ? {} : { path: target.directory })
})

/** Requests of a commit at once (renames, deletes). */
const COMMIT_CONCURRENCY = 8

/** A target directory: the blob sink's target (its container is the file system), with the DFS side. */
interface Target extends BlobTarget {
  readonly lake: Lake
}

const internal = (target: Target) => `${target.prefix}_ferry/`
const lockName = (target: Target) => `${internal(target)}lock`
/** The staging directory of a run, without a trailing `/`. */
const stagingOf = (target: Target, runId: string) => `${internal(target)}tmp/${runId}`
const recordName = (target: Target, runId: string) => `${internal(target)}commits/${runId}.json`
const manifestName = (target: Target, runId: string) => `${internal(target)}manifests/${runId}.json`

const inLakeWords = (error: SinkError): SinkError => new SinkError({ ...error, message: inLakeTerms(error.message) })

const fail = (target: Target, message: string) => new SinkError({ store: target.store, target: target.shown, message })

const sinkError = (target: Target) => (error: AzureBlobError) => fail(target, inLakeTerms(error.message))

const containerOf = (target: Target) => target.account.service.getContainerClient(target.container)

/** A request to the Blob endpoint, its failure told as a SinkError about `path` (or the file system). */
const call = <A>(target: Target, action: string, path: string | undefined, run: () => Promise<A>) =>
  Effect.tryPromise({
    try: run,
    catch: (error) =>
      fail(
        target,
        inLakeTerms(
          target.account.describe(
            error,
            action,
            path === undefined ? { container: target.container } : { container: target.container, blob: path }
          )
        )
      )
  })

/** A request to the DFS endpoint, its failure told as a SinkError about `path`. */
const dfs = <A>(target: Target, action: string, path: string, run: () => Promise<A>) =>
  Effect.tryPromise({
    try: run,
    catch: (error) => fail(target, target.lake.describe(error, action, target.container, path))
  })

const fileSystemOf = (target: Target) => target.lake.service.getFileSystemClient(target.container)

const ignoreMissing = (error: unknown) => {
  if (statusOf(error) === 404) return undefined
  throw error
}

/** Deletes a path through the DFS endpoint: a directory with everything in it, in one request. */
const deletePath = (target: Target, path: string, kind: "file" | "directory") =>
  Effect.asVoid(
    dfs(target, "deleting", path, () =>
      (kind === "directory"
        ? fileSystemOf(target).getDirectoryClient(path).delete(true)
        : fileSystemOf(target).getFileClient(path).delete()
      ).catch(ignoreMissing)
    )
  )

/** Renames `from` to `to` in the file system, in one request: a directory moves with everything in it. */
const rename = (target: Target, from: string, to: string, kind: "file" | "directory") =>
  Effect.asVoid(
    dfs(target, `renaming ${target.container}/${from} to`, to, () =>
      (kind === "directory"
        ? fileSystemOf(target).getDirectoryClient(from)
        : fileSystemOf(target).getFileClient(from)
      ).move(target.container, to)
    )
  )

interface Listed {
  readonly name: string
  /** A directory, as a listing of the Blob endpoint shows one with a hierarchical namespace. */
  readonly directory: boolean
}

/** The paths under `prefix`, listed in pages through the Blob endpoint, with their metadata. */
const listEntries = (target: Target, prefix: string): Effect.Effect<ReadonlyArray<Listed>, SinkError> =>
  call(target, "listing", undefined, async () => {
    const entries: Array<Listed> = []
    const pages = containerOf(target).listBlobsFlat({ prefix, includeMetadata: true }).byPage({ maxPageSize: 5_000 })
    for await (const page of pages) {
      for (const item of page.segment.blobItems) {
        entries.push({ name: item.name, directory: item.metadata?.["hdi_isfolder"] === "true" })
      }
    }
    return entries
  })

// The bookkeeping goes through the Blob endpoint, as the blob sink keeps it.
const exists = (target: Target, blob: string) => Effect.mapError(BlobSink.exists(target, blob), inLakeWords)
const readManifest = (target: Target, blob: string) => Effect.mapError(BlobSink.readManifest(target, blob), inLakeWords)
const writeJson = (target: Target, blob: string, value: unknown) =>
  Effect.mapError(BlobSink.writeJson(target, blob, value), inLakeWords)

/**
 * The target's paths now, relative to it, by kind (the bookkeeping under `_ferry/` left
 * out), and the paths of that bookkeeping, which a removal must never take with it.
 */
const targetPaths = (target: Target) =>
  Effect.map(listEntries(target, target.prefix), (entries) => {
    const relative = entries
      .map((entry) => ({ path: entry.name.slice(target.prefix.length), directory: entry.directory }))
      .filter((entry) => entry.path !== "")
    return {
      kinds: pathKinds(relative.filter((entry) => !isFerryInternal(entry.path))),
      bookkeeping: relative.filter((entry) => isFerryInternal(entry.path)).map((entry) => entry.path)
    }
  })

/** The staged files of a run, relative to its staging directory. */
const stagedFiles = (target: Target, staging: string) =>
  Effect.map(listEntries(target, `${staging}/`), (entries) =>
    entries.filter((entry) => !entry.directory).map((entry) => entry.name.slice(staging.length + 1))
  )

/** Finishes a decided commit by renames; every step can run again after a crash half way. */
const rollForward = (target: Target, manifest: AzureBlobManifest): Effect.Effect<void, SinkError> =>
  Effect.gen(function* () {
    const staging = stagingOf(target, manifest.run_id)
    const staged = yield* stagedFiles(target, staging)
    const pending = new Set(staged)
    // A file no longer staged was renamed before a crash; one that is nowhere cannot be published.
    for (const file of manifest.files.filter((file) => !pending.has(file.path))) {
      const final = `${target.prefix}${file.path}`
      const size = yield* call(target, "reading", final, () =>
        containerOf(target)
          .getBlobClient(final)
          .getProperties()
          .then((properties) => properties.contentLength ?? 0, ignoreMissing)
      )
      if (size !== file.bytes) {
        return yield* fail(
          target,
          `run ${manifest.run_id} cannot be completed: its file ${file.path} is neither staged nor in place`
        )
      }
    }
    const { bookkeeping, kinds } = yield* targetPaths(target)
    const plan = planRenames(staged, kinds, new Set(manifest.removed))
    if (plan.conflicts.length > 0) {
      return yield* fail(target, `run ${manifest.run_id} cannot be published: ${plan.conflicts.join("; ")}`)
    }
    const each = (paths: ReadonlyArray<PlannedPath>, run: (entry: PlannedPath) => Effect.Effect<void, SinkError>) =>
      Effect.forEach(paths, run, { concurrency: COMMIT_CONCURRENCY, discard: true })
    yield* each(plan.clear, (entry) => deletePath(target, `${target.prefix}${entry.path}`, entry.kind))
    yield* each(plan.renames, (entry) =>
      rename(target, `${staging}/${entry.path}`, `${target.prefix}${entry.path}`, entry.kind)
    )
    const kept = new Set([...manifest.files.map((file) => file.path), ...bookkeeping])
    const removals = planRemovals(manifest.removed, kinds, kept, plan.clear)
    yield* each(removals, (entry) => deletePath(target, `${target.prefix}${entry.path}`, entry.kind))
    yield* writeJson(target, manifestName(target, manifest.run_id), manifest)
    yield* Effect.mapError(BlobSink.remove(target, recordName(target, manifest.run_id)), inLakeWords)
    yield* deletePath(target, staging, "directory")
  })

/** Completes decided commits and deletes what aborted runs left; run under the target's lock. */
const recover = (target: Target): Effect.Effect<void, SinkError> =>
  Effect.gen(function* () {
    for (const record of yield* listEntries(target, `${internal(target)}commits/`)) {
      if (record.directory) continue
      const manifest = yield* readManifest(target, record.name)
      if (manifest !== undefined) yield* rollForward(target, manifest)
    }
    // Staging directories of aborted runs, deleted in one request when there are any.
    const leftOver = yield* call(target, "listing", undefined, () =>
      containerOf(target)
        .listBlobsFlat({ prefix: `${internal(target)}tmp/` })
        .byPage({ maxPageSize: 1 })
        .next()
    )
    if (leftOver.done !== true && leftOver.value.segment.blobItems.length > 0) {
      yield* deletePath(target, `${internal(target)}tmp`, "directory")
    }
  })

const checkPath = (target: Target, path: string): Effect.Effect<void, SinkError> => {
  const problem = blobPathProblem(path)
  return problem === undefined ? Effect.void : Effect.fail(fail(target, inLakeTerms(problem)))
}

const lockTarget = (target: Target, runId: string) =>
  Effect.mapError(
    tryLock(target.account, { container: target.container, blob: lockName(target) }, runId),
    sinkError(target)
  )

const openWriter = (target: Target, options: WriteOptions): Effect.Effect<FileWriter, SinkError, Scope.Scope> =>
  Effect.gen(function* () {
    if (options.runId.includes("/") || blobPathProblem(options.runId) !== undefined) {
      return yield* fail(target, `run id ${options.runId} cannot name a directory`)
    }
    yield* Effect.mapError(checkContainer(target.account, target.container), sinkError(target))
    const lock = yield* lockTarget(target, options.runId)
    if ("busy" in lock) return yield* fail(target, lock.busy)
    yield* recover(target)

    const staging = stagingOf(target, options.runId)
    // Made through the DFS endpoint, so that a wrong endpoint or a missing right fails before any data moves.
    yield* dfs(target, "creating the directory", staging, () =>
      fileSystemOf(target).getDirectoryClient(staging).createIfNotExists()
    )
    const written = new Map<string, WrittenFile>()
    let copiedInStore = 0
    let committed = false
    const abort = Effect.ignore(deletePath(target, staging, "directory"))
    yield* Effect.addFinalizer(() => (committed ? Effect.void : abort))

    const write = <E>(file: FileToWrite, content: Stream.Stream<Uint8Array, E>) =>
      Effect.gen(function* () {
        yield* checkPath(target, file.path)
        const uploaded = yield* Effect.mapError(
          uploadBlocks(target.account, { container: target.container, blob: `${staging}/${file.path}` }, content),
          (error): SinkError | E => (isAzureBlobError(error) ? sinkError(target)(error) : error)
        )
        const result: WrittenFile = {
          path: file.path,
          bytes: uploaded.bytes,
          sha256: uploaded.sha256,
          md5: uploaded.md5
        }
        written.set(file.path, result)
        return result
      })

    const copy = (file: FileToWrite, from: FileLocation): Effect.Effect<Option.Option<WrittenFile>, SinkError> =>
      Effect.gen(function* () {
        // A URL the service cannot reach, or whose signature is about to lapse, is not copied from: the file is streamed.
        if (from.kind !== "url" || !canCopyBetween(new URL(from.url), target.account.endpoint)) return Option.none()
        if (from.expires < Date.now() + BlobSink.SIGNATURE_MARGIN_MS) return Option.none()
        yield* checkPath(target, file.path)
        const blob = `${staging}/${file.path}`
        yield* Effect.mapError(BlobSink.copyFromUrl(target, blob, from.signed, from.size, from.etag), inLakeWords)
        const properties = yield* call(target, "reading", blob, () =>
          containerOf(target).getBlobClient(blob).getProperties()
        )
        const md5 =
          properties.contentMD5 === undefined ? {} : { md5: Buffer.from(properties.contentMD5).toString("hex") }
        const result: WrittenFile = { path: file.path, bytes: properties.contentLength ?? 0, ...md5 }
        if (!written.has(file.path)) copiedInStore += 1
        written.set(file.path, result)
        return Option.some(result)
      })

    const commit = (request: CommitRequest): Effect.Effect<Delivery, SinkError> =>
      Effect.gen(function* () {
        const previous = yield* readManifest(target, manifestName(target, request.runId))
        if (previous !== undefined) {
          committed = true
          yield* abort
          return { rows: previous.rows, bytes: previous.bytes, files: previous.files.length, alreadyCommitted: true }
        }
        const files = [...written.values()].sort((a, b) => (a.path < b.path ? -1 : 1))
        const kept = new Set(files.map((file) => file.path))
        const { kinds } = yield* targetPaths(target)
        const removed =
          options.mode === "replace"
            ? [...kinds].flatMap(([path, kind]) => (kind === "file" && !kept.has(path) ? [path] : [])).sort()
            : []
        // Refused before the commit is decided: a decided commit that cannot be renamed into place would stay stuck.
        const preflight = planRenames(
          files.map((file) => file.path),
          kinds,
          new Set(removed)
        )
        if (preflight.conflicts.length > 0) {
          return yield* fail(target, `nothing was published: ${preflight.conflicts.join("; ")}`)
        }
        const manifest: AzureBlobManifest = {
          run_id: request.runId,
          dataset: options.dataset,
          mode: options.mode,
          committed_at: new Date().toISOString(),
          rows: request.rows,
          bytes: files.reduce((total, file) => total + file.bytes, 0),
          files: files.map((file) => ({
            path: file.path,
            bytes: file.bytes,
            ...(file.sha256 === undefined ? {} : { sha256: file.sha256 }),
            ...(file.md5 === undefined ? {} : { md5: file.md5 })
          })),
          copied_in_store: copiedInStore,
          removed,
          watermark: request.watermark
        }
        // The record decides the commit, so it is written only while the lock still holds.
        yield* Effect.mapError(lock.held.ensureHeld, sinkError(target))
        // From here the staged files are the record's: kept even if its write seems to fail
        // (it may have reached the service); the next writer rolls forward or clears them.
        committed = true
        yield* writeJson(target, recordName(target, request.runId), manifest)
        yield* rollForward(target, manifest)
        return { rows: manifest.rows, bytes: manifest.bytes, files: files.length, alreadyCommitted: false }
      })

    return { write, copy, commit, abort } satisfies FileWriter
  })

const isAzureBlobError = (error: unknown): error is AzureBlobError =>
  typeof error === "object" && error !== null && "_tag" in error && error._tag === "AzureBlobError"

const mapSinkError = <E>(error: SinkError | E): SinkError | E =>
  error instanceof SinkError ? inLakeWords(error) : error

/** The blob sink's writer, its messages told in a data lake's words. */
const inLakeWriter = (writer: FileWriter): FileWriter => ({
  write: (file, content) => Effect.mapError(writer.write(file, content), mapSinkError),
  ...(writer.copy === undefined
    ? {}
    : { copy: (file, from) => Effect.mapError(writer.copy!(file, from), inLakeWords) }),
  commit: (request) => Effect.mapError(writer.commit(request), inLakeWords),
  abort: writer.abort
})

/** Without a hierarchical namespace the target is a blob target, published by the blob sink. */
const openAsBlobs = (
  config: AdlsStoreConfig,
  context: StoreContext
): Effect.Effect<SinkSession<AdlsTargetConfig>, SinkError, Scope.Scope> =>
  Effect.map(Effect.mapError(BlobSink.azureBlobSink.open(blobStoreConfig(config), context), inLakeWords), (blob) => ({
    describeTarget: (target) => blob.describeTarget(blobTarget(target)),
    files: {
      open: (target, options) =>
        Effect.map(Effect.mapError(blob.files!.open(blobTarget(target), options), inLakeWords), inLakeWriter)
    },
    isCommitted: (target, runId) => Effect.mapError(blob.isCommitted(blobTarget(target), runId), inLakeWords)
  }))

const openSession = (
  config: AdlsStoreConfig,
  context: StoreContext
): Effect.Effect<SinkSession<AdlsTargetConfig>, SinkError, Scope.Scope> =>
  Effect.gen(function* () {
    if (!config.hierarchical_namespace) return yield* openAsBlobs(config, context)
    const opened = (error: AzureBlobError) =>
      new SinkError({ store: context.store, message: inLakeTerms(error.message) })
    const account = yield* Effect.mapError(openBlobSide(config, context.store), opened)
    const lake = yield* Effect.mapError(openLake(config, account), opened)
    const targetOf = (config: AdlsTargetConfig): Target => {
      const folder = (config.directory ?? "").replace(/^\/+/, "").replace(/\/+$/, "")
      const prefix = folder === "" ? "" : `${folder}/`
      return {
        account,
        lake,
        store: context.store,
        shown: `${config.file_system}/${prefix}`,
        container: config.file_system,
        prefix
      }
    }
    return {
      describeTarget: (config) => targetOf(config).shown,
      files: { open: (config, options) => openWriter(targetOf(config), options) },
      isCommitted: (config, runId) =>
        Effect.scoped(
          Effect.gen(function* () {
            const target = targetOf(config)
            if ((yield* readManifest(target, manifestName(target, runId))) !== undefined) return true
            if (!(yield* exists(target, recordName(target, runId)))) return false
            // A decided commit: completed here under the lock, or by the writer holding it.
            const lock = yield* lockTarget(target, runId)
            if ("held" in lock) yield* recover(target)
            return true
          })
        )
    }
  })

export const adlsSink: SinkConnector<AdlsStoreConfig, AdlsTargetConfig> = {
  type: "adls",
  description:
    "Azure Data Lake Storage Gen2: files arrive in a directory of a file system, streamed in blocks or copied server-side from blob or ADLS storage, and are published by renaming directories; tables arrive as CSV, Parquet or JSON Lines parts.",
  storeConfig: StoreConfig,
  targetConfig: AdlsTargetConfig,
  open: openSession
}
