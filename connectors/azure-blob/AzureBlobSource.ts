/**
 * Azure Blob Storage as a source. A dataset is a container, a folder of it (`prefix`) or
 * one blob (`blob`), shared as files byte for byte (incremental by last modified time
 * and name), or read as a table (`kind: table`) from CSV, Parquet or JSON Lines blobs,
 * through the formats every file store shares. A blob can be located by a signed,
 * short-lived, read-only URL, from which a blob target copies it server-side.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { SourceError } from "../../core/Errors.js"
import type { FileEntry, ReadPlan, SourceConnector, SourceSession, StoreContext } from "../../core/Source.js"
import type { Column } from "../../core/Types.js"
import { CursorWatermark, FileWatermark } from "../../core/Watermark.js"
import type { FileTable } from "../../sinks/formats/FileTable.js"
import { readFileTable } from "../../sinks/formats/FileTable.js"
import type { TableFilesAt } from "../../sinks/formats/FileTableDataset.js"
import {
  checkTableSettings,
  givenTableSetting,
  openFileTable,
  TableSettingsFields
} from "../../sinks/formats/FileTableDataset.js"
import type { FileInput } from "../../sinks/formats/Format.js"
import type { AzureBlobError, BlobAccount } from "./AzureBlobStore.js"
import { AzureBlobStoreConfig, checkContainer, ContainerName, openAccount } from "./AzureBlobStore.js"
import type { BlobFolder } from "./BlobFiles.js"
import { blobOf, blobPathProblem, listBlobs, readBlob, readBytes, statBlob } from "./BlobFiles.js"

export const AzureBlobDatasetConfig = Schema.Struct({
  container: ContainerName.annotations({
    description: "The container holding the dataset; alone, the whole container is the dataset.",
    examples: ["sales"]
  }),
  prefix: Schema.optional(
    Schema.NonEmptyString.annotations({
      description: "A folder of the container: its blobs at any depth, named relative to it.",
      examples: ["exports/2026/", "documents"]
    })
  ),
  blob: Schema.optional(
    Schema.NonEmptyString.annotations({
      description: "One blob, by its full name in the container.",
      examples: ["reports/q1.pdf", "orders.parquet"]
    })
  ),
  kind: Schema.optionalWith(Schema.Literal("files", "table"), { default: () => "files" as const }).annotations({
    description:
      "`files` (the default): the blobs are shared byte for byte. `table`: they are CSV, Parquet or JSON Lines files read as one table."
  }),
  ...TableSettingsFields
})
  .pipe(
    Schema.filter((dataset) => {
      if (dataset.prefix !== undefined && dataset.blob !== undefined) {
        return { path: ["blob"], message: "give prefix (a folder) or blob (one blob), not both" }
      }
      for (const key of ["prefix", "blob"] as const) {
        const value = dataset[key]?.replace(/^\/+/, "").replace(key === "prefix" ? /\/+$/ : /$^/, "")
        const problem = value === undefined ? undefined : value === "" ? `${key} names nothing` : blobPathProblem(value)
        if (problem !== undefined) return { path: [key], message: problem }
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
  .annotations({ identifier: "AzureBlobDataset" })
export type AzureBlobDatasetConfig = typeof AzureBlobDatasetConfig.Type

export const AzureBlobWatermark = Schema.Union(CursorWatermark, FileWatermark)
export type AzureBlobWatermark = typeof AzureBlobWatermark.Type

/** How long a signed URL given to a copying service stays valid. */
export const SIGNED_URL_MS = 60 * 60_000

/** The folder of a dataset: `prefix` as a folder ending in `/`, or the one blob. */
export const folderOf = (dataset: AzureBlobDatasetConfig): BlobFolder => {
  if (dataset.blob !== undefined)
    return { container: dataset.container, prefix: "", blob: dataset.blob.replace(/^\/+/, "") }
  const prefix = (dataset.prefix ?? "").replace(/^\/+/, "").replace(/\/+$/, "")
  return { container: dataset.container, prefix: prefix === "" ? "" : `${prefix}/` }
}

const shownDataset = (dataset: AzureBlobDatasetConfig) => {
  const folder = folderOf(dataset)
  return `${folder.container}/${folder.blob ?? folder.prefix}`
}

const openSession = (
  config: AzureBlobStoreConfig,
  context: StoreContext
): Effect.Effect<SourceSession<AzureBlobDatasetConfig, AzureBlobWatermark>, SourceError, Scope.Scope> =>
  Effect.gen(function* () {
    const asSourceError = (error: AzureBlobError) => new SourceError({ store: context.store, message: error.message })
    const account: BlobAccount = yield* Effect.mapError(openAccount(config, context.store), asSourceError)

    const input = (folder: BlobFolder, entry: FileEntry): FileInput => {
      const place = blobOf(folder, entry.path)
      return {
        name: `${place.container}/${place.blob}`,
        size: entry.size,
        stream: () => Stream.mapError(readBlob(account, place, entry), asSourceError),
        readRange: (start, end) => Effect.mapError(readBytes(account, place, entry.etag, start, end), asSourceError)
      }
    }

    const tableAt = (dataset: AzureBlobDatasetConfig): TableFilesAt => {
      const folder = folderOf(dataset)
      // The entries of the last listing, by path, for the inputs asked right after it.
      const listed = new Map<string, FileEntry>()
      return {
        store: context.store,
        table: shownDataset(dataset),
        folder:
          folder.blob !== undefined
            ? Effect.succeed(Option.none())
            : listBlobs(
                account,
                folder,
                { after: Option.none(), until: Number.MAX_SAFE_INTEGER },
                { settled: false }
              ).pipe(
                Stream.runCollect,
                Effect.map((entries) => {
                  listed.clear()
                  for (const entry of entries) listed.set(entry.path, entry)
                  return Option.some([...listed.keys()])
                }),
                Effect.mapError(asSourceError)
              ),
        input: (name) =>
          name === undefined
            ? Effect.map(Effect.mapError(statBlob(account, folder, ""), asSourceError), (entry) => input(folder, entry))
            : Effect.succeed(input(folder, listed.get(name)!))
      }
    }

    const tables = new Map<string, { table: FileTable<unknown>; columns: ReadonlyArray<Column> }>()
    const openTable = (dataset: AzureBlobDatasetConfig) =>
      Effect.gen(function* () {
        const key = JSON.stringify(dataset)
        const cached = tables.get(key)
        if (cached !== undefined) return cached
        const opened = yield* openFileTable(tableAt(dataset), dataset)
        tables.set(key, opened)
        return opened
      })

    const filesOf = (dataset: AzureBlobDatasetConfig): Effect.Effect<BlobFolder, SourceError> =>
      dataset.kind === "files"
        ? Effect.succeed(folderOf(dataset))
        : Effect.fail(
            new SourceError({
              store: context.store,
              message: `${shownDataset(dataset)} is a table dataset, not a folder of files`
            })
          )

    return {
      describe: (dataset) =>
        dataset.kind === "table"
          ? Effect.map(openTable(dataset), ({ columns }) => ({ kind: "table" as const, columns }))
          : Effect.as(Effect.mapError(checkContainer(account, dataset.container), asSourceError), {
              kind: "files" as const
            }),
      readTable: (dataset, plan) =>
        dataset.kind !== "table"
          ? Stream.fail(
              new SourceError({
                store: context.store,
                message: `${shownDataset(dataset)} is a folder of files, not a table (kind: table)`
              })
            )
          : Stream.unwrap(
              Effect.map(openTable(dataset), ({ columns, table }) =>
                readFileTable(table, columns, plan as ReadPlan<CursorWatermark>)
              )
            ),
      files: {
        list: (dataset, range) =>
          Stream.unwrap(
            Effect.map(filesOf(dataset), (folder) =>
              Stream.mapError(listBlobs(account, folder, range, { settled: true }), asSourceError)
            )
          ),
        read: (dataset, file) =>
          Stream.unwrap(
            Effect.map(filesOf(dataset), (folder) =>
              Stream.mapError(readBlob(account, blobOf(folder, file.path), file), asSourceError)
            )
          ),
        stat: (dataset, path) =>
          Effect.flatMap(filesOf(dataset), (folder) => Effect.mapError(statBlob(account, folder, path), asSourceError)),
        locate: (dataset, file) =>
          Effect.gen(function* () {
            const folder = yield* filesOf(dataset)
            const place = blobOf(folder, file.path)
            const expires = Date.now() + SIGNED_URL_MS
            const signed = yield* Effect.mapError(account.signedUrl(place, new Date(expires)), asSourceError)
            const url = new URL(account.service.getContainerClient(place.container).getBlobClient(place.blob).url)
            url.search = ""
            return { kind: "url" as const, url: url.toString(), signed, expires, etag: file.etag, size: file.size }
          })
      }
    }
  })

export const azureBlobSource: SourceConnector<AzureBlobStoreConfig, AzureBlobDatasetConfig, AzureBlobWatermark> = {
  type: "azure_blob",
  description:
    "Azure Blob Storage: containers, folders and blobs shared as files (copied server-side into another blob store), or CSV, Parquet and JSON Lines blobs read as tables.",
  storeConfig: AzureBlobStoreConfig,
  datasetConfig: AzureBlobDatasetConfig,
  watermark: AzureBlobWatermark,
  open: openSession
}
