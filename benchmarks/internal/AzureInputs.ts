/**
 * The Azure benchmark's emulator and input. Azurite runs as a child process of the
 * benchmark on a free port, keeping its data on disk in benchmarks/.data/azurite/ (not
 * in memory: a gibibyte of blobs would otherwise sit in Azurite's heap, beside the
 * processes measured). Its CPU time is read from /proc around each measurement, since it
 * shares the machine's cores with the side being measured.
 *
 * The input is a container of random blobs in four folders of equal size (`docs/q1/` …
 * `docs/q4/`, a quarter of the blobs and of the bytes each), each blob between half and
 * one and a half times the mean size, uploaded with its Content-MD5; kept between runs
 * while its definition is unchanged (a marker blob records it).
 */
import type { BlobServiceClient } from "@azure/storage-blob"
import type { ChildProcess } from "node:child_process"
import { spawn } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { BenchmarkError } from "./Measure.js"

/** Bump when the generated blobs change without their sizes changing. */
const GENERATOR_VERSION = 1

/** Azurite's development account and its published key (not a secret: every emulator has it). */
export const DEV_ACCOUNT = "devstoreaccount1"
export const DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

/** Containers the benchmark's sides write into; any left by an interrupted run is removed at start. */
export const OUTPUT_PREFIX = "bench-out-"

const CLOCK_TICKS = 100

export interface BenchAzurite {
  readonly pid: number
  readonly port: number
  /** http://127.0.0.1:PORT/devstoreaccount1 */
  readonly url: string
  /** The same service under another name (http://localhost:PORT/…): another origin, which Ferry does not copy between. */
  readonly aliasUrl: string
  readonly service: BlobServiceClient
  readonly version: string
  /** Azurite's CPU seconds so far (user + system). */
  readonly cpuSeconds: () => number
  /** Azurite's resident memory now and its peak so far, in bytes. */
  readonly memory: () => { readonly rssBytes: number; readonly peakRssBytes: number }
  readonly stop: () => Promise<void>
}

const azuriteMain = (): { main: string; version: string } => {
  const require = createRequire(import.meta.url)
  const manifest = require.resolve("azurite/package.json")
  const { version } = JSON.parse(fs.readFileSync(manifest, "utf8")) as { version: string }
  return { main: path.join(path.dirname(manifest), "dist/src/blob/main.js"), version }
}

const procStat = (pid: number): number => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat
    .slice(stat.lastIndexOf(")") + 2)
    .split(" ")
    .map(Number)
  return ((fields[11] ?? 0) + (fields[12] ?? 0)) / CLOCK_TICKS
}

const procMemory = (pid: number) => {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) * 1024
  return { rssBytes: kib("VmRSS"), peakRssBytes: kib("VmHWM") }
}

/** Azurite's blob service on a free port of 127.0.0.1, its data in `location`, its access log off. */
export const startAzurite = async (location: string): Promise<BenchAzurite> => {
  fs.mkdirSync(location, { recursive: true })
  const { main, version } = azuriteMain()
  const child: ChildProcess = spawn(
    process.execPath,
    [
      main,
      "--blobHost",
      "127.0.0.1",
      "--blobPort",
      "0",
      "--location",
      location,
      "--silent",
      "--loose",
      "--skipApiVersionCheck",
      "--disableTelemetry"
    ],
    { stdio: ["ignore", "pipe", "pipe"] }
  )
  const port = await new Promise<number>((resolve, reject) => {
    let output = ""
    const failed = (why: string) => reject(new BenchmarkError({ message: `Azurite did not start (${why}): ${output}` }))
    child.once("error", (error) => failed(error.message))
    child.once("exit", (code) => failed(`exit code ${code}`))
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString()
      const listening = /listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(output)
      if (listening !== null) resolve(Number(listening[1]))
    })
  })
  child.removeAllListeners("exit")
  // Read what it prints, so that a full pipe never blocks it.
  child.stdout!.resume()
  child.stderr!.resume()
  const { BlobServiceClient, StorageSharedKeyCredential } = await import("@azure/storage-blob")
  const url = `http://127.0.0.1:${port}/${DEV_ACCOUNT}`
  const pid = child.pid!
  return {
    pid,
    port,
    url,
    aliasUrl: `http://localhost:${port}/${DEV_ACCOUNT}`,
    service: new BlobServiceClient(url, new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY)),
    version,
    cpuSeconds: () => procStat(pid),
    memory: () => procMemory(pid),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once("exit", () => resolve())
        child.kill("SIGTERM")
      })
  }
}

/** Removes the output containers an interrupted run left. */
export const removeOutputs = async (azurite: Pick<BenchAzurite, "service">): Promise<number> => {
  let removed = 0
  for await (const container of azurite.service.listContainers({ prefix: OUTPUT_PREFIX })) {
    await azurite.service.getContainerClient(container.name).delete()
    removed += 1
  }
  return removed
}

export interface BlobInput {
  readonly container: string
  /** The folder holding every blob; a quarter of them under each of `q1/` … `q4/`. */
  readonly prefix: string
  readonly blobs: number
  readonly bytes: number
  /** Name, size and Content-MD5 (base64) of every blob, by name. */
  readonly listing: ReadonlyMap<string, { readonly bytes: number; readonly md5: string }>
}

/** A part of the input: the whole of it, or its first quarter. */
export interface BlobDataset {
  readonly input: BlobInput
  /** The dataset's folder in the container, ending in `/`. */
  readonly prefix: string
  readonly blobs: number
  readonly bytes: number
}

export const wholeInput = (input: BlobInput): BlobDataset => ({
  input,
  prefix: input.prefix,
  blobs: input.blobs,
  bytes: input.bytes
})

export const firstQuarter = (input: BlobInput): BlobDataset => {
  const prefix = `${input.prefix}q1/`
  const names = [...input.listing.keys()].filter((name) => name.startsWith(prefix))
  return {
    input,
    prefix,
    blobs: names.length,
    bytes: names.reduce((total, name) => total + input.listing.get(name)!.bytes, 0)
  }
}

/** Sizes of `count` blobs summing to `total`, each between half and one and a half times the mean. */
const sizes = (count: number, total: number, seed: number): Array<number> => {
  let state = seed
  const random = () => {
    // A linear congruential generator: the same sizes every time for the same input.
    state = (state * 1103515245 + 12345) % 2147483648
    return state / 2147483648
  }
  const weights = Array.from({ length: count }, () => 0.5 + random())
  const sum = weights.reduce((a, b) => a + b, 0)
  const result = weights.map((weight) => Math.floor((weight / sum) * total))
  result[count - 1]! += total - result.reduce((a, b) => a + b, 0)
  return result
}

const MARKER = "_input.json"

const listingOf = async (azurite: Pick<BenchAzurite, "service">, container: string, prefix: string) => {
  const listing = new Map<string, { bytes: number; md5: string }>()
  for await (const blob of azurite.service.getContainerClient(container).listBlobsFlat({ prefix })) {
    const md5 = blob.properties.contentMD5
    listing.set(blob.name, {
      bytes: blob.properties.contentLength ?? 0,
      md5: md5 === undefined ? "" : Buffer.from(md5).toString("base64")
    })
  }
  return listing
}

/**
 * The input of `bytes` in `blobs` blobs (a multiple of four), made unless the container
 * holds one of the same definition.
 */
export const blobInput = async (
  azurite: Pick<BenchAzurite, "service">,
  blobs: number,
  bytes: number,
  log: (line: string) => void
): Promise<BlobInput> => {
  const container = `bench-input-${blobs}-${bytes}`
  const prefix = "docs/"
  const definition = JSON.stringify({ version: GENERATOR_VERSION, blobs, bytes })
  const client = azurite.service.getContainerClient(container)
  await client.createIfNotExists()
  const marker = await client
    .getBlobClient(MARKER)
    .downloadToBuffer()
    .then(
      (buffer) => buffer.toString("utf8"),
      () => undefined
    )
  if (marker !== definition) {
    log(`generating ${blobs} blobs, ${(bytes / 2 ** 30).toFixed(2)} GiB, in container ${container} of Azurite`)
    const started = performance.now()
    for await (const blob of client.listBlobsFlat()) await client.deleteBlob(blob.name)
    const quarter = blobs / 4
    const names: Array<readonly [string, number]> = []
    for (let q = 0; q < 4; q++) {
      for (const [i, size] of sizes(quarter, bytes / 4, 7 + q).entries()) {
        names.push([`${prefix}q${q + 1}/${String(q * quarter + i).padStart(4, "0")}.bin`, size] as const)
      }
    }
    let next = 0
    const upload = async () => {
      while (next < names.length) {
        const [name, size] = names[next++]!
        const content = crypto.randomBytes(size)
        const md5 = crypto.createHash("md5").update(content).digest()
        await client.getBlockBlobClient(name).uploadData(content, {
          blobHTTPHeaders: { blobContentMD5: md5, blobContentType: "application/octet-stream" },
          blockSize: 8 * 1024 * 1024
        })
      }
    }
    await Promise.all([upload(), upload(), upload(), upload()])
    await client.getBlockBlobClient(MARKER).upload(definition, Buffer.byteLength(definition))
    log(`  generated in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  }
  const listing = await listingOf(azurite, container, prefix)
  const total = [...listing.values()].reduce((sum, blob) => sum + blob.bytes, 0)
  if (listing.size !== blobs || total !== bytes || [...listing.values()].some((blob) => blob.md5 === "")) {
    throw new BenchmarkError({
      message: `container ${container} holds ${listing.size} blobs of ${total} bytes, not the input; delete benchmarks/.data/azurite`
    })
  }
  return { container, prefix, blobs, bytes, listing }
}

/**
 * Every blob under `prefix` of `container` against the dataset's: the same relative
 * names and sizes, and each blob's bytes, downloaded here, of the source's MD5.
 * Returns a description of the first difference, or `undefined`.
 */
export const verifyCopy = async (
  azurite: Pick<BenchAzurite, "service">,
  dataset: BlobDataset,
  container: string,
  prefix: string
): Promise<string | undefined> => {
  const copied = await listingOf(azurite, container, prefix)
  const wanted = [...dataset.input.listing].filter(([name]) => name.startsWith(dataset.prefix))
  const names = new Set(
    [...copied.keys()].map((name) => name.slice(prefix.length)).filter((name) => !name.startsWith("_ferry/"))
  )
  if (names.size !== wanted.length) return `${names.size} blobs in ${container}/${prefix}, ${wanted.length} wanted`
  const client = azurite.service.getContainerClient(container)
  let next = 0
  let problem: string | undefined
  const check = async () => {
    while (next < wanted.length && problem === undefined) {
      const [name, source] = wanted[next++]!
      const target = `${prefix}${name.slice(dataset.prefix.length)}`
      const listed = copied.get(target)
      if (listed === undefined || listed.bytes !== source.bytes) {
        problem = `${target}: ${listed?.bytes ?? "no"} bytes, ${source.bytes} wanted`
        return
      }
      const hash = crypto.createHash("md5")
      const body = (await client.getBlobClient(target).download()).readableStreamBody!
      for await (const chunk of body) hash.update(chunk as Buffer)
      if (hash.digest("base64") !== source.md5) problem = `${target}: its bytes differ from the source's`
    }
  }
  await Promise.all([check(), check(), check(), check()])
  return problem
}
