/**
 * Azure Blob Storage as a sink: files arrive under a folder of a container (the
 * target's `path`), streamed into block blobs in staged blocks, or copied server-side
 * when they come from blob storage the service can read (a signed URL the source gives:
 * their bytes never pass through Ferry). Tables arrive as CSV, Parquet or JSON Lines
 * parts. A target publishes atomically, in the local sink's steps, with blobs (the writer
 * of internal/TargetWriter.ts, which the ADLS sink shares):
 *
 * 1. a writer takes the target's lock (a lease on `_ferry/lock`), completes a commit
 *    left decided by a crash, and removes what aborted runs left;
 * 2. files are written under `_ferry/tmp/<run id>/`;
 * 3. commit writes the manifest-to-be as a commit record (`_ferry/commits/<run id>.json`),
 *    which decides the commit: from then on it rolls forward, even after a crash;
 * 4. each file is moved into place (Blob Storage has no rename: a server-side copy, then
 *    a delete: `byCopies` below), files a full snapshot replaces are removed after the new
 *    ones are in place, and the manifest is written last (`_ferry/manifests/<run id>.json`).
 *
 * A consumer treats a snapshot as complete when its manifest is there; between the first
 * file moved and the manifest, a listing of the folder shows new files beside old ones.
 * A manifest for the run id makes a second commit a no-op.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { AzureBlobStoreConfig, ContainerName, openAccount } from "../../connectors/azure-blob/AzureBlobStore.js"
import { blobPathProblem, isFerryInternal } from "../../connectors/azure-blob/BlobFiles.js"
import { SinkError } from "../../core/Errors.js"
import type { SinkConnector, SinkSession } from "../../core/Sink.js"
import type { StoreContext } from "../../core/Source.js"
import type { Publishing, Target } from "./internal/TargetWriter.js"
import {
  checkInPlace,
  copyFromUrl,
  exists,
  listEntries,
  remove,
  sessionOf,
  sinkError,
  stagingOf
} from "./internal/TargetWriter.js"

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

export { AzureBlobManifest } from "./internal/TargetWriter.js"

/** How long a signed URL for moving a staged file stays valid. */
const MOVE_URL_MS = 60 * 60_000
/** Blob requests of a commit at once (moves, deletes). */
const COMMIT_CONCURRENCY = 8

const removeAll = (target: Target, names: ReadonlyArray<string>) =>
  Effect.forEach(names, (name) => remove(target, name), { concurrency: COMMIT_CONCURRENCY, discard: true })

/** Blob Storage has no rename: a staged file is moved into place by a server-side copy, then a delete. */
export const byCopies: Publishing = {
  directories: false,
  prepare: () => Effect.void,
  clear: (target, folder) =>
    Effect.flatMap(listEntries(target, folder), (entries) =>
      removeAll(
        target,
        entries.map((entry) => entry.name)
      )
    ),
  plan: (target, files, mode) => {
    if (mode !== "replace") return Effect.succeed([])
    const kept = new Set(files)
    // Every file Ferry has published in the target (its bookkeeping excluded) that the run does not write.
    return Effect.map(listEntries(target, target.prefix), (entries) =>
      entries
        .map((entry) => entry.name.slice(target.prefix.length))
        .filter((path) => path !== "" && !isFerryInternal(path) && !kept.has(path))
    )
  },
  publish: (target, manifest) =>
    Effect.gen(function* () {
      const staging = stagingOf(target, manifest.run_id)
      yield* Effect.forEach(
        manifest.files,
        (file) =>
          Effect.gen(function* () {
            const staged = `${staging}${file.path}`
            if (!(yield* exists(target, staged))) return yield* checkInPlace(target, manifest.run_id, file)
            const signed = yield* Effect.mapError(
              target.account.signedUrl(
                { container: target.container, blob: staged },
                new Date(Date.now() + MOVE_URL_MS)
              ),
              sinkError(target)
            )
            yield* copyFromUrl(target, `${target.prefix}${file.path}`, signed, file.bytes, undefined)
            yield* remove(target, staged)
          }),
        { concurrency: COMMIT_CONCURRENCY, discard: true }
      )
      yield* removeAll(
        target,
        manifest.removed.map((file) => `${target.prefix}${file}`)
      )
    })
}

const openSession = (
  config: AzureBlobStoreConfig,
  context: StoreContext
): Effect.Effect<SinkSession<AzureBlobTargetConfig>, SinkError, Scope.Scope> =>
  Effect.gen(function* () {
    const account = yield* Effect.mapError(
      openAccount(config, context.store),
      (error) => new SinkError({ store: context.store, message: error.message })
    )
    return sessionOf<AzureBlobTargetConfig>(
      { account, store: context.store, words: (message) => message, publishing: byCopies },
      (target) => ({ container: target.container, folder: target.path })
    )
  })

export const azureBlobSink: SinkConnector<AzureBlobStoreConfig, AzureBlobTargetConfig> = {
  type: "azure_blob",
  description:
    "Azure Blob Storage: files arrive in a folder of a container, streamed in blocks or copied server-side from another blob store; tables arrive as CSV, Parquet or JSON Lines parts.",
  storeConfig: AzureBlobStoreConfig,
  targetConfig: AzureBlobTargetConfig,
  open: openSession
}
