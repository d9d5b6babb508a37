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
import { LogicalTypeFromString } from "../../core/Types.js"
import { CursorWatermark, FileWatermark } from "../../core/Watermark.js"
import type { FileTable } from "../../sinks/formats/FileTable.js"
import { describeFileTable, formatOfPath, readFileTable } from "../../sinks/formats/FileTable.js"
import type { FileInput, TableFormat } from "../../sinks/formats/Format.js"
import { FORMATS, formatNamed } from "../../sinks/formats/Formats.js"
import { localFileInput } from "../../sinks/formats/LocalFileInput.js"
import { CsvOptions, JsonlOptions, ParquetOptions } from "../../sinks/formats/Options.js"
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
  format: Schema.optional(
    Schema.Literal("csv", "parquet", "jsonl").annotations({
      description: "The table's file format; by default, the extension of `table` says."
    })
  ),
  csv: Schema.optional(CsvOptions),
  parquet: Schema.optional(ParquetOptions),
  jsonl: Schema.optional(JsonlOptions),
  column_types: Schema.optional(
    Schema.Record({ key: Schema.String, value: LogicalTypeFromString }).annotations({
      description:
        "Types of columns that a CSV or JSON Lines file does not carry itself, such as { amount: decimal(12,2) }; the other columns' types are inferred."
    })
  )
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
        const extra = (["format", "csv", "parquet", "jsonl", "column_types"] as const).find(
          (key) => dataset[key] !== undefined
        )
        if (extra !== undefined) return { path: [extra], message: `${extra} applies to table datasets, not to files` }
      }
      const chosen = dataset.format
      for (const key of ["csv", "parquet", "jsonl"] as const) {
        if (dataset[key] !== undefined && chosen !== undefined && chosen !== key) {
          return { path: [key], message: `${key} options given, but the format is ${chosen}` }
        }
      }
      return undefined
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

/** The formats of the table files in a folder (none when `location` is not a folder). */
const formatsInFolder = (context: LocalFilesContext, location: string) =>
  Effect.gen(function* () {
    const isFolder = yield* Effect.promise(() =>
      fs.stat(location).then(
        (stats) => stats.isDirectory(),
        () => false
      )
    )
    if (!isFolder) return []
    const formats = new Set((yield* allFiles(context, location)).map((file) => formatOfPath(file, FORMATS)))
    return [...formats].filter((format) => format !== undefined)
  })

/**
 * The table's format: as named, by its options' key, by the file's extension, or, for a
 * folder, by the extension its table files share.
 */
const resolveFormat = (
  context: LocalFilesContext,
  dataset: LocalDatasetConfig & { readonly table: string },
  location: string
): Effect.Effect<{ format: TableFormat<unknown>; options: unknown }, SourceError> =>
  Effect.gen(function* () {
    const named = dataset.format ?? (["csv", "parquet", "jsonl"] as const).find((key) => dataset[key] !== undefined)
    let format = named !== undefined ? formatNamed(named) : formatOfPath(dataset.table, FORMATS)
    if (format === undefined) {
      const found = yield* formatsInFolder(context, location)
      if (found.length > 1) {
        return yield* new SourceError({
          store: context.store,
          message: `${dataset.table} holds ${found
            .map((f) => f.name)
            .sort()
            .join(" and ")} files; add format: to say which make the table`
        })
      }
      format = found[0]
    }
    if (format === undefined) {
      return yield* new SourceError({
        store: context.store,
        message: `the format of ${dataset.table} is not known from its name or its files; add format: csv, parquet or jsonl`
      })
    }
    const chosen = format
    const options = yield* Effect.mapError(
      Schema.decodeUnknown(chosen.options)(dataset[chosen.name] ?? {}),
      (error) => new SourceError({ store: context.store, message: `${chosen.name} options: ${error.message}` })
    )
    return { format: chosen, options }
  })

const tableFiles = (
  context: LocalFilesContext,
  location: string,
  table: string,
  format: TableFormat<unknown>
): Effect.Effect<ReadonlyArray<FileInput>, SourceError> =>
  Effect.gen(function* () {
    const stats = yield* Effect.tryPromise({
      try: () => fs.stat(location),
      catch: () => new SourceError({ store: context.store, file: table, message: `${table} does not exist` })
    })
    const paths = stats.isDirectory()
      ? (yield* allFiles(context, location))
          .filter((file) => format.extensions.some((extension) => file.toLowerCase().endsWith(`.${extension}`)))
          .sort()
          .map((file) => path.join(location, file))
      : [location]
    return yield* Effect.forEach(paths, (file) =>
      Effect.map(localFileInput(file, { store: context.store }), (input) => ({
        ...input,
        name: relativePosix(context.root, file)
      }))
    )
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
        const { format, options } = yield* resolveFormat(files, dataset, location)
        const table: FileTable<unknown> = {
          store: context.store,
          table: dataset.table,
          format,
          options,
          declared: new Map(Object.entries(dataset.column_types ?? {})),
          files: tableFiles(files, location, dataset.table, format)
        }
        const opened = { table, columns: yield* describeFileTable(table) }
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
