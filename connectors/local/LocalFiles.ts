/**
 * Listing and reading the files of a folder dataset in a local store. Files are
 * ordered by (last modified, path) so that an incremental run can resume after the
 * last file it delivered.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { BigIntStats } from "node:fs"
import { createReadStream } from "node:fs"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { SourceError } from "../../core/Errors.js"
import type { FileEntry, FileRange } from "../../core/Source.js"
import { relativePosix, resolveInside } from "./LocalStore.js"

/** Names Ferry's own sinks use for bookkeeping and staging; never part of a dataset. */
export const isFerryInternal = (name: string): boolean => name === "_ferry" || name.startsWith(".ferry-")

export interface LocalFilesContext {
  readonly store: string
  readonly root: string
}

const sourceError = (context: LocalFilesContext, message: string, file?: string) =>
  new SourceError({ store: context.store, message, ...(file === undefined ? {} : { file }) })

const describeFsError = (error: unknown): string => {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  if (code === "ENOENT") return "does not exist"
  if (code === "EACCES" || code === "EPERM") return "cannot be read: permission denied"
  if (code === "ENOTDIR") return "is not a folder"
  return `cannot be read: ${error instanceof Error ? error.message : String(error)}`
}

/**
 * Modification times are whole milliseconds, rounded: a time set through `utimes` (as a
 * copy keeps its source's) lands a few nanoseconds off the millisecond it was given.
 */
const roundedMillis = (nanoseconds: bigint): number => Number((nanoseconds + 500_000n) / 1_000_000n)

export const entryOf = (relativePath: string, stats: BigIntStats): FileEntry => ({
  path: relativePath,
  size: Number(stats.size),
  lastModified: roundedMillis(stats.mtimeNs),
  etag: `${stats.size}-${stats.mtimeNs}-${stats.ino}`
})

/** Resolves a dataset's folder or file under the root, as a SourceError when it escapes. */
export const resolveDatasetPath = (context: LocalFilesContext, relative: string) =>
  resolveInside(context.root, relative).pipe(Effect.mapError((error) => sourceError(context, error.message, relative)))

const walk = (
  context: LocalFilesContext,
  folder: string,
  shown: string
): Effect.Effect<ReadonlyArray<FileEntry>, SourceError> =>
  Effect.gen(function* () {
    const files: Array<FileEntry> = []
    const pending = [folder]
    while (pending.length > 0) {
      const current = pending.pop()!
      const entries = yield* Effect.tryPromise({
        try: () => fs.readdir(current, { withFileTypes: true }),
        catch: (error) =>
          sourceError(context, `folder ${shown} ${describeFsError(error)}`, relativePosix(context.root, current))
      })
      for (const entry of entries) {
        if (isFerryInternal(entry.name)) continue
        const full = path.join(current, entry.name)
        const relative = relativePosix(folder, full)
        if (entry.isSymbolicLink()) {
          // A link is followed only when it stays inside the store.
          yield* resolveDatasetPath(context, relativePosix(context.root, full))
        }
        const stats = yield* Effect.tryPromise({
          try: () => fs.stat(full, { bigint: true }),
          catch: (error) => sourceError(context, `${relative} ${describeFsError(error)}`, relative)
        })
        if (stats.isDirectory()) pending.push(full)
        else if (stats.isFile()) files.push(entryOf(relative, stats))
      }
    }
    return files
  })

const compareEntries = (a: { lastModified: number; path: string }, b: { lastModified: number; path: string }) =>
  a.lastModified - b.lastModified || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)

/**
 * The files under `folder` in `range`, ordered by (last modified, path). Modification
 * times are whole milliseconds (see `entryOf`), the precision a watermark keeps.
 */
export const listFiles = (
  context: LocalFilesContext,
  folder: string,
  range: FileRange
): Stream.Stream<FileEntry, SourceError> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const shown = relativePosix(context.root, folder) || "."
      const stats = yield* Effect.tryPromise({
        try: () => fs.stat(folder),
        catch: (error) => sourceError(context, `folder ${shown} ${describeFsError(error)}`, shown)
      })
      if (!stats.isDirectory()) return yield* sourceError(context, `${shown} is a file, not a folder`, shown)
      const all = yield* walk(context, folder, shown)
      const selected = all
        .filter(
          (entry) =>
            entry.lastModified <= range.until &&
            Option.match(range.after, { onNone: () => true, onSome: (after) => compareEntries(entry, after) > 0 })
        )
        .sort(compareEntries)
      return Stream.fromIterable(selected)
    })
  )

export const statFile = (
  context: LocalFilesContext,
  folder: string,
  relative: string
): Effect.Effect<FileEntry, SourceError> =>
  Effect.tryPromise({
    try: () => fs.stat(path.join(folder, relative), { bigint: true }),
    catch: (error) => sourceError(context, `${relative} ${describeFsError(error)}`, relative)
  }).pipe(Effect.map((stats) => entryOf(relative, stats)))

const CHUNK_BYTES = 1024 * 1024

/** The bytes of a file, in chunks of up to 1 MiB. */
export const readFile = (
  context: LocalFilesContext,
  file: string,
  shown: string
): Stream.Stream<Uint8Array, SourceError> =>
  Stream.suspend(() =>
    Stream.fromAsyncIterable(createReadStream(file, { highWaterMark: CHUNK_BYTES }), (error) =>
      sourceError(context, `${shown} ${describeFsError(error)}`, shown)
    )
  ).pipe(Stream.map((chunk) => chunk as Uint8Array))
