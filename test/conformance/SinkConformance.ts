/**
 * The suite every sink passes. A plugin's test file calls `sinkConformance(name,
 * setup)`; `setup` gives a fresh store, a target config for a name, what a consumer of
 * a target sees (to tell whether anything was published), and, where the store can
 * read what it wrote, the rows a target holds. The suite writes through the transfer
 * core as the run path does: into a table writer, or encoded into a file writer.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Batch } from "../../core/Batch.js"
import { ALL_KEYS } from "../../core/Reconcile.js"
import type { Delivery, FileWriter, SinkConnector, SinkSession, TableWriter, WriteMode } from "../../core/Sink.js"
import type { EncodedTable, Page, StoreContext } from "../../core/Source.js"
import type { ProgressReporter } from "../../core/Transfer.js"
import { transferEncodedToFile, transferToFile, transferToTable } from "../../core/Transfer.js"
import type { Column, LogicalType } from "../../core/Types.js"
import type { TableFormat } from "../../sinks/formats/Format.js"
import { cursorColumns, cursorRow } from "./SourceConformance.js"
import type { Row } from "./Tables.js"
import { allTypeColumns, allTypeRows, batchOf, collect, rowsOf, sortedText } from "./Tables.js"

export interface SinkStore<C> {
  readonly config: C
  readonly context: StoreContext
}

export interface SinkConformanceSetup<C, T> {
  readonly connector: SinkConnector<C, T>
  /** A fresh store for one test. */
  readonly store: Effect.Effect<SinkStore<C>, unknown, Scope.Scope>
  /** The target config of a new target; `name` is unique within the store. */
  readonly target: (store: SinkStore<C>, name: string) => T
  /** For a store that receives tables as files: the format they are encoded in, with its options. */
  readonly format?: { readonly format: TableFormat<unknown>; readonly options: unknown }
  /**
   * What a consumer of the target sees now, as any value `toEqual` can compare: it must
   * change when, and only when, something is published.
   */
  readonly published: (store: SinkStore<C>, target: T) => Effect.Effect<unknown, unknown>
  /** The rows the target holds, read back in `columns`, where the store can read what it wrote. */
  readonly readBack?: (
    store: SinkStore<C>,
    target: T,
    columns: ReadonlyArray<Column>
  ) => Effect.Effect<ReadonlyArray<Row>, unknown, Scope.Scope>
  /** The logical types the store carries exactly; every type when absent. */
  readonly carries?: (type: LogicalType) => boolean
}

type Writer = TableWriter | FileWriter

const noProgress: ProgressReporter = () => Effect.void

let parts = 0

/** Opens a writer of the target the way the run path does for this kind of sink. */
const openWriter = <C, T>(
  setup: SinkConformanceSetup<C, T>,
  session: SinkSession<T>,
  target: T,
  columns: ReadonlyArray<Column>,
  runId: string,
  mode: WriteMode
) =>
  Effect.gen(function* () {
    const options = { runId, dataset: "conformance", mode, key: ["id"] }
    if (session.tables !== undefined) {
      const writer = yield* session.tables.open(target, columns, options)
      const write = (batches: Stream.Stream<Batch>, report = noProgress) =>
        transferToTable({ pages: asPages(batches), transform: Either.right, writer, report })
      return { writer: writer as Writer, write }
    }
    if (session.files === undefined || setup.format === undefined) {
      return yield* Effect.die(new Error("the sink has neither tables nor files with a format to encode them in"))
    }
    const { format, options: formatOptions } = setup.format
    const writer = yield* session.files.open(target, options)
    const write = (batches: Stream.Stream<Batch>, report = noProgress) =>
      transferToFile({
        pages: asPages(batches),
        transform: Either.right,
        columns,
        encode: (cols, stream) => format.encode(cols, stream, formatOptions),
        writer,
        path: `part-${++parts}-${runId}.${format.extensions[0]!}`,
        writeEmpty: true,
        report
      })
    return { writer: writer as Writer, write }
  })

const asPages = (batches: Stream.Stream<Batch>): Stream.Stream<Page<never>> =>
  Stream.map(batches, (batch) => ({ batch, watermark: Option.none() }))

export const sinkConformance = <C, T>(name: string, setup: SinkConformanceSetup<C, T>): void => {
  const rowsA = Array.from({ length: 120 }, (_, i) => cursorRow(i + 1, i))
  const rowsB = Array.from({ length: 30 }, (_, i) => cursorRow(i + 1001, i))
  const rowsC = Array.from({ length: 5 }, (_, i) => cursorRow(i + 2001, i))
  const batches = (rows: ReadonlyArray<Row>, size = 50) =>
    Stream.fromIterable(
      Array.from({ length: Math.ceil(rows.length / size) }, (_, i) =>
        batchOf(cursorColumns, rows.slice(i * size, (i + 1) * size))
      )
    )
  let targets = 0

  const prepare = Effect.gen(function* () {
    const store = yield* setup.store
    const session = yield* setup.connector.open(store.config, store.context)
    const target = setup.target(store, `conformance-${++targets}`)
    const published = setup.published(store, target)
    const deliver = (runId: string, mode: WriteMode, rows: ReadonlyArray<Row>, columns = cursorColumns) =>
      Effect.scoped(
        Effect.gen(function* () {
          const { write, writer } = yield* openWriter(setup, session, target, columns, runId, mode)
          const transferred = yield* write(
            Stream.fromIterable([batchOf(columns, rows.slice(0, 50)), batchOf(columns, rows.slice(50))])
          )
          return yield* writer.commit({ runId, watermark: { run: runId }, rows: transferred.rows })
        })
      )
    const readBack = (columns = cursorColumns) =>
      setup.readBack === undefined
        ? Effect.succeed(undefined)
        : Effect.map(setup.readBack(store, target, columns), (rows) => sortedText(columns, rows))
    return { store, session, target, published, deliver, readBack }
  })

  describe(`sink conformance: ${name}`, () => {
    it.scopedLive("publishes nothing before commit, and everything at commit", () =>
      Effect.gen(function* () {
        const { deliver, published, readBack, session, target } = yield* prepare
        yield* deliver("run-0", "append", rowsC)
        const before = yield* published
        const delivery = yield* Effect.scoped(
          Effect.gen(function* () {
            const { write, writer } = yield* openWriter(setup, session, target, cursorColumns, "run-1", "append")
            const transferred = yield* write(batches(rowsA))
            expect(transferred.rows).toBe(rowsA.length)
            expect(yield* published).toEqual(before)
            expect(yield* session.isCommitted(target, "run-1")).toBe(false)
            return yield* writer.commit({ runId: "run-1", watermark: { cursor: "x" }, rows: transferred.rows })
          })
        )
        expect(delivery).toMatchObject({ alreadyCommitted: false })
        expect(yield* published).not.toEqual(before)
        expect(yield* session.isCommitted(target, "run-1")).toBe(true)
        expect(yield* session.isCommitted(target, "run-never")).toBe(false)
        const back = yield* readBack()
        if (back !== undefined) expect(back).toEqual(sortedText(cursorColumns, [...rowsC, ...rowsA]))
      })
    )

    it.scopedLive.skipIf(setup.readBack === undefined || setup.format === undefined)(
      "a file writer that releases chunks holds none it has pulled past: rows given back and written over arrive whole",
      (context) =>
        Effect.gen(function* () {
          const { session, target, readBack } = yield* prepare
          const { format, options: formatOptions } = setup.format!
          const options = { runId: "run-1", dataset: "conformance", mode: "replace" as const, key: ["id"] }
          const writer = yield* session.files!.open(target, options)
          if (writer.releasesChunks !== true) return context.skip()
          // The rows encoded, in pieces of 100 bytes, each written over as soon as it is given back.
          const bytes = Buffer.concat(yield* collect(format.encode(cursorColumns, batches(rowsA, 10), formatOptions)))
          const pieces = Array.from({ length: Math.ceil(bytes.length / 100) }, (_, i) =>
            Uint8Array.from(bytes.subarray(i * 100, (i + 1) * 100))
          )
          let givenBack = 0
          const table: EncodedTable<never> = {
            parts: [Stream.fromIterable(pieces)],
            rows: () => rowsA.length,
            watermark: Option.none(),
            recycle: (chunk) => {
              givenBack++
              chunk.fill(0x3f)
            }
          }
          yield* transferEncodedToFile({
            encoded: table,
            header: [],
            writer,
            path: () => `part-released.${format.extensions[0]!}`,
            writeEmpty: true,
            report: noProgress
          })
          yield* writer.commit({ runId: "run-1", watermark: { run: "run-1" }, rows: rowsA.length })
          expect(givenBack).toBeGreaterThan(pieces.length / 2)
          expect(yield* readBack()).toEqual(sortedText(cursorColumns, rowsA))
        })
    )

    it.scopedLive("commits a run id once: a second commit of it changes nothing", () =>
      Effect.gen(function* () {
        const { deliver, published, readBack } = yield* prepare
        const first = yield* deliver("run-1", "append", rowsA)
        expect(first.alreadyCommitted).toBe(false)
        const after = yield* published
        const again: Delivery = yield* deliver("run-1", "replace", rowsB)
        expect(again.alreadyCommitted).toBe(true)
        expect(yield* published).toEqual(after)
        const back = yield* readBack()
        if (back !== undefined) expect(back).toEqual(sortedText(cursorColumns, rowsA))
      })
    )

    it.scopedLive(
      "leaves nothing visible when a writer is interrupted mid-stream or aborted; a later commit works",
      () =>
        Effect.gen(function* () {
          const { deliver, published, readBack, session, target } = yield* prepare
          yield* deliver("run-0", "append", rowsC)
          const before = yield* published

          // A stream that delivers a batch, then waits forever: interrupted once the writer
          // has taken the batch and asks for the next.
          const scope = yield* Scope.make()
          const { write } = yield* Scope.extend(
            openWriter(setup, session, target, cursorColumns, "run-1", "append"),
            scope
          )
          const taken = yield* Deferred.make<void>()
          const endless = Stream.concat(
            batches(rowsA.slice(0, 50)),
            Stream.unwrap(Effect.as(Deferred.succeed(taken, undefined), Stream.never))
          )
          const fiber = yield* Effect.fork(write(endless))
          yield* Deferred.await(taken)
          yield* Fiber.interrupt(fiber)
          yield* Scope.close(scope, Exit.void)
          expect(yield* published).toEqual(before)
          expect(yield* session.isCommitted(target, "run-1")).toBe(false)

          yield* Effect.scoped(
            Effect.gen(function* () {
              const { write: writeAborted, writer } = yield* openWriter(
                setup,
                session,
                target,
                cursorColumns,
                "run-2",
                "append"
              )
              yield* writeAborted(batches(rowsB))
              yield* writer.abort
            })
          )
          expect(yield* published).toEqual(before)

          yield* deliver("run-3", "append", rowsB)
          expect(yield* published).not.toEqual(before)
          const back = yield* readBack()
          if (back !== undefined) expect(back).toEqual(sortedText(cursorColumns, [...rowsC, ...rowsB]))
        })
    )

    it.scopedLive.skipIf(setup.readBack === undefined)("replace keeps only the new run's rows; append adds them", () =>
      Effect.gen(function* () {
        const { deliver, readBack } = yield* prepare
        yield* deliver("run-1", "replace", rowsA)
        yield* deliver("run-2", "append", rowsB)
        expect(yield* readBack()).toEqual(sortedText(cursorColumns, [...rowsA, ...rowsB]))
        yield* deliver("run-3", "replace", rowsC)
        expect(yield* readBack()).toEqual(sortedText(cursorColumns, rowsC))
      })
    )

    it.scopedLive.skipIf(setup.connector.capabilities?.deletes !== true)(
      "lists the target's keys, and deletes staged keys in the commit of the merge: nothing before, both at once",
      () =>
        Effect.gen(function* () {
          const { deliver, published, readBack, session, target } = yield* prepare
          yield* deliver("run-1", "merge", rowsA)
          const before = yield* published
          const idOnly = cursorColumns.slice(0, 1)
          const delivery = yield* Effect.scoped(
            Effect.gen(function* () {
              const { write, writer } = yield* openWriter(setup, session, target, cursorColumns, "run-2", "merge")
              const deletes = (writer as TableWriter).deletes
              expect(deletes, "a sink that declares deletes gives them to a merge's writer").toBeDefined()
              yield* write(batches(rowsB))
              const keys = yield* deletes!.keys
              expect(keys.columns.map((c) => [c.name, c.type])).toEqual(idOnly.map((c) => [c.name, c.type]))
              // The target as it is before this commit, in key order: run-1's rows.
              const listed = rowsOf(keys.columns, [...(yield* collect(keys.keys(ALL_KEYS)))])
              expect(listed).toEqual(rowsA.map((row) => [row[0]]).sort((a, b) => Number(a[0]) - Number(b[0])))
              const middle = rowsOf(keys.columns, [...(yield* collect(keys.keys({ lower: [10n], upper: [13n] })))])
              expect(middle).toEqual([[10n], [11n], [12n]])
              if (keys.digests !== undefined) {
                const digests = yield* keys.digests.digest([
                  ALL_KEYS,
                  { lower: [10n], upper: [13n] },
                  { lower: [500n] }
                ])
                expect(digests.map((digest) => digest.count)).toEqual([rowsA.length, 3, 0])
              }
              // Key 1001 is also among the rows written: a row the source still has is never deleted.
              const staged = yield* deletes!.stage(Stream.make(batchOf(idOnly, [[5n], [77n], [6n], [1001n]])))
              expect(staged).toBe(4)
              expect(yield* published).toEqual(before)
              return yield* writer.commit({ runId: "run-2", watermark: { run: "run-2" }, rows: rowsB.length })
            })
          )
          expect(delivery).toMatchObject({ alreadyCommitted: false, deleted: 3 })
          const gone = new Set([5n, 6n, 77n])
          const back = yield* readBack()
          if (back !== undefined) {
            expect(back).toEqual(
              sortedText(cursorColumns, [...rowsA.filter((row) => !gone.has(row[0] as bigint)), ...rowsB])
            )
          }
        })
    )

    it.scopedLive.skipIf(setup.readBack === undefined)("carries every logical type through the sink and back", () =>
      Effect.gen(function* () {
        const { deliver, readBack } = yield* prepare
        const kept = allTypeColumns.flatMap((c, i) => ((setup.carries?.(c.type) ?? true) ? [i] : []))
        const columns = kept.map((i) => allTypeColumns[i]!)
        const rows = allTypeRows().map((row) => kept.map((i) => row[i]!))
        yield* deliver("run-1", "replace", rows, columns)
        expect(yield* readBack(columns)).toEqual(sortedText(columns, rows))
      })
    )
  })
}
