/**
 * Azurite, the Blob Storage emulator, for the tests: a child process per test file on a
 * free port (`startAzurite` in beforeAll, `stop` in afterAll), keeping its data in memory,
 * or in a folder so that it can be stopped and started again with its data on the same
 * port. It serves the well-known development account; `container` makes a container for
 * one test and deletes it when the test's scope closes.
 */
import { BlobServiceClient, ContainerSASPermissions, StorageSharedKeyCredential } from "@azure/storage-blob"
import { generateBlobSASQueryParameters } from "@azure/storage-blob"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { ChildProcess } from "node:child_process"
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { createRequire } from "node:module"
import * as path from "node:path"
import type { AzureBlobStoreConfig } from "../../connectors/azure-blob/AzureBlobStore.js"
import { AzureBlobStoreConfig as StoreConfigSchema } from "../../connectors/azure-blob/AzureBlobStore.js"

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

/** A store config on the development account, signed with its key; retries kept short for tests. */
export const keyStore = (azurite: Azurite, extra: Record<string, unknown> = {}): AzureBlobStoreConfig =>
  Schema.decodeUnknownSync(StoreConfigSchema)({
    account_url: azurite.url,
    account_name: DEV_ACCOUNT,
    account_key: DEV_KEY,
    max_tries: 2,
    retry_delay_ms: 20,
    ...extra
  })

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
