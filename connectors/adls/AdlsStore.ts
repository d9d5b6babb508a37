/**
 * An Azure Data Lake Storage Gen2 account. It answers on two endpoints: the Blob
 * endpoint (`https://ACCOUNT.blob.core.windows.net`), through which Ferry reads, lists
 * and writes files exactly as it does for a blob store (connectors/azure-blob does all
 * of it), and, when the account has a hierarchical namespace, the DFS endpoint
 * (`https://ACCOUNT.dfs.core.windows.net`), which adds real directories: creating,
 * renaming and deleting one is a single atomic request, whatever it holds. The sink
 * publishes through those renames (sinks/adls).
 *
 * The store signs in once, as the blob store does; its DFS client shares the Blob
 * client's request pipeline (credential, retries), so both endpoints see one identity.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as AzureBlob from "@azure/storage-blob"
import type * as DataLake from "@azure/storage-file-datalake"
import type { BlobAccount } from "../azure-blob/AzureBlobStore.js"
import {
  AzureBlobError,
  AzureBlobStoreConfig,
  codeOf,
  containerNamed,
  endpointUrl,
  NETWORK_CODES,
  openAccount,
  shortened,
  statusOf
} from "../azure-blob/AzureBlobStore.js"

const blobFields = AzureBlobStoreConfig.from.fields

/** File system names follow the container rules. */
export const FileSystemName = containerNamed("a file system name")

/** The DFS endpoint of a public Azure Blob endpoint (`ACCOUNT.blob.…` → `ACCOUNT.dfs.…`), when it is one. */
export const dfsEndpointOf = (blobEndpoint: string): string | undefined => {
  if (!URL.canParse(blobEndpoint)) return undefined
  const url = new URL(blobEndpoint)
  if (!/^[^.]+\.blob\./.test(url.hostname)) return undefined
  url.hostname = url.hostname.replace(/^([^.]+)\.blob\./, "$1.dfs.")
  url.search = ""
  return url.toString().replace(/\/+$/, "")
}

/** The Blob endpoint of an account URL given as its DFS endpoint (`ACCOUNT.dfs.…` → `ACCOUNT.blob.…`). */
const blobEndpointOf = (accountUrl: string): string => {
  const url = new URL(accountUrl)
  url.hostname = url.hostname.replace(/^([^.]+)\.dfs\./, "$1.blob.")
  return url.toString().replace(/\/+$/, "")
}

export const AdlsStoreConfig = Schema.Struct({
  ...blobFields,
  account_url: Schema.optional(
    blobFields.account_url.from.annotations({
      description:
        "The account's Blob endpoint (https://ACCOUNT.blob.core.windows.net) or its DFS endpoint (https://ACCOUNT.dfs.core.windows.net): Ferry uses both, and finds one from the other. Give it with one way to sign in: account_name and account_key, sas_token, or default_credential.",
      examples: ["https://contosolake.blob.core.windows.net"]
    })
  ),
  dfs_url: Schema.optional(
    endpointUrl("expected the account's DFS endpoint, such as https://contosolake.dfs.core.windows.net").annotations({
      description:
        "The account's DFS endpoint, when it cannot be found from account_url or the connection string (a private endpoint, an emulator). Used for directories and renames when hierarchical_namespace is true.",
      examples: ["https://contosolake.dfs.core.windows.net"]
    })
  ),
  hierarchical_namespace: Schema.optionalWith(Schema.Boolean, { default: () => true }).annotations({
    description:
      "Whether the account has a hierarchical namespace (default true, as every ADLS Gen2 account has). With it, a target publishes by renaming directories through the DFS endpoint; without it (a plain blob account, an emulator of the Blob endpoint only), it publishes as a blob target does, by server-side copies.",
    examples: [true]
  })
})
  .pipe(
    Schema.filter((config) => {
      const { dfs_url: _dfs, hierarchical_namespace: _hns, ...blob } = config
      const checked = Schema.validateEither(AzureBlobStoreConfig)(blob)
      if (Either.isLeft(checked)) return checked.left.issue
      if (
        config.hierarchical_namespace &&
        config.dfs_url === undefined &&
        config.account_url !== undefined &&
        dfsEndpointOf(blobEndpointOf(config.account_url)) === undefined
      ) {
        return {
          path: ["dfs_url"],
          message:
            "give dfs_url: the DFS endpoint is found only from an ACCOUNT.blob… or ACCOUNT.dfs… account_url (or set hierarchical_namespace: false)"
        }
      }
      return undefined
    })
  )
  .annotations({
    identifier: "AdlsStoreConfig",
    description: "An Azure Data Lake Storage Gen2 account (its Blob endpoint, and its DFS endpoint for directories)."
  })
export type AdlsStoreConfig = typeof AdlsStoreConfig.Type

/** The blob store's config of the same account: everything the Blob endpoint serves goes through it. */
export const blobStoreConfig = (config: AdlsStoreConfig): AzureBlobStoreConfig => {
  const { dfs_url: _dfs, hierarchical_namespace: _hns, ...blob } = config
  return blob.account_url === undefined ? blob : { ...blob, account_url: blobEndpointOf(blob.account_url) }
}

/**
 * A message of the blob store in the words of a data lake: a container is a file
 * system, a blob a path. The blob store's messages name places as `container NAME` and
 * `blob CONTAINER/NAME`, which this rewrites.
 */
export const inLakeTerms = (message: string): string =>
  message
    .replace(/\bcontainers\b/g, "file systems")
    .replace(/\bcontainer\b/g, "file system")
    .replace(/\bblob folder\b/g, "directory")
    .replace(/\bsource blob\b/g, "source file")
    .replace(/\bblob path\b/g, "path")
    .replace(/\bblobs\b/g, "files")
    .replace(/\bblob (?=\S)/g, "path ")

/** The DFS side of an account with a hierarchical namespace. */
export interface Lake {
  readonly service: DataLake.DataLakeServiceClient
  /** The DFS endpoint, without credentials, for messages. */
  readonly endpoint: URL
  /** The failure of `action` ("renaming", "deleting"…) at `path` of `fileSystem`, as a secret-free sentence. */
  readonly describe: (error: unknown, action: string, fileSystem: string, path?: string) => string
}

/** Long paths (up to 1,024 characters) are cut in messages. */
const shownPath = (fileSystem: string, path: string | undefined): string => {
  if (path === undefined || path === "") return `file system ${fileSystem}`
  return `path ${shortened(`${fileSystem}/${path}`)}`
}

/** Why a DFS request failed, for the codes only the DFS endpoint gives; the others as the Blob endpoint tells them. */
const dfsReason = (error: unknown, fileSystem: string, endpoint: URL): string | undefined => {
  const code = codeOf(error)
  const status = statusOf(error)
  if (status === undefined && code !== undefined && NETWORK_CODES.has(code)) {
    return `the DFS endpoint at ${endpoint.host} cannot be reached (${code}); check dfs_url`
  }
  switch (code) {
    case "FilesystemNotFound":
    case "ContainerNotFound":
      return `file system ${fileSystem} does not exist in the account`
    case "HierarchicalNamespaceNotEnabled":
    case "FilesystemNotSupported":
      return "the account has no hierarchical namespace; set hierarchical_namespace: false"
    case "SourcePathNotFound":
      return "the path to rename does not exist"
    case "RenameDestinationParentPathNotFound":
      return "the directory it would be renamed into does not exist"
    case "PathAlreadyExists":
      return "something is already at its destination"
    case "DirectoryNotEmpty":
      return "a directory that is not empty is in the way"
    case "PathConflict":
    case "InvalidDestinationPath":
    case "InvalidRenameSourcePath":
      return `it conflicts with what is there (HTTP ${status ?? "?"} ${code})`
    case "PathNotFound":
      return "it does not exist"
    default:
      return undefined
  }
}

/** The request pipeline of a Blob client (its credential and retries), for a DFS client of the same account. */
const pipelineOf = (service: AzureBlob.BlobServiceClient): AzureBlob.Pipeline =>
  // The SDKs share one Pipeline class; the DFS client takes the Blob client's, so that the store signs in once.
  (service as unknown as { readonly pipeline: AzureBlob.Pipeline }).pipeline

/**
 * Opens the DFS side of the account whose Blob side `account` is: nothing is asked of
 * the service until a path is used.
 */
export const openLake = (config: AdlsStoreConfig, account: BlobAccount): Effect.Effect<Lake, AzureBlobError> =>
  Effect.gen(function* () {
    const found = config.dfs_url ?? dfsEndpointOf(account.endpoint.toString())
    if (found === undefined) {
      return yield* new AzureBlobError({
        store: account.store,
        message: `the DFS endpoint of ${account.endpoint.host} cannot be found from it: give dfs_url, or set hierarchical_namespace: false`
      })
    }
    const sdk = yield* Effect.promise(() => import("@azure/storage-file-datalake"))
    const endpoint = new URL(found)
    const signed =
      account.auth.kind === "sas" ? `${found.replace(/\/+$/, "")}?${Redacted.value(account.auth.token)}` : found
    const service = new sdk.DataLakeServiceClient(signed, pipelineOf(account.service))
    const describe = (error: unknown, action: string, fileSystem: string, path?: string): string => {
      const reason = dfsReason(error, fileSystem, endpoint)
      if (reason !== undefined) return `${action} ${shownPath(fileSystem, path)}: ${reason}`
      const place =
        path === undefined || path === "" ? { container: fileSystem } : { container: fileSystem, blob: path }
      return inLakeTerms(account.describe(error, action, place))
    }
    return { service, endpoint, describe }
  })

/** The Blob side of the account, opened as the blob store opens it. */
export const openBlobSide = (
  config: AdlsStoreConfig,
  store: string
): Effect.Effect<BlobAccount, AzureBlobError, Scope.Scope> => openAccount(blobStoreConfig(config), store)
