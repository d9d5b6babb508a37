/**
 * Azure Blob Storage as a sink: files arrive under a folder of a container (the
 * target's `path`), streamed into block blobs in staged blocks, or copied server-side
 * when they come from blob storage the service can read (a signed URL the source gives:
 * their bytes never pass through Ferry). Tables arrive as CSV, Parquet or JSON Lines
 * parts. A target publishes atomically, in the local sink's steps, with blobs:
 *
 * 1. a writer takes the target's lock (a lease on `_ferry/lock`), completes a commit
 *    left decided by a crash, and removes what aborted runs left;
 * 2. files are written under `_ferry/tmp/<run id>/`;
 * 3. commit writes the manifest-to-be as a commit record (`_ferry/commits/<run id>.json`),
 *    which decides the commit: from then on it rolls forward, even after a crash;
 * 4. each file is moved into place (Blob Storage has no rename: a server-side copy, then
 *    a delete), files a full snapshot replaces are removed after the new ones are in
 *    place, and the manifest is written last (`_ferry/manifests/<run id>.json`).
 *
 * A consumer treats a snapshot as complete when its manifest is there; between the first
 * file moved and the manifest, a listing of the folder shows new files beside old ones.
 * A manifest for the run id makes a second commit a no-op.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { AzureBlobError, BlobAccount, BlobPlace } from "../../connectors/azure-blob/AzureBlobStore.js"
import {
  AzureBlobStoreConfig,
  canCopyBetween,
  checkContainer,
  ContainerName,
  openAccount,
  statusOf
} from "../../connectors/azure-blob/AzureBlobStore.js"
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
import { uploadBlocks } from "./internal/BlockUpload.js"
import { tryLock } from "./internal/TargetLock.js"

export const AzureBlobTargetConfig = Schema.Struct({
  container: ContainerName.annotations({
    description: "The container that receives the dataset; it must exist.",
    examples: ["received"]
  }),
  path: Schema.optional(
    Schema.String.pipe(
      Schema.filter(
        (text) => {
          const folder = text.replace(/^\/+/, "").replace(/\/+$/, "")
          return folder === "" ? undefined : blobPathProblem(folder)
        },
        { jsonSchema: {} }
      )
    ).annotations({
      description: "The folder of the container that receives the dataset; by default, the whole container.",
      examples: ["contoso/sales/"]
    })
  )
}).annotations({ identifier: "AzureBlobTargetConfig" })
export type AzureBlobTargetConfig = typeof AzureBlobTargetConfig.Type

/** The run's manifest: what a consumer reads to know a delivery is complete. */
export const AzureBlobManifest = Schema.Struct({
  run_id: Schema.String,
  dataset: Schema.String,
  mode: Schema.Literal("replace", "append", "merge"),
  committed_at: Schema.String,
  rows: Schema.Number,
  bytes: Schema.Number,
  files: Schema.Array(
    Schema.Struct({
      path: Schema.String,
      bytes: Schema.Number,
      sha256: Schema.optional(Schema.String),
      md5: Schema.optional(Schema.String)
    })
  ),
  /** Files of the run copied server-side, whose bytes did not pass through Ferry. */
  copied_in_store: Schema.Number,
  removed: Schema.Array(Schema.String),
  watermark: Schema.Unknown
})
export type AzureBlobManifest = typeof AzureBlobManifest.Type

const decodeManifest = Schema.decodeUnknown(Schema.parseJson(AzureBlobManifest))

/** Above this size the synchronous Copy Blob From URL is refused; larger blobs are copied asynchronously. */
const SYNC_COPY_MAX_BYTES = 256 * 1024 * 1024
/** How long a signed URL for moving a staged file stays valid. */
const MOVE_URL_MS = 60 * 60_000
/** A signed URL with less time than this left is not copied from. */
export const SIGNATURE_MARGIN_MS = 5 * 60_000
/** Blob requests of a commit at once (moves, deletes). */
const COMMIT_CONCURRENCY = 8

/** A target folder, as the helpers below take it; the ADLS sink, which shares them, gives its own. */
export interface Target {
  readonly account: BlobAccount
  readonly store: string
  /** `container/path/`, for messages. */
  readonly shown: string
  readonly container: string
  /** `""` or a folder ending in `/`. */
  readonly prefix: string
}

const internal = (target: Target) => `${target.prefix}_ferry/`
const lockName = (target: Target) => `${internal(target)}lock`
const stagingOf = (target: Target, runId: string) => `${internal(target)}tmp/${runId}/`
const recordName = (target: Target, runId: string) => `${internal(target)}commits/${runId}.json`
const manifestName = (target: Target, runId: string) => `${internal(target)}manifests/${runId}.json`

const place = (target: Target, blob: string): Required<BlobPlace> => ({ container: target.container, blob })

const sinkError = (target: Target) => (error: AzureBlobError) =>
  new SinkError({ store: target.store, target: target.shown, message: error.message })

const fail = (target: Target, message: string) => new SinkError({ store: target.store, target: target.shown, message })

const containerOf = (target: Target) => target.account.service.getContainerClient(target.container)

/** A request to the service, its failure told as a SinkError about `blob` (or the container). */
const call = <A>(target: Target, action: string, blob: string | undefined, run: () => Promise<A>) =>
  Effect.tryPromise({
    try: run,
    catch: (error) =>
      sinkError(target)(
        target.account.fail(error, action, blob === undefined ? { container: target.container } : place(target, blob))
      )
  })

/** The names of the blobs under `prefix`, listed in pages. */
const listNames = (target: Target, prefix: string): Effect.Effect<ReadonlyArray<string>, SinkError> =>
  call(target, "listing", undefined, async () => {
    const names: Array<string> = []
    for await (const page of containerOf(target).listBlobsFlat({ prefix }).byPage({ maxPageSize: 5_000 })) {
      for (const item of page.segment.blobItems) names.push(item.name)
    }
    return names
  })

export const exists = (target: Target, blob: string): Effect.Effect<boolean, SinkError> =>
  call(target, "reading", blob, () => containerOf(target).getBlobClient(blob).exists())

export const remove = (target: Target, blob: string): Effect.Effect<void, SinkError> =>
  Effect.asVoid(call(target, "deleting", blob, () => containerOf(target).deleteBlob(blob).catch(ignoreMissing)))

const ignoreMissing = (error: unknown) => {
  if (statusOf(error) === 404) return undefined
  throw error
}

export const readManifest = (target: Target, blob: string): Effect.Effect<AzureBlobManifest | undefined, SinkError> =>
  Effect.gen(function* () {
    const text = yield* call(target, "reading", blob, async () => {
      try {
        return (await containerOf(target).getBlobClient(blob).downloadToBuffer()).toString("utf8")
      } catch (error) {
        return ignoreMissing(error)
      }
    })
    if (text === undefined) return undefined
    return yield* Effect.mapError(decodeManifest(text), () =>
      fail(target, `${blob} is not a manifest Ferry wrote; remove it if the run it names never completed`)
    )
  })

export const writeJson = (target: Target, blob: string, value: unknown): Effect.Effect<void, SinkError> => {
  const text = JSON.stringify(value, null, 2)
  return Effect.asVoid(
    call(target, "writing", blob, () =>
      containerOf(target)
        .getBlockBlobClient(blob)
        .upload(text, Buffer.byteLength(text), { blobHTTPHeaders: { blobContentType: "application/json" } })
    )
  )
}

/**
 * Copies a blob server-side from a URL the service can read, into `blob`: synchronously
 * up to 256 MiB, as an asynchronous copy polled to its end above. With `etag`, the copy
 * is of that version of the source only; another fails.
 */
export const copyFromUrl = (
  target: Target,
  blob: string,
  source: Redacted.Redacted<string>,
  size: number,
  etag: string | undefined
): Effect.Effect<void, SinkError> =>
  Effect.flatMap(
    call(target, "copying into", blob, async () => {
      const client = containerOf(target).getBlockBlobClient(blob)
      const conditions = etag === undefined ? {} : { sourceConditions: { ifMatch: etag } }
      if (size <= SYNC_COPY_MAX_BYTES)
        return (await client.syncCopyFromURL(Redacted.value(source), conditions)).copyStatus
      const poller = await client.beginCopyFromURL(Redacted.value(source), { ...conditions, intervalInMs: 2_000 })
      return (await poller.pollUntilDone()).copyStatus
    }),
    (status) =>
      status === "success"
        ? Effect.void
        : Effect.fail(
            fail(
              target,
              `copying into blob ${target.container}/${blob}: the copy ended ${status ?? "without a status"}`
            )
          )
  )

/** Every file Ferry has published in the target (its bookkeeping excluded), relative to it. */
const publishedFiles = (target: Target): Effect.Effect<ReadonlyArray<string>, SinkError> =>
  Effect.map(listNames(target, target.prefix), (names) =>
    names.map((name) => name.slice(target.prefix.length)).filter((path) => path !== "" && !isFerryInternal(path))
  )

/** Finishes a decided commit; every step can run again after a crash half way. */
const rollForward = (target: Target, manifest: AzureBlobManifest): Effect.Effect<void, SinkError> =>
  Effect.gen(function* () {
    const staging = stagingOf(target, manifest.run_id)
    yield* Effect.forEach(
      manifest.files,
      (file) =>
        Effect.gen(function* () {
          const staged = `${staging}${file.path}`
          const final = `${target.prefix}${file.path}`
          if (!(yield* exists(target, staged))) {
            // A staged file that is gone was moved before a crash; one that is nowhere cannot be published.
            const size = yield* call(target, "reading", final, () =>
              containerOf(target)
                .getBlobClient(final)
                .getProperties()
                .then((properties) => properties.contentLength ?? 0, ignoreMissing)
            )
            if (size === file.bytes) return
            return yield* fail(
              target,
              `run ${manifest.run_id} cannot be completed: its file ${file.path} is neither staged nor in place`
            )
          }
          const signed = yield* Effect.mapError(
            target.account.signedUrl(place(target, staged), new Date(Date.now() + MOVE_URL_MS)),
            sinkError(target)
          )
          yield* copyFromUrl(target, final, signed, file.bytes, undefined)
          yield* remove(target, staged)
        }),
      { concurrency: COMMIT_CONCURRENCY, discard: true }
    )
    yield* Effect.forEach(manifest.removed, (file) => remove(target, `${target.prefix}${file}`), {
      concurrency: COMMIT_CONCURRENCY,
      discard: true
    })
    yield* writeJson(target, manifestName(target, manifest.run_id), manifest)
    yield* remove(target, recordName(target, manifest.run_id))
    yield* clearStaging(target, staging)
  })

const clearStaging = (target: Target, staging: string) =>
  Effect.flatMap(listNames(target, staging), (names) =>
    Effect.forEach(names, (name) => remove(target, name), { concurrency: COMMIT_CONCURRENCY, discard: true })
  )

/** Completes decided commits and removes what aborted runs left; run under the target's lock. */
const recover = (target: Target): Effect.Effect<void, SinkError> =>
  Effect.gen(function* () {
    for (const record of yield* listNames(target, `${internal(target)}commits/`)) {
      const manifest = yield* readManifest(target, record)
      if (manifest !== undefined) yield* rollForward(target, manifest)
    }
    yield* clearStaging(target, `${internal(target)}tmp/`)
  })

const ensureContainer = (target: Target): Effect.Effect<void, SinkError> =>
  Effect.mapError(checkContainer(target.account, target.container), sinkError(target))

const lockTarget = (target: Target, runId: string) =>
  Effect.mapError(tryLock(target.account, place(target, lockName(target)), runId), sinkError(target))

const checkPath = (target: Target, path: string): Effect.Effect<void, SinkError> => {
  const problem = blobPathProblem(path)
  return problem === undefined ? Effect.void : Effect.fail(fail(target, problem))
}

const openWriter = (target: Target, options: WriteOptions): Effect.Effect<FileWriter, SinkError, Scope.Scope> =>
  Effect.gen(function* () {
    if (options.runId.includes("/") || blobPathProblem(options.runId) !== undefined) {
      return yield* fail(target, `run id ${options.runId} cannot name a blob folder`)
    }
    yield* ensureContainer(target)
    const lock = yield* lockTarget(target, options.runId)
    if ("busy" in lock) return yield* fail(target, lock.busy)
    yield* recover(target)

    const staging = stagingOf(target, options.runId)
    const written = new Map<string, WrittenFile>()
    let copiedInStore = 0
    let committed = false
    const abort = Effect.ignore(clearStaging(target, staging))
    yield* Effect.addFinalizer(() => (committed ? Effect.void : abort))

    const write = <E>(file: FileToWrite, content: Stream.Stream<Uint8Array, E>) =>
      Effect.gen(function* () {
        yield* checkPath(target, file.path)
        const blob = `${staging}${file.path}`
        const uploaded = yield* Effect.mapError(
          uploadBlocks(target.account, place(target, blob), content),
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
        if (from.expires < Date.now() + SIGNATURE_MARGIN_MS) return Option.none()
        yield* checkPath(target, file.path)
        const blob = `${staging}${file.path}`
        yield* copyFromUrl(target, blob, from.signed, from.size, from.etag)
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
        const removed =
          options.mode === "replace" ? (yield* publishedFiles(target)).filter((file) => !kept.has(file)) : []
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

const openSession = (
  config: AzureBlobStoreConfig,
  context: StoreContext
): Effect.Effect<SinkSession<AzureBlobTargetConfig>, SinkError, Scope.Scope> =>
  Effect.gen(function* () {
    const account = yield* Effect.mapError(
      openAccount(config, context.store),
      (error) => new SinkError({ store: context.store, message: error.message })
    )
    const targetOf = (config: AzureBlobTargetConfig): Target => {
      const folder = (config.path ?? "").replace(/^\/+/, "").replace(/\/+$/, "")
      const prefix = folder === "" ? "" : `${folder}/`
      return {
        account,
        store: context.store,
        shown: `${config.container}/${prefix}`,
        container: config.container,
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

export const azureBlobSink: SinkConnector<AzureBlobStoreConfig, AzureBlobTargetConfig> = {
  type: "azure_blob",
  description:
    "Azure Blob Storage: files arrive in a folder of a container, streamed in blocks or copied server-side from another blob store; tables arrive as CSV, Parquet or JSON Lines parts.",
  storeConfig: AzureBlobStoreConfig,
  targetConfig: AzureBlobTargetConfig,
  open: openSession
}
