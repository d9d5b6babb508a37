/**
 * Azurite, the Blob Storage emulator, for the tests: a child process per test file on a
 * free port (`azuriteForTests`; or `startAzurite` and `stop`), keeping its data in
 * memory, or in a folder so that it can be stopped and started again with its data on
 * the same port. It serves the well-known development account; `container` makes a
 * container for one test and deletes it when the test's scope closes. Beside it, what
 * the blob and ADLS tests share: store configs and share-config lines signed with the
 * development key, blobs written with the times the service sets, and what a consumer
 * of a target folder sees (its files, its manifests).
 */
import { BlobServiceClient, ContainerSASPermissions, StorageSharedKeyCredential } from "@azure/storage-blob"
import { generateBlobSASQueryParameters } from "@azure/storage-blob"
import { afterAll, beforeAll } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { ChildProcess } from "node:child_process"
import { spawn } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import { createRequire } from "node:module"
import * as path from "node:path"
import { AdlsStoreConfig } from "../../connectors/adls/AdlsStore.js"
import type { AzureBlobStoreConfig } from "../../connectors/azure-blob/AzureBlobStore.js"
import { AzureBlobStoreConfig as StoreConfigSchema } from "../../connectors/azure-blob/AzureBlobStore.js"
import { AzureBlobManifest } from "../../sinks/azure-blob/AzureBlobSink.js"
import type { FormatName } from "../../sinks/formats/Format.js"
import { formatNamed } from "../../sinks/formats/Formats.js"
import type { FileSpec, TableSpec } from "../conformance/index.js"
import { batchOf, collect } from "../conformance/index.js"

/** Azurite's development account and its published key. */
export const DEV_ACCOUNT = "devstoreaccount1"
export const DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

const MAIN = path.join(
  path.dirname(createRequire(import.meta.url).resolve("azurite/package.json")),
  "dist/src/blob/main.js"
)

export interface Azurite {
  readonly port: number
  /** The account's endpoint: http://127.0.0.1:PORT/devstoreaccount1. */
  readonly url: string
  /** A client signed with the account key, for the tests' own requests. */
  readonly service: BlobServiceClient
  readonly credential: StorageSharedKeyCredential
  /** Stops the emulator (its data stays in `location`, if it has one). */
  readonly stop: () => Promise<void>
  /** Starts it again on the same port (and with the same data, given a `location`). */
  readonly start: () => Promise<void>
}

const launch = (port: number, location: string | undefined): Promise<{ child: ChildProcess; port: number }> =>
  new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        MAIN,
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        String(port),
        ...(location === undefined ? ["--inMemoryPersistence"] : ["--location", location]),
        "--loose",
        "--skipApiVersionCheck",
        "--disableTelemetry"
      ],
      { stdio: ["ignore", "pipe", "pipe"] }
    )
    let output = ""
    const failed = (why: string) => reject(new Error(`Azurite did not start (${why}): ${output}`))
    const exited = (code: number | null) => failed(`exit code ${code}`)
    child.once("error", (error) => failed(error.message))
    child.once("exit", exited)
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()))
    const starting = (chunk: Buffer) => {
      output += chunk.toString()
      const listening = /listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(output)
      if (listening === null) return
      child.off("exit", exited)
      child.stdout!.off("data", starting)
      // Its access log is not needed, but must be read for the child not to block on a full pipe.
      child.stdout!.resume()
      resolve({ child, port: Number(listening[1]) })
    }
    child.stdout!.on("data", starting)
  })

const terminate = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill("SIGTERM")
  })

/** Azurite on a free port; with `location`, its data lives in that folder and survives a restart. */
export const startAzurite = async (options: { readonly location?: string } = {}): Promise<Azurite> => {
  let running = await launch(0, options.location)
  const port = running.port
  const url = `http://127.0.0.1:${port}/${DEV_ACCOUNT}`
  const credential = new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY)
  return {
    port,
    url,
    credential,
    service: new BlobServiceClient(url, credential, { retryOptions: { maxTries: 1 } }),
    stop: () => terminate(running.child),
    start: async () => {
      running = await launch(port, options.location)
    }
  }
}

/**
 * Azurite for the tests of one file: started before them, stopped after them. The value
 * stands for the running emulator, to be used in the tests (and in hooks registered after
 * this call), not while the file is being collected.
 */
export const azuriteForTests = (): Azurite => {
  let started: Azurite | undefined
  beforeAll(async () => {
    started = await startAzurite()
  })
  afterAll(async () => {
    await started?.stop()
  })
  const running = (): Azurite => {
    if (started === undefined) throw new Error("Azurite runs only while the file's tests do")
    return started
  }
  return {
    get port() {
      return running().port
    },
    get url() {
      return running().url
    },
    get service() {
      return running().service
    },
    get credential() {
      return running().credential
    },
    stop: () => running().stop(),
    start: () => running().start()
  }
}

/** A container of its own for one test, deleted with everything in it when the scope closes. */
export const container = (azurite: Azurite): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const name = `t-${randomBytes(6).toString("hex")}`
      await azurite.service.getContainerClient(name).create()
      return name
    }),
    (name) => Effect.promise(() => azurite.service.getContainerClient(name).deleteIfExists())
  )

/** A store's settings on the development account, signed with its key; retries kept short for tests. */
const keyFields = (azurite: Azurite) => ({
  account_url: azurite.url,
  account_name: DEV_ACCOUNT,
  account_key: DEV_KEY,
  max_tries: 2,
  retry_delay_ms: 20
})

/** A blob store config on the development account, signed with its key. */
export const keyStore = (azurite: Azurite, extra: Record<string, unknown> = {}): AzureBlobStoreConfig =>
  Schema.decodeUnknownSync(StoreConfigSchema)({ ...keyFields(azurite), ...extra })

/** An ADLS store config on the development account, signed with its key (`extra` sets the namespace, dfs_url…). */
export const lakeStore = (azurite: Azurite, extra: Record<string, unknown> = {}): AdlsStoreConfig =>
  Schema.decodeUnknownSync(AdlsStoreConfig)({ ...keyFields(azurite), ...extra })

/** The line of a share config's `stores:` for a store on Azurite, signed with the development key. */
export const keyStoreLine = (
  azurite: Azurite,
  name: string,
  account: string,
  options: { readonly type?: "azure_blob" | "adls"; readonly extra?: string } = {}
) =>
  `${name}: { type: ${options.type ?? "azure_blob"}, account: ${account}, account_url: "${azurite.url}", account_name: ${DEV_ACCOUNT}, account_key: "${DEV_KEY}", max_tries: 2, retry_delay_ms: 20${options.extra ?? ""} }`

/** A SAS of a container with these permissions (such as "rl"), valid until `expires`. */
export const containerSas = (azurite: Azurite, container: string, permissions: string, expires: Date): string =>
  generateBlobSASQueryParameters(
    {
      containerName: container,
      permissions: ContainerSASPermissions.parse(permissions),
      startsOn: new Date(Date.now() - 5 * 60_000),
      expiresOn: expires
    },
    azurite.credential
  ).toString()

/** A store config on the development account, signed with a SAS. */
export const sasStore = (azurite: Azurite, sas: string, extra: Record<string, unknown> = {}): AzureBlobStoreConfig =>
  Schema.decodeUnknownSync(StoreConfigSchema)({
    account_url: azurite.url,
    sas_token: sas,
    max_tries: 2,
    retry_delay_ms: 20,
    ...extra
  })

/** Uploads blobs, in order, with their content. */
export const putBlobs = async (
  azurite: Azurite,
  container: string,
  blobs: ReadonlyArray<readonly [name: string, content: string | Uint8Array]>
): Promise<void> => {
  const client = azurite.service.getContainerClient(container)
  for (const [name, content] of blobs) {
    const bytes = typeof content === "string" ? Buffer.from(content) : Buffer.from(content)
    await client.getBlockBlobClient(name).uploadData(bytes)
  }
}

/** The blobs of a container under `prefix`, by name, with their content. */
export const blobContents = async (azurite: Azurite, container: string, prefix = ""): Promise<Map<string, Buffer>> => {
  const client = azurite.service.getContainerClient(container)
  const contents = new Map<string, Buffer>()
  for await (const item of client.listBlobsFlat({ prefix })) {
    contents.set(item.name, await client.getBlobClient(item.name).downloadToBuffer())
  }
  return contents
}

/** What a consumer sees in a target folder (ending in `/`): its files by path, with their content; no bookkeeping. */
export const publishedBlobs = async (azurite: Azurite, container: string, folder: string) =>
  new Map(
    [...(await blobContents(azurite, container, folder)).entries()]
      .filter(([name]) => !name.slice(folder.length).startsWith("_ferry/"))
      .map(([name, bytes]) => [name.slice(folder.length), bytes] as const)
  )

/** What a consumer sees in a target folder (ending in `/`), as each file's path and SHA-256, in path order. */
export const publishedHashes = async (azurite: Azurite, container: string, folder: string) =>
  [...(await publishedBlobs(azurite, container, folder))]
    .map(([path, bytes]) => [path, createHash("sha256").update(bytes).digest("hex")] as const)
    .sort(([a], [b]) => (a < b ? -1 : 1))

/** The manifests of a target folder (ending in `/`), in the order of their run ids. */
export const manifestsOf = async (azurite: Azurite, container: string, folder: string) =>
  [...(await blobContents(azurite, container, `${folder}_ferry/manifests/`)).values()].map((bytes) =>
    Schema.decodeUnknownSync(Schema.parseJson(AzureBlobManifest))(bytes.toString("utf8"))
  )

const nextSecond = () => Effect.sleep(1_000 - (Date.now() % 1_000) + 30)

/**
 * The files under `docs/`, with modification times the service sets: each group of
 * files sharing a `lastModified` is written at the start of a new second, again if it
 * straddled two; then the service's clock is let past the last second. The times the
 * files got, by path.
 */
export const writeInSeconds = (azurite: Azurite, container: string, files: ReadonlyArray<FileSpec>) =>
  Effect.gen(function* () {
    const client = azurite.service.getContainerClient(container)
    const times = [...new Set(files.map((file) => file.lastModified))].sort((a, b) => a - b)
    const modified = new Map<string, number>()
    for (const time of times) {
      const group = files.filter((file) => file.lastModified === time)
      for (let attempt = 0; ; attempt++) {
        yield* nextSecond()
        const written = yield* Effect.promise(() =>
          Promise.all(
            group.map(async (file) => {
              const done = await client.getBlockBlobClient(`docs/${file.path}`).uploadData(Buffer.from(file.content))
              return [file.path, done.lastModified!.getTime()] as const
            })
          )
        )
        if (new Set(written.map(([, at]) => at)).size === 1 || attempt === 3) {
          for (const [path, at] of written) modified.set(path, at)
          break
        }
      }
    }
    yield* nextSecond()
    return modified
  })

/** The rows as part blobs of the format, of `pageRows` rows each, under `table/`. */
export const writeParts = (azurite: Azurite, container: string, name: FormatName, spec: TableSpec) =>
  Effect.gen(function* () {
    const format = formatNamed(name)
    const options = Schema.decodeUnknownSync(format.options)({})
    const client = azurite.service.getContainerClient(container)
    const count = Math.max(1, Math.ceil(spec.rows.length / spec.pageRows))
    for (let part = 0; part < count; part++) {
      const rows = spec.rows.slice(part * spec.pageRows, (part + 1) * spec.pageRows)
      const bytes = Buffer.concat(
        yield* collect(format.encode(spec.columns, Stream.make(batchOf(spec.columns, rows)), options))
      )
      const blob = `table/part-${String(part).padStart(5, "0")}.${format.extensions[0]!}`
      yield* Effect.promise(() => client.getBlockBlobClient(blob).uploadData(bytes))
    }
  })
