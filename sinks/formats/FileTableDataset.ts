/**
 * A table dataset of a file store (local, blob): the settings its config gives beside
 * where the table is (the format, the format's options, column types), and the table
 * opened from the store's files. Every file store serves its tables through this module
 * and FileTable.ts, so that they agree on formats, type inference and messages; a store
 * only says where the files are and how to read one.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { SourceError } from "../../core/Errors.js"
import type { Column, LogicalType } from "../../core/Types.js"
import { LogicalTypeFromString } from "../../core/Types.js"
import type { FileTable } from "./FileTable.js"
import { describeFileTable, formatOfPath } from "./FileTable.js"
import type { FileInput, FormatName, TableFormat } from "./Format.js"
import { FORMATS, formatNamed } from "./Formats.js"
import { CsvOptions, JsonlOptions, ParquetOptions } from "./Options.js"

const FORMAT_NAMES = ["csv", "parquet", "jsonl"] as const satisfies ReadonlyArray<FormatName>

/** The fields of a table's settings, for a store's dataset Schema to spread into its own. */
export const TableSettingsFields = {
  format: Schema.optional(
    Schema.Literal(...FORMAT_NAMES).annotations({
      description:
        "The table's file format; by default, the extension of the table's file, or of the files in its folder."
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
}

export type TableSettings = Schema.Struct.Type<typeof TableSettingsFields>

/** The settings' keys, which apply to table datasets only. */
export const TABLE_SETTING_KEYS = ["format", "csv", "parquet", "jsonl", "column_types"] as const

/** The first table setting given, for a store to refuse it on a dataset that is not a table. */
export const givenTableSetting = (settings: TableSettings): (typeof TABLE_SETTING_KEYS)[number] | undefined =>
  TABLE_SETTING_KEYS.find((key) => settings[key] !== undefined)

/** A problem of the settings at its key: options given for a format other than the one named. */
export const checkTableSettings = (
  settings: TableSettings
): { readonly path: ReadonlyArray<string>; readonly message: string } | undefined => {
  const chosen = settings.format
  for (const key of FORMAT_NAMES) {
    if (settings[key] !== undefined && chosen !== undefined && chosen !== key) {
      return { path: [key], message: `${key} options given, but the format is ${chosen}` }
    }
  }
  return undefined
}

/** Where a table's files are, as the store that holds them finds them. */
export interface TableFilesAt {
  readonly store: string
  /** The table as the config names it (a path, a prefix), for messages. */
  readonly table: string
  /**
   * For a table that is a folder, the names of the files in it (relative to it, with `/`);
   * `None` for a table that is one file. Asked again at each read, so that a read sees
   * the files there are then.
   */
  readonly folder: Effect.Effect<Option.Option<ReadonlyArray<string>>, SourceError>
  /** A file of the table: a name `folder` gave, or `undefined` for a table that is one file. */
  readonly input: (name: string | undefined) => Effect.Effect<FileInput, SourceError>
}

const matches = (format: TableFormat<unknown>) => (name: string) =>
  format.extensions.some((extension) => name.toLowerCase().endsWith(`.${extension}`))

/**
 * The table's format: as named, by its options' key, by the table's extension, or, for
 * a folder, by the extension its table files share.
 */
const resolveFormat = (
  at: TableFilesAt,
  settings: TableSettings
): Effect.Effect<{ format: TableFormat<unknown>; options: unknown }, SourceError> =>
  Effect.gen(function* () {
    const named = settings.format ?? FORMAT_NAMES.find((key) => settings[key] !== undefined)
    let format = named !== undefined ? formatNamed(named) : formatOfPath(at.table, FORMATS)
    if (format === undefined) {
      const names = Option.getOrElse(yield* at.folder, (): ReadonlyArray<string> => [])
      const found = [...new Set(names.map((name) => formatOfPath(name, FORMATS)))].filter((f) => f !== undefined)
      if (found.length > 1) {
        return yield* new SourceError({
          store: at.store,
          message: `${at.table} holds ${found
            .map((f) => f.name)
            .sort()
            .join(" and ")} files; add format: to say which make the table`
        })
      }
      format = found[0]
    }
    if (format === undefined) {
      return yield* new SourceError({
        store: at.store,
        message: `the format of ${at.table} is not known from its name or its files; add format: csv, parquet or jsonl`
      })
    }
    const chosen = format
    const options = yield* Effect.mapError(
      Schema.decodeUnknown(chosen.options)(settings[chosen.name] ?? {}),
      (error) => new SourceError({ store: at.store, message: `${chosen.name} options: ${error.message}` })
    )
    return { format: chosen, options }
  })

/** The table's files in name order: the folder's files in its format, or the one file. */
const tableInputs = (at: TableFilesAt, format: TableFormat<unknown>) =>
  Effect.flatMap(at.folder, (folder) =>
    Option.match(folder, {
      onNone: () => Effect.map(at.input(undefined), (input) => [input]),
      onSome: (names) => Effect.forEach([...names].filter(matches(format)).sort(), (name) => at.input(name))
    })
  )

/** The table at `at`, with the columns of its first file. */
export const openFileTable = (
  at: TableFilesAt,
  settings: TableSettings
): Effect.Effect<{ readonly table: FileTable<unknown>; readonly columns: ReadonlyArray<Column> }, SourceError> =>
  Effect.gen(function* () {
    const { format, options } = yield* resolveFormat(at, settings)
    const table: FileTable<unknown> = {
      store: at.store,
      table: at.table,
      format,
      options,
      declared: new Map<string, LogicalType>(Object.entries(settings.column_types ?? {})),
      files: tableInputs(at, format)
    }
    return { table, columns: yield* describeFileTable(table) }
  })
