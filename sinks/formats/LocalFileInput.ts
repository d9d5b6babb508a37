/**
 * A file on the local disk as a format's `FileInput`: a chunked stream that reads only
 * as fast as the decoder pulls, and ranged reads for formats that seek.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as fs from "node:fs/promises"
import { SourceError } from "../../core/Errors.js"
import type { FileInput } from "./Format.js"

/** Bytes per read: large enough to amortise a syscall, small enough to keep memory flat. */
export const LOCAL_CHUNK_BYTES = 256 * 1024

const failure = (store: string, file: string, what: string) => (cause: unknown) =>
  new SourceError({ store, file, message: `${what}: ${cause instanceof Error ? cause.message : String(cause)}` })

const openHandle = (store: string, file: string) =>
  Effect.acquireRelease(
    Effect.tryPromise({ try: () => fs.open(file, "r"), catch: failure(store, file, "cannot open the file") }),
    (handle) => Effect.promise(() => handle.close())
  )

const readAt = (store: string, file: string, handle: fs.FileHandle, position: number, length: number) =>
  Effect.tryPromise({
    try: async () => {
      const buffer = new Uint8Array(length)
      let filled = 0
      // A read may return fewer bytes than asked even before the end of the file.
      while (filled < length) {
        const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled)
        if (bytesRead === 0) break
        filled += bytesRead
      }
      return filled === length ? buffer : buffer.subarray(0, filled)
    },
    catch: failure(store, file, "cannot read the file")
  })

/** The file at `path`; `store` names the store in error messages. */
export const localFileInput = (
  path: string,
  options: { readonly store?: string; readonly chunkBytes?: number } = {}
): Effect.Effect<FileInput, SourceError> => {
  const store = options.store ?? "local"
  const chunkBytes = options.chunkBytes ?? LOCAL_CHUNK_BYTES
  return Effect.map(
    Effect.tryPromise({ try: () => fs.stat(path), catch: failure(store, path, "cannot read the file") }),
    (stats): FileInput => ({
      name: path,
      size: stats.size,
      localPath: path,
      stream: () =>
        Stream.unwrapScoped(
          Effect.map(openHandle(store, path), (handle) =>
            Stream.paginateEffect(0, (position) =>
              Effect.map(readAt(store, path, handle, position, chunkBytes), (bytes) => {
                const next = bytes.length < chunkBytes ? Option.none() : Option.some(position + bytes.length)
                return [bytes, next] as const
              })
            ).pipe(Stream.filter((bytes) => bytes.length > 0))
          )
        ),
      readRange: (start, end) =>
        Effect.scoped(
          Effect.flatMap(openHandle(store, path), (handle) => readAt(store, path, handle, start, end - start))
        )
    })
  )
}
