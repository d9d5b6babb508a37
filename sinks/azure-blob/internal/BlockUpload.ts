/**
 * A stream of bytes into a block blob: cut into blocks of the store's block size, each
 * staged as soon as it is full (two at a time), then committed as the blob's block list
 * with its Content-MD5. The blob holds nothing visible until the commit, and memory holds
 * at most the block being filled and the two being sent, whatever the blob's size.
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import type { AzureBlobError, BlobAccount, BlobPlace } from "../../../connectors/azure-blob/AzureBlobStore.js"

/** Blocks sent at once, beside the one being filled. */
const IN_FLIGHT = 2

export interface Uploaded {
  readonly bytes: number
  /** Hex SHA-256 and MD5 of the content. */
  readonly sha256: string
  readonly md5: string
}

/** Block ids of one blob must all have the same length; six digits cover the service's 50,000 blocks. */
const blockId = (index: number): string => Buffer.from(`ferry-${String(index).padStart(6, "0")}`).toString("base64")

export const uploadBlocks = <E>(
  account: BlobAccount,
  place: Required<BlobPlace>,
  content: Stream.Stream<Uint8Array, E>
): Effect.Effect<Uploaded, AzureBlobError | E> =>
  // Blocks in flight when the content fails, or the upload is interrupted, are interrupted with the scope.
  Effect.scoped(
    Effect.gen(function* () {
      const blob = account.service.getContainerClient(place.container).getBlockBlobClient(place.blob)
      const blockBytes = account.blockBytes
      const sha256 = createHash("sha256")
      const md5 = createHash("md5")
      const ids: Array<string> = []
      const sending: Array<Fiber.RuntimeFiber<unknown, AzureBlobError>> = []
      let pieces: Array<Uint8Array> = []
      let filled = 0
      let bytes = 0

      const stage = (block: Buffer) =>
        Effect.gen(function* () {
          const id = blockId(ids.length)
          ids.push(id)
          if (sending.length >= IN_FLIGHT) yield* Fiber.join(sending.shift()!)
          const fiber = yield* Effect.forkScoped(
            Effect.tryPromise({
              try: () => blob.stageBlock(id, block, block.byteLength),
              catch: (error) => account.fail(error, "writing", place)
            })
          )
          sending.push(fiber)
        })

      yield* Stream.runForEach(content, (chunk) =>
        Effect.gen(function* () {
          sha256.update(chunk)
          md5.update(chunk)
          bytes += chunk.byteLength
          let offset = 0
          while (offset < chunk.byteLength) {
            const take = Math.min(blockBytes - filled, chunk.byteLength - offset)
            pieces.push(chunk.subarray(offset, offset + take))
            filled += take
            offset += take
            if (filled === blockBytes) {
              const block = Buffer.concat(pieces, filled)
              pieces = []
              filled = 0
              yield* stage(block)
            }
          }
        })
      )
      if (filled > 0) yield* stage(Buffer.concat(pieces, filled))
      for (const fiber of sending.splice(0)) yield* Fiber.join(fiber)
      const digest = md5.digest()
      yield* Effect.tryPromise({
        try: () => blob.commitBlockList(ids, { blobHTTPHeaders: { blobContentMD5: digest } }),
        catch: (error) => account.fail(error, "writing", place)
      })
      return { bytes, sha256: sha256.digest("hex"), md5: digest.toString("hex") }
    })
  )
