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
 * server-side copy and a delete per file). Either way the writer is the blob sink's
 * (sinks/azure-blob/internal/TargetWriter.ts), given the renames, or the blob sink's
 * copies, to publish, and a data lake's words for its messages.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { AdlsStoreConfig } from "../../connectors/adls/AdlsStore.js"
import {
  AdlsStoreConfig as StoreConfig,
  FileSystemName,
  inLakeTerms,
  openBlobSide,
  openLake
} from "../../connectors/adls/AdlsStore.js"
import type { Lake } from "../../connectors/adls/AdlsStore.js"
import type { AzureBlobError } from "../../connectors/azure-blob/AzureBlobStore.js"
import { codeOf, statusOf } from "../../connectors/azure-blob/AzureBlobStore.js"
import { blobPathProblem, isFerryInternal } from "../../connectors/azure-blob/BlobFiles.js"
import { SinkError } from "../../core/Errors.js"
import type { SinkConnector, SinkSession } from "../../core/Sink.js"
import type { StoreContext } from "../../core/Source.js"
import { byCopies } from "../azure-blob/AzureBlobSink.js"
import type { Publishing, Target } from "../azure-blob/internal/TargetWriter.js"
import {
  checkInPlace,
  fail,
  ignoreMissing,
  listEntries,
  sessionOf,
  stagingOf
} from "../azure-blob/internal/TargetWriter.js"
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

/** Requests of a commit at once (renames, deletes). */
const COMMIT_CONCURRENCY = 8

/** A folder of the writer (ending in `/`) as the DFS endpoint names the directory. */
const directoryOf = (folder: string) => folder.replace(/\/$/, "")

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

/** The staged files of a run, relative to its staging folder. */
const stagedFiles = (target: Target, staging: string) =>
  Effect.map(listEntries(target, staging), (entries) =>
    entries.filter((entry) => !entry.directory).map((entry) => entry.name.slice(staging.length))
  )

/**
 * Publishing by renames through the DFS endpoint of `lake`: the staged tree moves into
 * place with as few renames as the target allows (sinks/adls/internal/RenamePlan.ts), and
 * a directory is deleted with everything in it in one request.
 */
const byRenames = (lake: Lake): Publishing => {
  /** A request to the DFS endpoint, its failure told as a SinkError about `path`. */
  const dfs = <A>(target: Target, action: string, path: string, run: () => Promise<A>) =>
    Effect.tryPromise({
      try: run,
      catch: (error) => fail(target, lake.describe(error, action, target.container, path))
    })

  const fileSystemOf = (target: Target) => lake.service.getFileSystemClient(target.container)

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

  /**
   * Renames `from` to `to` in the file system, in one request: a directory moves with
   * everything in it. "gone" when `from` no longer exists: a rename of an earlier,
   * interrupted attempt may have been carried out after its client gave up on it.
   */
  const rename = (target: Target, from: string, to: string, kind: "file" | "directory") =>
    dfs(target, `renaming ${target.container}/${from} to`, to, () =>
      (kind === "directory" ? fileSystemOf(target).getDirectoryClient(from) : fileSystemOf(target).getFileClient(from))
        .move(target.container, to)
        .then(
          () => "moved" as const,
          (error: unknown) =>
            statusOf(error) === 404 && codeOf(error) === "SourcePathNotFound" ? "gone" : Promise.reject(error)
        )
    )

  return {
    directories: true,
    // Made through the DFS endpoint, so that a wrong endpoint or a missing right fails before any data moves.
    prepare: (target, staging) =>
      Effect.asVoid(
        dfs(target, "creating the directory", directoryOf(staging), () =>
          fileSystemOf(target).getDirectoryClient(directoryOf(staging)).createIfNotExists()
        )
      ),
    clear: (target, folder) => deletePath(target, directoryOf(folder), "directory"),
    plan: (target, files, mode) =>
      Effect.gen(function* () {
        const kept = new Set(files)
        const { kinds } = yield* targetPaths(target)
        const removed =
          mode === "replace"
            ? [...kinds].flatMap(([path, kind]) => (kind === "file" && !kept.has(path) ? [path] : [])).sort()
            : []
        const preflight = planRenames(files, kinds, new Set(removed))
        if (preflight.conflicts.length > 0) {
          return yield* fail(target, `nothing was published: ${preflight.conflicts.join("; ")}`)
        }
        return removed
      }),
    publish: (target, manifest) =>
      Effect.gen(function* () {
        const staging = stagingOf(target, manifest.run_id)
        const staged = yield* stagedFiles(target, staging)
        const pending = new Set(staged)
        for (const file of manifest.files.filter((file) => !pending.has(file.path))) {
          yield* checkInPlace(target, manifest.run_id, file)
        }
        const { bookkeeping, kinds } = yield* targetPaths(target)
        const plan = planRenames(staged, kinds, new Set(manifest.removed))
        if (plan.conflicts.length > 0) {
          return yield* fail(target, `run ${manifest.run_id} cannot be published: ${plan.conflicts.join("; ")}`)
        }
        const each = (paths: ReadonlyArray<PlannedPath>, run: (entry: PlannedPath) => Effect.Effect<void, SinkError>) =>
          Effect.forEach(paths, run, { concurrency: COMMIT_CONCURRENCY, discard: true })
        yield* each(plan.clear, (entry) => deletePath(target, `${target.prefix}${entry.path}`, entry.kind))
        // A path already moved must hold what the manifest says; any other difference fails the commit.
        const inPlace = (entry: PlannedPath) =>
          Effect.forEach(
            manifest.files.filter((file) =>
              entry.kind === "file" ? file.path === entry.path : file.path.startsWith(`${entry.path}/`)
            ),
            (file) => checkInPlace(target, manifest.run_id, file),
            { discard: true }
          )
        yield* each(plan.renames, (entry) =>
          Effect.flatMap(
            rename(target, `${staging}${entry.path}`, `${target.prefix}${entry.path}`, entry.kind),
            (outcome) => (outcome === "moved" ? Effect.void : inPlace(entry))
          )
        )
        const kept = new Set([...manifest.files.map((file) => file.path), ...bookkeeping])
        const removals = planRemovals(manifest.removed, kinds, kept, plan.clear)
        yield* each(removals, (entry) => deletePath(target, `${target.prefix}${entry.path}`, entry.kind))
      })
  }
}

const openSession = (
  config: AdlsStoreConfig,
  context: StoreContext
): Effect.Effect<SinkSession<AdlsTargetConfig>, SinkError, Scope.Scope> =>
  Effect.gen(function* () {
    const opened = (error: AzureBlobError) =>
      new SinkError({ store: context.store, message: inLakeTerms(error.message) })
    const account = yield* Effect.mapError(openBlobSide(config, context.store), opened)
    // Without a hierarchical namespace the target is a blob target, published as the blob sink publishes.
    const publishing = config.hierarchical_namespace
      ? byRenames(yield* Effect.mapError(openLake(config, account), opened))
      : byCopies
    return sessionOf<AdlsTargetConfig>({ account, store: context.store, words: inLakeTerms, publishing }, (target) => ({
      container: target.file_system,
      folder: target.directory
    }))
  })

export const adlsSink: SinkConnector<AdlsStoreConfig, AdlsTargetConfig> = {
  type: "adls",
  description:
    "Azure Data Lake Storage Gen2: files arrive in a directory of a file system, streamed in blocks or copied server-side from blob or ADLS storage, and are published by renaming directories; tables arrive as CSV, Parquet or JSON Lines parts.",
  storeConfig: StoreConfig,
  targetConfig: AdlsTargetConfig,
  open: openSession
}
