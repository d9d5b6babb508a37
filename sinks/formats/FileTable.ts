/**
 * A table kept as files: one CSV, Parquet or JSON Lines file, or a folder of them.
 * File stores (local, blob) serve their table datasets through this module, which
 * honours a read plan the store cannot push down anywhere: it projects columns,
 * filters rows, and for incremental reads keeps the rows after the watermark's
 * (cursor, key) tuple while tracking the new one.
 */
import * as Arrow from "apache-arrow"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { Batch } from "../../core/Batch.js"
import { emptyBatch } from "../../core/Batch.js"
import type { Cursor, CursorPosition } from "../../core/Cursor.js"
import { makeCursor } from "../../core/Cursor.js"
import type { FormatError } from "../../core/Errors.js"
import { formatToSourceError, SourceError } from "../../core/Errors.js"
import type { RowFilter } from "../../core/Filter.js"
import { compileFilter, filterColumns } from "../../core/Filter.js"
import { makeBatch, projectColumns, takeRows } from "../../core/Rows.js"
import type { Page, ReadPlan } from "../../core/Source.js"
import type { Column, LogicalType } from "../../core/Types.js"
import type { CursorWatermark } from "../../core/Watermark.js"
import type { FileInput, TableFormat } from "./Format.js"

export interface FileTable<O> {
  /** The store's name and the table's path, for messages. */
  readonly store: string
  readonly table: string
  readonly format: TableFormat<O>
  readonly options: O
  /** Column types fixed by the config, for formats that infer them (CSV, JSON Lines). */
  readonly declared: ReadonlyMap<string, LogicalType>
  /** The table's files in path order; an empty table has none. */
  readonly files: Effect.Effect<ReadonlyArray<FileInput>, SourceError>
}

const asSourceError = (table: FileTable<unknown>) => (error: FormatError | SourceError) =>
  error._tag === "FormatError" ? formatToSourceError(table.store, table.table, error) : error

const planError = (table: FileTable<unknown>, dataset: string, message: string) =>
  new SourceError({ store: table.store, dataset, message: `${table.table}: ${message}` })

/** The table's columns, from its first file (the other files must have the same). */
export const describeFileTable = <O>(table: FileTable<O>): Effect.Effect<ReadonlyArray<Column>, SourceError> =>
  Effect.gen(function* () {
    const files = yield* table.files
    const first = files[0]
    if (first === undefined) {
      return yield* new SourceError({
        store: table.store,
        message: `${table.table} holds no ${table.format.name} file, so its columns are unknown`
      })
    }
    return yield* table.format.inspect(first, table.options, table.declared)
  }).pipe(Effect.mapError(asSourceError(table as FileTable<unknown>)))

interface Selection {
  readonly filter: RowFilter | undefined
  readonly cursor: Cursor | undefined
  /** Rows after this position are delivered; `None` delivers every row. */
  readonly since: Option.Option<CursorPosition>
  readonly incremental: boolean
}

const prepare = (
  table: FileTable<unknown>,
  plan: ReadPlan<CursorWatermark>,
  decoded: ReadonlyArray<Column>
): Either.Either<Selection, SourceError> =>
  Either.gen(function* () {
    const fail = (message: string) => planError(table, plan.dataset, message)
    const filter = Option.isSome(plan.filter)
      ? yield* Either.mapLeft(compileFilter(plan.filter.value, decoded), (message) => fail(`filter: ${message}`))
      : undefined
    const cursor = Option.isSome(plan.incremental)
      ? yield* Either.mapLeft(makeCursor(plan.incremental.value, decoded), fail)
      : undefined
    const incremental = plan.mode === "incremental" && cursor !== undefined
    const since =
      incremental && Option.isSome(plan.after)
        ? Option.some(yield* Either.mapLeft(cursor.decode(plan.after.value), fail))
        : Option.none<CursorPosition>()
    return { filter, cursor, since, incremental }
  })

const keep = (batch: Batch, columns: ReadonlyArray<Column>, indices: Int32Array): Batch =>
  indices.length === batch.numRows ? batch : takeRows(batch, columns, indices)

/**
 * The rows of the table the plan asks for, in the columns it asks for, file after
 * file. With an incremental spec, the last page (an empty batch) carries the
 * watermark: files are not ordered by cursor, so only the whole pass makes it safe.
 */
export const readFileTable = <O>(
  table: FileTable<O>,
  columns: ReadonlyArray<Column>,
  plan: ReadPlan<CursorWatermark>
): Stream.Stream<Page<CursorWatermark>, SourceError> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const wanted = Option.getOrElse(plan.columns, () => columns.map((column) => column.name))
      const needed = new Set([
        ...wanted,
        ...Option.match(plan.filter, { onNone: () => [], onSome: filterColumns }),
        ...Option.match(plan.incremental, { onNone: () => [], onSome: (spec) => [spec.cursor, ...spec.key] })
      ])
      // Decode the needed columns in the table's own order; project to the wanted order last.
      const decoded = columns.filter((column) => needed.has(column.name))
      const unknown = [...needed].filter((name) => !columns.some((column) => column.name === name))
      if (unknown.length > 0) {
        return yield* planError(
          table as FileTable<unknown>,
          plan.dataset,
          `no column ${unknown.join(", ")}; the columns are ${columns.map((column) => column.name).join(", ")}`
        )
      }
      const output = yield* Either.mapLeft(projectColumns(decoded, wanted), (message) =>
        planError(table as FileTable<unknown>, plan.dataset, message)
      )
      const outputColumns = output.map((index) => decoded[index]!)
      const selection = yield* prepare(table as FileTable<unknown>, plan, decoded)
      const files = yield* table.files

      const project = (batch: Batch): Batch =>
        makeBatch(
          new Arrow.Schema(output.map((index) => batch.schema.fields[index]!)),
          batch.numRows,
          output.map((index) => batch.data.children[index]!)
        )
      const select = (batch: Batch): Batch => {
        let rows = batch
        if (selection.filter !== undefined) rows = keep(rows, decoded, selection.filter.select(rows))
        if (selection.cursor !== undefined) {
          if (selection.incremental) rows = keep(rows, decoded, selection.cursor.after(rows, selection.since))
          selection.cursor.track(rows)
        }
        return project(rows)
      }

      const pages = Stream.fromIterable(files).pipe(
        Stream.flatMap((file) => table.format.decode(file, decoded, table.options), { concurrency: 1 }),
        Stream.mapError(asSourceError(table as FileTable<unknown>)),
        Stream.map((batch): Page<CursorWatermark> => ({ batch: select(batch), watermark: Option.none() }))
      )
      const cursor = selection.cursor
      if (cursor === undefined) return pages
      return Stream.concat(
        pages,
        Stream.sync((): Page<CursorWatermark> => ({ batch: emptyBatch(outputColumns), watermark: cursor.watermark() }))
      )
    })
  )

/** The format of a table path from its extension, or `undefined` when it has none of theirs. */
export const formatOfPath = <F extends TableFormat<unknown>>(
  path: string,
  formats: ReadonlyArray<F>
): F | undefined => {
  const extension = /\.([A-Za-z0-9]+)$/.exec(path)?.[1]?.toLowerCase()
  return extension === undefined ? undefined : formats.find((format) => format.extensions.includes(extension))
}
