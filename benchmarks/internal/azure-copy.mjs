/**
 * The Azure SDK peer: copies every blob under a folder of one container into another
 * container with @azure/storage-blob alone, four blobs at a time (as Ferry copies four
 * files at a time), and prints one JSON line: the SDK's version, the blobs and the bytes
 * that passed through this process. Plain JavaScript, so that its figures carry no
 * TypeScript loader.
 *
 *   node benchmarks/internal/azure-copy.mjs MODE
 *
 * MODE:
 *   copy           Copy Blob From URL (syncCopyFromURL) from a read-only SAS of each source blob
 *   copy-staged    the same into a staging folder, then each copied into place and the staged one
 *                  deleted, eight at a time (the requests of Ferry's atomic publish)
 *   stream         download each blob and upload the stream (uploadStream: 8 MiB buffers, two in flight)
 *   stream-staged  the same into a staging folder, then moved into place as copy-staged does
 *
 * Environment: AZ_SOURCE_URL, AZ_TARGET_URL (account endpoints), AZ_ACCOUNT, AZ_KEY,
 * AZ_SOURCE_CONTAINER, AZ_SOURCE_PREFIX, AZ_TARGET_CONTAINER, AZ_TARGET_PREFIX.
 */
import {
  BlobSASPermissions,
  BlobServiceClient,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential
} from "@azure/storage-blob"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"

const mode = process.argv[2]
const env = (name) => {
  const value = process.env[name]
  if (value === undefined) throw new Error(`${name} is not set`)
  return value
}
const credential = new StorageSharedKeyCredential(env("AZ_ACCOUNT"), env("AZ_KEY"))
const source = new BlobServiceClient(env("AZ_SOURCE_URL"), credential).getContainerClient(env("AZ_SOURCE_CONTAINER"))
const target = new BlobServiceClient(env("AZ_TARGET_URL"), credential).getContainerClient(env("AZ_TARGET_CONTAINER"))
const sourcePrefix = process.env.AZ_SOURCE_PREFIX ?? ""
const targetPrefix = process.env.AZ_TARGET_PREFIX ?? ""
const staging = `${targetPrefix}_staging/`

const COPIES_AT_ONCE = 4
const MOVES_AT_ONCE = 8
const BUFFER_BYTES = 8 * 1024 * 1024
const BUFFERS_IN_FLIGHT = 2

/** Runs `work` on every item, `width` at a time. */
const pool = async (items, width, work) => {
  let next = 0
  const worker = async () => {
    while (next < items.length) await work(items[next++])
  }
  await Promise.all(Array.from({ length: width }, worker))
}

const blobs = []
for await (const blob of source.listBlobsFlat({ prefix: sourcePrefix })) {
  blobs.push({ name: blob.name, etag: blob.properties.etag, bytes: blob.properties.contentLength ?? 0 })
}
const relative = (blob) => blob.name.slice(sourcePrefix.length)

const readUrl = (client, name) =>
  `${client.getBlobClient(name).url}?${generateBlobSASQueryParameters(
    {
      containerName: client.containerName,
      blobName: name,
      permissions: BlobSASPermissions.parse("r"),
      startsOn: new Date(Date.now() - 5 * 60_000),
      expiresOn: new Date(Date.now() + 60 * 60_000)
    },
    credential
  ).toString()}`

let bytesThrough = 0

const copyInto = (folder) => async (blob) => {
  const result = await target
    .getBlockBlobClient(`${folder}${relative(blob)}`)
    .syncCopyFromURL(readUrl(source, blob.name), { sourceConditions: { ifMatch: blob.etag } })
  if (result.copyStatus !== "success") throw new Error(`${blob.name}: copy ended ${result.copyStatus}`)
}

const streamInto = (folder) => async (blob) => {
  const download = await source.getBlobClient(blob.name).download(0, undefined, { conditions: { ifMatch: blob.etag } })
  const body = download.readableStreamBody
  body.on("data", (chunk) => (bytesThrough += chunk.length))
  await target.getBlockBlobClient(`${folder}${relative(blob)}`).uploadStream(body, BUFFER_BYTES, BUFFERS_IN_FLIGHT)
}

/** Each staged blob copied into place, then deleted. */
const moveIntoPlace = () =>
  pool(blobs, MOVES_AT_ONCE, async (blob) => {
    const staged = `${staging}${relative(blob)}`
    const result = await target
      .getBlockBlobClient(`${targetPrefix}${relative(blob)}`)
      .syncCopyFromURL(readUrl(target, staged))
    if (result.copyStatus !== "success") throw new Error(`${staged}: move ended ${result.copyStatus}`)
    await target.deleteBlob(staged)
  })

switch (mode) {
  case "copy":
    await pool(blobs, COPIES_AT_ONCE, copyInto(targetPrefix))
    break
  case "copy-staged":
    await pool(blobs, COPIES_AT_ONCE, copyInto(staging))
    await moveIntoPlace()
    break
  case "stream":
    await pool(blobs, COPIES_AT_ONCE, streamInto(targetPrefix))
    break
  case "stream-staged":
    await pool(blobs, COPIES_AT_ONCE, streamInto(staging))
    await moveIntoPlace()
    break
  default:
    throw new Error(`unknown mode ${mode}: copy, copy-staged, stream or stream-staged`)
}

const sdk = JSON.parse(
  readFileSync(createRequire(import.meta.url).resolve("@azure/storage-blob/package.json"), "utf8")
).version
console.log(
  JSON.stringify({
    version: `@azure/storage-blob ${sdk}`,
    mode,
    blobs: blobs.length,
    bytesThrough,
    copiesAtOnce: COPIES_AT_ONCE
  })
)
