/**
 * The writer of a blob target folder, in the local sink's steps, with blobs: the one
 * implementation behind the blob sink and the ADLS sink, which differ only in how staged
 * files are published into place (a `Publishing`) and in the words of their messages.
 *
 * 1. a writer takes the target's lock (a lease on `_ferry/lock`), completes a commit
 *    left decided by a crash, and removes what aborted runs left under `_ferry/tmp/`;
 * 2. files are written under `_ferry/tmp/<run id>/`, streamed in staged blocks or copied
 *    server-side from a signed URL the service can read;
 * 3. commit asks the publishing which files a full snapshot removes (it may refuse the
 *    run there, before anything is decided), then writes the manifest-to-be as a commit
 *    record (`_ferry/commits/<run id>.json`) while the lock holds: the record decides the
 *    commit, which from then on rolls forward, even after a crash;
 * 4. the publishing moves the staged files into place and removes the replaced ones; the
 *    manifest is written last (`_ferry/manifests/<run id>.json`), then the record and the
 *    staging folder are deleted.
 *
 * A manifest for the run id makes a second commit a no-op.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { AzureBlobError, BlobAccount, BlobPlace } from "../../../connectors/azure-blob/AzureBlobStore.js"
import { canCopyBetween, checkContainer, statusOf } from "../../../connectors/azure-blob/AzureBlobStore.js"
import { blobPathProblem } from "../../../connectors/azure-blob/BlobFiles.js"
import { SinkError } from "../../../core/Errors.js"
import type {
  CommitRequest,
  Delivery,
  FileToWrite,
  FileWriter,
  SinkSession,
  WriteMode,
  WriteOptions,
  WrittenFile
} from "../../../core/Sink.js"
import type { FileLocation } from "../../../core/Source.js"
import { uploadBlocks } from "./BlockUpload.js"
import { tryLock } from "./TargetLock.js"

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
/** A signed URL with less time than this left is not copied from. */
const SIGNATURE_MARGIN_MS = 5 * 60_000

/** A target folder, and how its sink publishes into it. */
export interface Target {
  readonly account: BlobAccount
  readonly store: string
  /** `container/path/`, for messages. */
  readonly shown: string
  readonly container: string
  /** `""` or a folder ending in `/`. */
  readonly prefix: string
  /** A message of the blob store in the target's words (a data lake's, for ADLS). */
  readonly words: (message: string) => string
  readonly publishing: Publishing
}

/** What differs between the sinks that share this writer: how a decided commit is published into place. */
export interface Publishing {
  /** Whether listings show directories, as entries marked `hdi_isfolder` (with a hierarchical namespace). */
  readonly directories: boolean
  /** Makes a run's staging folder, before anything is written under it. */
  readonly prepare: (target: Target, staging: string) => Effect.Effect<void, SinkError>
  /** Deletes a staging folder (ending in `/`) and everything under it: a run's, or all of `_ferry/tmp/`. */
  readonly clear: (target: Target, folder: string) => Effect.Effect<void, SinkError>
  /**
   * The published files a commit of the run's `files` removes (for a full snapshot, those
   * it does not write), relative to the target. It may refuse the run here, before the
   * commit is decided: a decided commit that cannot be published would stay stuck.
   */
  readonly plan: (
    target: Target,
    files: ReadonlyArray<string>,
    mode: WriteMode
  ) => Effect.Effect<ReadonlyArray<string>, SinkError>
  /**
   * Moves a decided commit's staged files into place and deletes the files it removes;
   * every step can run again after a crash half way.
   */
  readonly publish: (target: Target, manifest: AzureBlobManifest) => Effect.Effect<void, SinkError>
}

const internal = (target: Target) => `${target.prefix}_ferry/`
const lockName = (target: Target) => `${internal(target)}lock`
/** The staging folder of a run, ending in `/`. */
export const stagingOf = (target: Target, runId: string) => `${internal(target)}tmp/${runId}/`
const recordName = (target: Target, runId: string) => `${internal(target)}commits/${runId}.json`
const manifestName = (target: Target, runId: string) => `${internal(target)}manifests/${runId}.json`

const place = (target: Target, blob: string): Required<BlobPlace> => ({ container: target.container, blob })

/** A failure about the target, its message as given. */
export const fail = (target: Target, message: string) =>
  new SinkError({ store: target.store, target: target.shown, message })

export const sinkError = (target: Target) => (error: AzureBlobError) => fail(target, target.words(error.message))

const containerOf = (target: Target) => target.account.service.getContainerClient(target.container)

/** A request to the Blob endpoint, its failure told as a SinkError about `blob` (or the container). */
const call = <A>(target: Target, action: string, blob: string | undefined, run: () => Promise<A>) =>
  Effect.tryPromise({
    try: run,
    catch: (error) =>
      fail(
        target,
        target.words(
          target.account.describe(
            error,
            action,
            blob === undefined ? { container: target.container } : place(target, blob)
          )
        )
      )
  })

/** A 404 answered as nothing, for deletes and reads of what may already be gone. */
export const ignoreMissing = (error: unknown) => {
  if (statusOf(error) === 404) return undefined
  throw error
}

export interface Listed {
  readonly name: string
  /** A directory, as a listing shows one with a hierarchical namespace (never with `directories` off). */
  readonly directory: boolean
}

/** The blobs under `prefix`, listed in pages (with their metadata when the listing shows directories). */
export const listEntries = (target: Target, prefix: string): Effect.Effect<ReadonlyArray<Listed>, SinkError> =>
  call(target, "listing", undefined, async () => {
    const { directories } = target.publishing
    const entries: Array<Listed> = []
    const pages = containerOf(target)
      .listBlobsFlat(directories ? { prefix, includeMetadata: true } : { prefix })
      .byPage({ maxPageSize: 5_000 })
    for await (const page of pages) {
      for (const item of page.segment.blobItems) {
        entries.push({ name: item.name, directory: directories && item.metadata?.["hdi_isfolder"] === "true" })
      }
    }
    return entries
  })

/** Whether anything is under `prefix`, from the first entry of a listing. */
const anyUnder = (target: Target, prefix: string): Effect.Effect<boolean, SinkError> =>
  Effect.map(
    call(target, "listing", undefined, () =>
      containerOf(target).listBlobsFlat({ prefix }).byPage({ maxPageSize: 1 }).next()
    ),
    (first) => first.done !== true && first.value.segment.blobItems.length > 0
  )

export const exists = (target: Target, blob: string): Effect.Effect<boolean, SinkError> =>
  call(target, "reading", blob, () => containerOf(target).getBlobClient(blob).exists())

export const remove = (target: Target, blob: string): Effect.Effect<void, SinkError> =>
  Effect.asVoid(call(target, "deleting", blob, () => containerOf(target).deleteBlob(blob).catch(ignoreMissing)))

const readManifest = (target: Target, blob: string): Effect.Effect<AzureBlobManifest | undefined, SinkError> =>
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
      fail(target, target.words(`${blob} is not a manifest Ferry wrote; remove it if the run it names never completed`))
    )
  })

const writeJson = (target: Target, blob: string, value: unknown): Effect.Effect<void, SinkError> => {
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
              target.words(
                `copying into blob ${target.container}/${blob}: the copy ended ${status ?? "without a status"}`
              )
            )
          )
  )

/**
 * Checks that a file of a decided commit that is no longer staged is in place (it was
 * moved before a crash); one that is nowhere cannot be published.
 */
export const checkInPlace = (
  target: Target,
  runId: string,
  file: { readonly path: string; readonly bytes: number }
): Effect.Effect<void, SinkError> =>
  Effect.gen(function* () {
    const final = `${target.prefix}${file.path}`
    const size = yield* call(target, "reading", final, () =>
      containerOf(target)
        .getBlobClient(final)
        .getProperties()
        .then((properties) => properties.contentLength ?? 0, ignoreMissing)
    )
    if (size === file.bytes) return
    return yield* fail(target, `run ${runId} cannot be completed: its file ${file.path} is neither staged nor in place`)
  })

/** Finishes a decided commit; every step can run again after a crash half way. */
const rollForward = (target: Target, manifest: AzureBlobManifest): Effect.Effect<void, SinkError> =>
  Effect.gen(function* () {
    yield* target.publishing.publish(target, manifest)
    yield* writeJson(target, manifestName(target, manifest.run_id), manifest)
    yield* remove(target, recordName(target, manifest.run_id))
    yield* target.publishing.clear(target, stagingOf(target, manifest.run_id))
  })

/** Completes decided commits and removes what aborted runs left; run under the target's lock. */
const recover = (target: Target): Effect.Effect<void, SinkError> =>
  Effect.gen(function* () {
    for (const record of yield* listEntries(target, `${internal(target)}commits/`)) {
      if (record.directory) continue
      const manifest = yield* readManifest(target, record.name)
      if (manifest !== undefined) yield* rollForward(target, manifest)
    }
    const leftOver = `${internal(target)}tmp/`
    if (yield* anyUnder(target, leftOver)) yield* target.publishing.clear(target, leftOver)
  })

const lockTarget = (target: Target, runId: string) =>
  Effect.mapError(tryLock(target.account, place(target, lockName(target)), runId), sinkError(target))

const checkPath = (target: Target, path: string): Effect.Effect<void, SinkError> => {
  const problem = blobPathProblem(path)
  return problem === undefined ? Effect.void : Effect.fail(fail(target, target.words(problem)))
}

const isAzureBlobError = (error: unknown): error is AzureBlobError =>
  typeof error === "object" && error !== null && "_tag" in error && error._tag === "AzureBlobError"

const openWriter = (target: Target, options: WriteOptions): Effect.Effect<FileWriter, SinkError, Scope.Scope> =>
  Effect.gen(function* () {
    if (options.runId.includes("/") || blobPathProblem(options.runId) !== undefined) {
      return yield* fail(target, `run id ${options.runId} cannot name ${target.words("a blob folder")}`)
    }
    yield* Effect.mapError(checkContainer(target.account, target.container), sinkError(target))
    const lock = yield* lockTarget(target, options.runId)
    if ("busy" in lock) return yield* fail(target, lock.busy)
    yield* recover(target)

    const staging = stagingOf(target, options.runId)
    yield* target.publishing.prepare(target, staging)
    const written = new Map<string, WrittenFile>()
    let copiedInStore = 0
    let committed = false
    const abort = Effect.ignore(target.publishing.clear(target, staging))
    yield* Effect.addFinalizer(() => (committed ? Effect.void : abort))

    const write = <E>(file: FileToWrite, content: Stream.Stream<Uint8Array, E>) =>
      Effect.gen(function* () {
        yield* checkPath(target, file.path)
        const uploaded = yield* Effect.mapError(
          uploadBlocks(target.account, place(target, `${staging}${file.path}`), content),
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
        const removed = yield* target.publishing.plan(
          target,
          files.map((file) => file.path),
          options.mode
        )
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

/**
 * True once the run's manifest exists, or once its commit record does: a decided commit,
 * completed here under the lock, or by the writer holding it.
 */
const isCommitted = (target: Target, runId: string): Effect.Effect<boolean, SinkError> =>
  Effect.scoped(
    Effect.gen(function* () {
      if ((yield* readManifest(target, manifestName(target, runId))) !== undefined) return true
      if (!(yield* exists(target, recordName(target, runId)))) return false
      const lock = yield* lockTarget(target, runId)
      if ("held" in lock) yield* recover(target)
      return true
    })
  )

/**
 * The session of a sink over targets that `locate` names as a container and a folder of
 * it (with or without `/` at either end; none for the whole container).
 */
export const sessionOf = <T>(
  sink: Pick<Target, "account" | "store" | "words" | "publishing">,
  locate: (config: T) => { readonly container: string; readonly folder: string | undefined }
): SinkSession<T> => {
  const targetOf = (config: T): Target => {
    const { container, folder } = locate(config)
    const trimmed = (folder ?? "").replace(/^\/+/, "").replace(/\/+$/, "")
    const prefix = trimmed === "" ? "" : `${trimmed}/`
    return { ...sink, shown: `${container}/${prefix}`, container, prefix }
  }
  return {
    describeTarget: (config) => targetOf(config).shown,
    files: { open: (config, options) => openWriter(targetOf(config), options) },
    isCommitted: (config, runId) => isCommitted(targetOf(config), runId)
  }
}
