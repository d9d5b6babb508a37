/**
 * The blobs of a folder of a container (a prefix ending in `/`, the whole container, or
 * one blob): listed page by page and ordered by (last modified, path), read by ranges as
 * a byte stream, each range on the condition that the blob still has the etag it was
 * listed with, so that a blob rewritten while it is read fails the read rather than mix
 * two versions. Block, append and page blobs are listed and read alike.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { FileEntry, FileRange } from "../../core/Source.js"
import type { BlobAccount, BlobPlace } from "./AzureBlobStore.js"
import { AzureBlobError, describePlace } from "./AzureBlobStore.js"

/** Where the files of a dataset are: every blob under `prefix`, or the one blob `blob`. */
export interface BlobFolder {
  readonly container: string
  /** `""` (the whole container) or a folder ending in `/`. */
  readonly prefix: string
  /** A single blob's full name; its entry's path is its last segment. */
  readonly blob?: string
}

/** Names Ferry's sinks use for their bookkeeping (`_ferry/`), never part of a dataset. */
export const isFerryInternal = (path: string): boolean => path.split("/").includes("_ferry")

/**
 * Why a path cannot be a blob name Ferry writes or reads as a file, or `undefined`: a
 * segment that is empty, `.` or `..` would be resolved away by the URL (and land
 * elsewhere), and unpaired UTF-16 surrogates cannot be sent at all. The rest (a name's
 * length: 1,024 characters in Azure) is the service's to judge.
 */
export const blobPathProblem = (path: string): string | undefined => {
  if (path.split("/").some((segment) => segment === "" || segment === "." || segment === "..")) {
    return `"${path.length > 200 ? `${path.slice(0, 120)}…` : path}" is not a blob path: it has an empty, "." or ".." segment`
  }
  try {
    encodeURIComponent(path)
  } catch {
    return "a blob path has an unpaired UTF-16 surrogate"
  }
  return undefined
}

/** The blob's name in its container. */
export const blobName = (folder: BlobFolder, path: string): string => folder.blob ?? `${folder.prefix}${path}`

/** The blob of a file of the folder. */
export const blobOf = (folder: BlobFolder, path: string): Required<BlobPlace> => ({
  container: folder.container,
  blob: blobName(folder, path)
})

/** The folder as a place in messages: its container, or its one blob. */
const placeOfFolder = (folder: BlobFolder): BlobPlace =>
  folder.blob === undefined ? { container: folder.container } : { container: folder.container, blob: folder.blob }

/** Listings give an etag bare, headers quoted; entries keep the quoted form, which conditions send. */
const quotedEtag = (etag: string | undefined): string =>
  etag === undefined ? "" : etag.startsWith('"') ? etag : `"${etag}"`

const compareEntries = (a: FileEntry, b: { lastModified: number; path: string }) =>
  a.lastModified - b.lastModified || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)

const PAGE_SIZE = 5_000

/**
 * Every blob of the folder in the range, ordered by (last modified, path). The blobs are
 * listed in pages as the service gives them (name order); those in the range are kept,
 * compactly, to be sorted once the listing ends.
 *
 * Blob times are whole seconds. A blob modified in the second the listing starts could be
 * followed by another in the same second that this listing misses and a later run skips
 * (it would sort before the watermark), so a settled listing ends, besides `until`,
 * before the second the service's clock (the listing's Date header) was in: a fast clock
 * on this machine cannot make a run pass a second that is not over at the service.
 */
export const listBlobs = (
  account: BlobAccount,
  folder: BlobFolder,
  range: FileRange,
  options: {
    /** Leave out blobs of the second the service's clock is in (incremental file listings). */
    readonly settled: boolean
  }
): Stream.Stream<FileEntry, AzureBlobError> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const container = account.service.getContainerClient(folder.container)
      const listed = container
        .listBlobsFlat({ prefix: folder.blob ?? folder.prefix })
        .byPage({ maxPageSize: PAGE_SIZE })
      const kept: Array<FileEntry> = []
      let until = range.until
      let first = true
      yield* Effect.tryPromise({
        try: async () => {
          for await (const page of listed) {
            if (first && options.settled && page.date !== undefined) {
              until = Math.min(until, page.date.getTime() - 1_000)
            }
            first = false
            for (const item of page.segment.blobItems) {
              if (folder.blob !== undefined && item.name !== folder.blob) continue
              const path =
                folder.blob !== undefined
                  ? folder.blob.slice(folder.blob.lastIndexOf("/") + 1)
                  : item.name.slice(folder.prefix.length)
              if (path === "" || path.endsWith("/") || isFerryInternal(path)) continue
              const entry: FileEntry = {
                path,
                size: item.properties.contentLength ?? 0,
                lastModified: item.properties.lastModified.getTime(),
                etag: quotedEtag(item.properties.etag)
              }
              if (entry.lastModified > until) continue
              if (Option.isSome(range.after) && compareEntries(entry, range.after.value) <= 0) continue
              kept.push(entry)
            }
          }
        },
        catch: (error) => account.fail(error, "listing", placeOfFolder(folder))
      })
      return Stream.fromIterable(kept.sort(compareEntries))
    })
  )

/** The blob as it is now. */
export const statBlob = (
  account: BlobAccount,
  folder: BlobFolder,
  path: string
): Effect.Effect<FileEntry, AzureBlobError> =>
  Effect.tryPromise({
    try: () =>
      account.service.getContainerClient(folder.container).getBlobClient(blobName(folder, path)).getProperties(),
    catch: (error) => account.fail(error, "reading", blobOf(folder, path))
  }).pipe(
    Effect.map((properties) => ({
      path,
      size: properties.contentLength ?? 0,
      lastModified: properties.lastModified?.getTime() ?? 0,
      etag: quotedEtag(properties.etag)
    }))
  )

/** Bytes `[offset, offset + count)` of the version `etag` of a blob, streamed as the service sends them. */
const readRange = (
  account: BlobAccount,
  place: Required<BlobPlace>,
  etag: string,
  offset: number,
  count: number
): Stream.Stream<Uint8Array, AzureBlobError> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const controller = new AbortController()
      // Closing the stream early (an interrupted run) aborts the request and its retries.
      yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
      const blob = account.service.getContainerClient(place.container).getBlobClient(place.blob)
      const response = yield* Effect.tryPromise({
        try: () => blob.download(offset, count, { conditions: { ifMatch: etag }, abortSignal: controller.signal }),
        catch: (error) => account.fail(error, "reading", place)
      })
      const body = response.readableStreamBody
      if (body === undefined) return Stream.empty
      return Stream.fromAsyncIterable(body as AsyncIterable<Buffer>, (error) => account.fail(error, "reading", place))
    })
  ).pipe(Stream.map((chunk) => chunk as Uint8Array))

/**
 * The bytes of the version `etag` of a blob of `size` bytes, read in ranges of the store's
 * block size, one after the other. A range is streamed, not held: memory stays at a few
 * network chunks whatever the blob's size. A blob that changed fails the read.
 */
export const readBlob = (
  account: BlobAccount,
  place: Required<BlobPlace>,
  entry: { readonly size: number; readonly etag: string }
): Stream.Stream<Uint8Array, AzureBlobError> =>
  Stream.suspend(() => {
    const step = account.blockBytes
    const offsets = Array.from({ length: Math.ceil(entry.size / step) }, (_, index) => index * step)
    let received = 0
    const short = Effect.suspend(() =>
      received === entry.size
        ? Effect.void
        : Effect.fail(
            new AzureBlobError({
              store: account.store,
              message: `reading ${describePlace(place)}: the service sent ${received} of its ${entry.size} bytes`
            })
          )
    )
    return Stream.fromIterable(offsets).pipe(
      Stream.flatMap((offset) => readRange(account, place, entry.etag, offset, Math.min(step, entry.size - offset)), {
        concurrency: 1
      }),
      Stream.tap((chunk) => Effect.sync(() => (received += chunk.byteLength))),
      Stream.concat(Stream.drain(Stream.fromEffect(short)))
    )
  })

/** Bytes `[start, end)` of a blob's version, whole, for formats that seek (a Parquet footer). */
export const readBytes = (
  account: BlobAccount,
  place: Required<BlobPlace>,
  etag: string,
  start: number,
  end: number
): Effect.Effect<Uint8Array, AzureBlobError> =>
  end <= start
    ? Effect.succeed(new Uint8Array(0))
    : Effect.map(Stream.runCollect(readRange(account, place, etag, start, end - start)), (chunks) =>
        Buffer.concat([...chunks])
      )
