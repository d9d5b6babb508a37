/**
 * Azure Data Lake Storage Gen2 as a source. A dataset is a file system, a directory of
 * it or one file, shared as files byte for byte (incremental by last modified time and
 * path), or read as a table (`kind: table`) from CSV, Parquet or JSON Lines files.
 *
 * Everything a source does goes through the account's Blob endpoint, which serves an
 * ADLS account as it serves a blob account: the session is the blob store's session
 * (connectors/azure-blob), given the dataset as a container and prefix, with its
 * messages told in a data lake's words. One thing differs: with a hierarchical
 * namespace, a listing of the Blob endpoint also returns the directories, as empty
 * entries marked `hdi_isfolder`; they are left out.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { AzureBlobDatasetConfig, AzureBlobWatermark } from "../azure-blob/AzureBlobSource.js"
import { AzureBlobWatermark as BlobWatermark, azureBlobSource, folderOf } from "../azure-blob/AzureBlobSource.js"
import type { BlobAccount } from "../azure-blob/AzureBlobStore.js"
import { blobPathProblem } from "../azure-blob/BlobFiles.js"
import { SourceError } from "../../core/Errors.js"
import type { FileEntry, SourceConnector, SourceSession, StoreContext } from "../../core/Source.js"
import { checkTableSettings, givenTableSetting, TableSettingsFields } from "../../sinks/formats/FileTableDataset.js"
import type { AdlsStoreConfig } from "./AdlsStore.js"
import {
  AdlsStoreConfig as StoreConfig,
  blobStoreConfig,
  FileSystemName,
  inLakeTerms,
  openBlobSide
} from "./AdlsStore.js"

export const AdlsDatasetConfig = Schema.Struct({
  file_system: FileSystemName.annotations({
    description: "The file system holding the dataset; alone, the whole file system is the dataset.",
    examples: ["sales"]
  }),
  directory: Schema.optional(
    Schema.NonEmptyString.annotations({
      description: "A directory of the file system: its files at any depth, named relative to it.",
      examples: ["exports/2026/", "documents"]
    })
  ),
  file: Schema.optional(
    Schema.NonEmptyString.annotations({
      description: "One file, by its full path in the file system.",
      examples: ["reports/q1.pdf", "orders.parquet"]
    })
  ),
  kind: Schema.optionalWith(Schema.Literal("files", "table"), { default: () => "files" as const }).annotations({
    description:
      "`files` (the default): the files are shared byte for byte. `table`: they are CSV, Parquet or JSON Lines files read as one table."
  }),
  ...TableSettingsFields
})
  .pipe(
    Schema.filter((dataset) => {
      if (dataset.directory !== undefined && dataset.file !== undefined) {
        return { path: ["file"], message: "give directory (a directory) or file (one file), not both" }
      }
      for (const key of ["directory", "file"] as const) {
        const value = dataset[key]?.replace(/^\/+/, "").replace(key === "directory" ? /\/+$/ : /$^/, "")
        const problem = value === undefined ? undefined : value === "" ? `${key} names nothing` : blobPathProblem(value)
        if (problem !== undefined) return { path: [key], message: inLakeTerms(problem) }
      }
      if (dataset.kind === "files") {
        const extra = givenTableSetting(dataset)
        if (extra !== undefined) {
          return { path: [extra], message: `${extra} applies to table datasets (kind: table), not to files` }
        }
      }
      return checkTableSettings(dataset)
    })
  )
  .annotations({ identifier: "AdlsDataset" })
export type AdlsDatasetConfig = typeof AdlsDatasetConfig.Type

export const AdlsWatermark = BlobWatermark
export type AdlsWatermark = AzureBlobWatermark

/** The dataset as the blob store names it: the file system as a container, the directory as a prefix. */
export const blobDataset = (dataset: AdlsDatasetConfig): AzureBlobDatasetConfig => {
  const { directory, file, file_system, ...rest } = dataset
  return {
    ...rest,
    container: file_system,
    ...(directory === undefined ? {} : { prefix: directory }),
    ...(file === undefined ? {} : { blob: file })
  }
}

const inLakeWords = (error: SourceError): SourceError =>
  new SourceError({
    ...error,
    message: inLakeTerms(error.message),
    ...(error.file === undefined ? {} : { file: inLakeTerms(error.file) })
  })

/**
 * True unless the entry is a directory: with a hierarchical namespace, the Blob
 * endpoint lists directories as empty blobs whose metadata says `hdi_isfolder`. Only
 * empty entries are asked about, one request each.
 */
const isFile = (account: BlobAccount, dataset: AdlsDatasetConfig, entry: FileEntry) => {
  if (entry.size > 0) return Effect.succeed(true)
  const folder = folderOf(blobDataset(dataset))
  const name = folder.blob ?? `${folder.prefix}${entry.path}`
  return Effect.tryPromise({
    try: () => account.service.getContainerClient(folder.container).getBlobClient(name).getProperties(),
    catch: (error) =>
      new SourceError({
        store: account.store,
        message: inLakeTerms(account.describe(error, "reading", { container: folder.container, blob: name }))
      })
  }).pipe(Effect.map((properties) => properties.metadata?.["hdi_isfolder"] !== "true"))
}

const openSession = (
  config: AdlsStoreConfig,
  context: StoreContext
): Effect.Effect<SourceSession<AdlsDatasetConfig, AdlsWatermark>, SourceError, Scope.Scope> =>
  Effect.gen(function* () {
    const blob = yield* Effect.mapError(azureBlobSource.open(blobStoreConfig(config), context), inLakeWords)
    // Directories are listed only with a hierarchical namespace, and told from files through the account.
    const account = config.hierarchical_namespace
      ? yield* Effect.mapError(
          openBlobSide(config, context.store),
          (error) => new SourceError({ store: context.store, message: inLakeTerms(error.message) })
        )
      : undefined
    const files = blob.files!
    const mapStream = <A>(stream: Stream.Stream<A, SourceError>) => Stream.mapError(stream, inLakeWords)
    return {
      describe: (dataset) => Effect.mapError(blob.describe(blobDataset(dataset)), inLakeWords),
      readTable: (dataset, plan) => mapStream(blob.readTable!(blobDataset(dataset), plan)),
      files: {
        list: (dataset, range) => {
          const listed = mapStream(files.list(blobDataset(dataset), range))
          return account === undefined
            ? listed
            : Stream.filterEffect(listed, (entry) => isFile(account, dataset, entry))
        },
        read: (dataset, file) => mapStream(files.read(blobDataset(dataset), file)),
        stat: (dataset, path) => Effect.mapError(files.stat(blobDataset(dataset), path), inLakeWords),
        locate: (dataset, file) => Effect.mapError(files.locate!(blobDataset(dataset), file), inLakeWords)
      }
    }
  })

export const adlsSource: SourceConnector<AdlsStoreConfig, AdlsDatasetConfig, AdlsWatermark> = {
  type: "adls",
  description:
    "Azure Data Lake Storage Gen2: file systems, directories and files shared as files (copied server-side into a blob or ADLS store), or CSV, Parquet and JSON Lines files read as tables.",
  storeConfig: StoreConfig,
  datasetConfig: AdlsDatasetConfig,
  watermark: AdlsWatermark,
  open: openSession
}
