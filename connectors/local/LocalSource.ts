/**
 * The local store as a source. A dataset is either a table (`table:` a CSV, Parquet
 * or JSON Lines file, or a folder of them) or a folder of files shared byte for byte
 * (`files:`), incremental by (last modified, path).
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { SourceError } from "../../core/Errors.js"
import type { ReadPlan, SourceConnector, SourceSession, StoreContext } from "../../core/Source.js"
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
import { localFileInput } from "../../sinks/formats/LocalFileInput.js"
import type { LocalFilesContext } from "./LocalFiles.js"
import { listFiles, readFile, resolveDatasetPath, statFile } from "./LocalFiles.js"
import { LocalStoreConfig, relativePosix, resolveRoot } from "./LocalStore.js"

const RelativePath = Schema.NonEmptyString

export const LocalDatasetConfig = Schema.Struct({
  table: Schema.optional(
    RelativePath.annotations({
      description: "A CSV, Parquet or JSON Lines file, or a folder of such files, relative to the store's root.",
      examples: ["customers.csv", "orders/"]
    })
  ),
  files: Schema.optional(
    RelativePath.annotations({
      description: "A folder whose files are shared byte for byte, relative to the store's root.",
      examples: ["documents/"]
    })
  ),
  ...TableSettingsFields
})
  .pipe(
    Schema.filter((dataset) => {
      if ((dataset.table === undefined) === (dataset.files === undefined)) {
        return {
          path: ["table"],
          message: "give exactly one of table (a table in files) or files (a folder shared as is)"
        }
      }
      if (dataset.files !== undefined) {
        const extra = givenTableSetting(dataset)
        if (extra !== undefined) return { path: [extra], message: `${extra} applies to table datasets, not to files` }
      }
      return checkTableSettings(dataset)
    })
  )
  .annotations({ identifier: "LocalDataset" })
export type LocalDatasetConfig = typeof LocalDatasetConfig.Type

export const LocalWatermark = Schema.Union(CursorWatermark, FileWatermark)
export type LocalWatermark = typeof LocalWatermark.Type

const allFiles = (context: LocalFilesContext, folder: string) =>
  Effect.map(
    Stream.runCollect(listFiles(context, folder, { after: Option.none(), until: Number.MAX_SAFE_INTEGER })),
    (entries) => [...entries].map((entry) => entry.path)
  )

/** The table's files as the local store finds them: a file, or the files of a folder under it. */
const tableFilesAt = (context: LocalFilesContext, table: string, location: string): TableFilesAt => ({
  store: context.store,
  table,
  folder: Effect.gen(function* () {
    const stats = yield* Effect.tryPromise({
      try: () => fs.stat(location),
      catch: () => new SourceError({ store: context.store, file: table, message: `${table} does not exist` })
    })
    return stats.isDirectory() ? Option.some(yield* allFiles(context, location)) : Option.none()
  }),
  input: (name) => {
    const file = name === undefined ? location : path.join(location, name)
    return Effect.map(localFileInput(file, { store: context.store }), (input) => ({
      ...input,
      name: relativePosix(context.root, file)
    }))
  }
})

const openSession = (
  config: LocalStoreConfig,
  context: StoreContext
): Effect.Effect<SourceSession<LocalDatasetConfig, LocalWatermark>, SourceError> =>
  Effect.gen(function* () {
    const root = resolveRoot(config, context.baseDir)
    const files: LocalFilesContext = { store: context.store, root }
    const stats = yield* Effect.tryPromise({
      try: () => fs.stat(root),
      catch: () => new SourceError({ store: context.store, message: `the root folder ${root} does not exist` })
    })
    if (!stats.isDirectory()) {
      return yield* new SourceError({ store: context.store, message: `the root ${root} is not a folder` })
    }

    const tables = new Map<string, { table: FileTable<unknown>; columns: ReadonlyArray<Column> }>()
    const openTable = (dataset: LocalDatasetConfig & { readonly table: string }) =>
      Effect.gen(function* () {
        const cached = tables.get(dataset.table)
        if (cached !== undefined) return cached
        const location = yield* resolveDatasetPath(files, dataset.table)
        const opened = yield* openFileTable(tableFilesAt(files, dataset.table, location), dataset)
        tables.set(dataset.table, opened)
        return opened
      })

    const folderOf = (dataset: LocalDatasetConfig) =>
      dataset.files === undefined
        ? Effect.fail(
            new SourceError({
              store: context.store,
              message: `${dataset.table} is a table dataset, not a folder of files`
            })
          )
        : resolveDatasetPath(files, dataset.files)

    return {
      describe: (dataset) =>
        dataset.table !== undefined
          ? Effect.map(openTable({ ...dataset, table: dataset.table }), ({ columns }) => ({
              kind: "table" as const,
              columns
            }))
          : Effect.as(folderOf(dataset), { kind: "files" as const }),
      readTable: (dataset, plan) =>
        dataset.table === undefined
          ? Stream.fail(
              new SourceError({ store: context.store, message: `${dataset.files} is a folder of files, not a table` })
            )
          : Stream.unwrap(
              Effect.map(openTable({ ...dataset, table: dataset.table }), ({ columns, table }) =>
                readFileTable(table, columns, plan as ReadPlan<CursorWatermark>)
              )
            ),
      files: {
        list: (dataset, range) =>
          Stream.unwrap(Effect.map(folderOf(dataset), (folder) => listFiles(files, folder, range))),
        read: (dataset, file) =>
          Stream.unwrap(
            Effect.map(folderOf(dataset), (folder) =>
              readFile(files, path.join(folder, file.path), `${dataset.files}/${file.path}`.replace(/\/+/g, "/"))
            )
          ),
        stat: (dataset, file) => Effect.flatMap(folderOf(dataset), (folder) => statFile(files, folder, file)),
        locate: (dataset, file) =>
          Effect.map(folderOf(dataset), (folder) => ({ kind: "local" as const, path: path.join(folder, file.path) }))
      }
    }
  })

export const localSource: SourceConnector<LocalStoreConfig, LocalDatasetConfig, LocalWatermark> = {
  type: "local",
  description: "A folder on this machine: tables in CSV, Parquet or JSON Lines files, and folders of files.",
  storeConfig: LocalStoreConfig,
  datasetConfig: LocalDatasetConfig,
  watermark: LocalWatermark,
  open: openSession
}
