/**
 * The suite every source connector passes. A plugin's test file calls
 * `sourceConformance(name, setup)`; `setup` says how to make a fresh store holding a
 * table with given rows (and, for file stores, a folder of given files). The suite
 * then reads through the connector exactly as the run path does: describe, full and
 * incremental reads with watermarks stored as JSON between runs, interrupted reads.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { parseFilter } from "../../core/Filter.js"
import type { IncrementalSpec, ReadPlan, SourceConnector, SourceSession, StoreContext } from "../../core/Source.js"
import type { Column, LogicalType } from "../../core/Types.js"
import { typeName } from "../../core/Types.js"
import type { Row } from "./Tables.js"
import { allTypeColumns, allTypeRows, collect, column, rowsOf, sortedText } from "./Tables.js"
import { readPlan } from "../support/plans.js"

export interface TableSpec {
  readonly columns: ReadonlyArray<Column>
  readonly rows: ReadonlyArray<Row>
  /**
   * Rows per page the suite would like, so that a read spans several pages; a store
   * honours it where a dataset can choose (a batch size, a file per page), or ignores it.
   */
  readonly pageRows: number
}

export interface SourceFixture<C, D> {
  readonly config: C
  readonly context: StoreContext
  readonly dataset: D
  /**
   * For a store whose service sets modification times itself (blob storage): the time
   * each file got, by path. Such a fixture writes the files in the order of their
   * `lastModified`, those sharing one in the same second and the others in later seconds,
   * and returns once the service's clock is past the last of them.
   */
  readonly modified?: ReadonlyMap<string, number>
}

export interface FileSpec {
  /** Relative to the dataset's folder, with `/`. */
  readonly path: string
  readonly content: Uint8Array
  /** Milliseconds since the epoch. */
  readonly lastModified: number
}

export interface SourceConformanceSetup<C, D, W> {
  readonly connector: SourceConnector<C, D, W>
  /** A fresh store holding one table dataset with these columns and rows, in this order. */
  readonly table: (spec: TableSpec) => Effect.Effect<SourceFixture<C, D>, unknown, Scope.Scope>
  /** The logical types the store carries exactly; every type when absent. */
  readonly carries?: (type: LogicalType) => boolean
  /** For stores of files: a fresh store holding one folder dataset with these files. */
  readonly files?: (files: ReadonlyArray<FileSpec>) => Effect.Effect<SourceFixture<C, D>, unknown, Scope.Scope>
}

const BASE_MICROS = 1_767_225_600_000_000n // 2026-01-01T00:00:00Z

/** The table every read test uses: a key, a cursor shared by runs of rows, a group and an amount. */
export const cursorColumns: ReadonlyArray<Column> = [
  column("id", { kind: "int64" }, false),
  column("at", { kind: "timestamp", unit: "us", timeZone: "UTC" }),
  column("grp", { kind: "utf8" }),
  column("amount", { kind: "decimal", precision: 12, scale: 2 })
]

/** Row `id`, whose cursor is `second` seconds after the base instant. */
export const cursorRow = (id: number, second: number): Row => [
  BigInt(id),
  BASE_MICROS + BigInt(second) * 1_000_000n,
  `g${id % 3}`,
  BigInt(id * 7)
]

/** Rows 1..count, `perCursor` rows to a cursor value, in a shuffled order. */
const cursorRows = (count: number, perCursor: number): Array<Row> => {
  const ids = Array.from({ length: count }, (_, i) => ((i * 37) % count) + 1)
  return ids.map((id) => cursorRow(id, Math.floor(id / perCursor)))
}

const INCREMENTAL: IncrementalSpec = { cursor: "at", key: ["id"], lookback: Option.none() }

const plan = <W>(overrides: Partial<ReadPlan<W>>): ReadPlan<W> => readPlan("conformance", overrides)

const open = <C, D, W>(setup: SourceConformanceSetup<C, D, W>, fixture: SourceFixture<C, D>) =>
  setup.connector.open(fixture.config, fixture.context)

interface Read<W> {
  readonly rows: ReadonlyArray<Row>
  /** The watermark to store: the last one read, or `None`. */
  readonly watermark: Option.Option<W>
}

/** A watermark as the state store keeps it: encoded by the source's Schema, as JSON text, and back. */
const throughStorage = <C, D, W>(setup: SourceConformanceSetup<C, D, W>, watermark: W): W => {
  const stored = JSON.stringify(Schema.encodeUnknownSync(setup.connector.watermark)(watermark))
  return Schema.decodeUnknownSync(setup.connector.watermark)(JSON.parse(stored))
}

/**
 * An incremental read after `after`. With `stopAtMiddle`, the reader commits at the
 * middle page that carries a watermark and stops there, as a run interrupted after a
 * partial commit would; the rows of the pages up to it are the ones delivered.
 */
const readIncremental = <D, W>(
  session: SourceSession<D, W>,
  dataset: D,
  columns: ReadonlyArray<Column>,
  after: Option.Option<W>,
  stopAtMiddle = false
): Effect.Effect<Read<W>, unknown> =>
  Effect.gen(function* () {
    const pages = yield* collect(
      session.readTable!(dataset, plan<W>({ mode: "incremental", after, incremental: Option.some(INCREMENTAL) }))
    )
    const marked = pages.flatMap((page, index) => (Option.isSome(page.watermark) ? [index] : []))
    const last = stopAtMiddle && marked.length > 1 ? marked[Math.floor((marked.length - 1) / 2)]! : pages.length - 1
    const delivered = pages.slice(0, last + 1)
    const watermark = delivered.reduce<Option.Option<W>>(
      (current, page) => (Option.isSome(page.watermark) ? page.watermark : current),
      Option.none()
    )
    return {
      rows: rowsOf(
        columns,
        delivered.map((page) => page.batch)
      ),
      watermark
    }
  })

const describeTable = <D, W>(session: SourceSession<D, W>, dataset: D) =>
  Effect.flatMap(session.describe(dataset), (description) =>
    description.kind === "table"
      ? Effect.succeed(description.columns)
      : Effect.die(new Error("the fixture's table dataset was described as a folder of files"))
  )

const typesOf = (columns: ReadonlyArray<Column>) => columns.map((c) => `${c.name}: ${typeName(c.type)}`)

export const sourceConformance = <C, D, W>(name: string, setup: SourceConformanceSetup<C, D, W>): void => {
  describe(`source conformance: ${name}`, () => {
    it.scopedLive("describes the table and reads it whole, with columns and a filter applied", () =>
      Effect.gen(function* () {
        const rows = cursorRows(250, 100)
        const fixture = yield* setup.table({ columns: cursorColumns, rows, pageRows: 40 })
        const session = yield* open(setup, fixture)
        expect(session.readTable, "a table store must read tables").toBeDefined()
        const columns = yield* describeTable(session, fixture.dataset)
        expect(typesOf(columns)).toEqual(typesOf(cursorColumns))

        const pages = yield* collect(session.readTable!(fixture.dataset, plan<W>({})))
        const all = rowsOf(
          columns,
          pages.map((page) => page.batch)
        )
        expect(sortedText(cursorColumns, all)).toEqual(sortedText(cursorColumns, rows))

        const filter = Either.getOrThrow(parseFilter("grp = 'g1' and amount >= 700"))
        const selected = yield* collect(
          session.readTable!(
            fixture.dataset,
            plan<W>({ columns: Option.some(["amount", "id"]), filter: Option.some(filter) })
          )
        )
        const projected = [cursorColumns[3]!, cursorColumns[0]!]
        for (const page of selected) expect(page.batch.schema.fields.map((f) => f.name)).toEqual(["amount", "id"])
        const expected = rows
          .filter((row) => row[2] === "g1" && (row[3] as bigint) >= 70_000n)
          .map((row) => [row[3]!, row[0]!])
        expect(
          sortedText(
            projected,
            rowsOf(
              projected,
              selected.map((page) => page.batch)
            )
          )
        ).toEqual(sortedText(projected, expected))
      })
    )

    it.scopedLive("resumes incremental reads without gaps or duplicates, across pages sharing a cursor value", () =>
      Effect.gen(function* () {
        const first = cursorRows(300, 100)
        const fixture = yield* setup.table({ columns: cursorColumns, rows: first, pageRows: 40 })
        const session = yield* open(setup, fixture)
        // A run commits part way and stops; the next one resumes from the stored watermark.
        const interrupted = yield* readIncremental(session, fixture.dataset, cursorColumns, Option.none(), true)
        expect(Option.isSome(interrupted.watermark), "an incremental read must give a watermark").toBe(true)
        const resumed = yield* readIncremental(
          session,
          fixture.dataset,
          cursorColumns,
          Option.map(interrupted.watermark, (w) => throughStorage(setup, w))
        )
        expect(sortedText(cursorColumns, [...interrupted.rows, ...resumed.rows])).toEqual(
          sortedText(cursorColumns, first)
        )
        const watermark = Option.orElse(resumed.watermark, () => interrupted.watermark)

        // Later rows: more of the last cursor value (greater keys), then a later cursor value.
        const added = [
          ...Array.from({ length: 60 }, (_, i) => cursorRow(301 + i, 3)),
          ...Array.from({ length: 30 }, (_, i) => cursorRow(361 + i, 4))
        ]
        const grown = yield* setup.table({ columns: cursorColumns, rows: [...first, ...added], pageRows: 40 })
        const grownSession = yield* open(setup, grown)
        const next = yield* readIncremental(
          grownSession,
          grown.dataset,
          cursorColumns,
          Option.map(watermark, (w) => throughStorage(setup, w))
        )
        expect(sortedText(cursorColumns, next.rows)).toEqual(sortedText(cursorColumns, added))
        const nothing = yield* readIncremental(
          grownSession,
          grown.dataset,
          cursorColumns,
          Option.map(next.watermark, (w) => throughStorage(setup, w))
        )
        expect(nothing.rows).toEqual([])
      })
    )

    it.scopedLive("can be interrupted mid-stream and read again", () =>
      Effect.gen(function* () {
        const rows = cursorRows(200, 10)
        const fixture = yield* setup.table({ columns: cursorColumns, rows, pageRows: 40 })
        const session = yield* open(setup, fixture)
        const partial = yield* collect(session.readTable!(fixture.dataset, plan<W>({})).pipe(Stream.take(1)))
        expect(partial.length).toBeLessThanOrEqual(1)
        const whole = yield* collect(session.readTable!(fixture.dataset, plan<W>({})))
        expect(
          sortedText(
            cursorColumns,
            rowsOf(
              cursorColumns,
              whole.map((page) => page.batch)
            )
          )
        ).toEqual(sortedText(cursorColumns, rows))
      })
    )

    it.scopedLive("reads every logical type it carries, exactly", () =>
      Effect.gen(function* () {
        const kept = allTypeColumns.flatMap((c, i) => ((setup.carries?.(c.type) ?? true) ? [i] : []))
        const columns = kept.map((i) => allTypeColumns[i]!)
        const rows = allTypeRows().map((row) => kept.map((i) => row[i]!))
        const fixture = yield* setup.table({ columns, rows, pageRows: 1000 })
        const session = yield* open(setup, fixture)
        const described = yield* describeTable(session, fixture.dataset)
        expect(typesOf(described)).toEqual(typesOf(columns))
        const pages = yield* collect(session.readTable!(fixture.dataset, plan<W>({})))
        expect(
          sortedText(
            columns,
            rowsOf(
              described,
              pages.map((page) => page.batch)
            )
          )
        ).toEqual(sortedText(columns, rows))
      })
    )

    if (setup.files !== undefined) {
      const makeFiles = setup.files
      const text = (value: string) => new TextEncoder().encode(value)
      const at = Date.parse("2026-01-01T00:00:00Z")

      it.scopedLive("lists and reads files, resuming after (modification time, path) without gaps", () =>
        Effect.gen(function* () {
          // Twelve files share one modification time: only the path orders them.
          const files: Array<FileSpec> = [
            ...Array.from({ length: 12 }, (_, i) => ({
              path: `same/f${String(i).padStart(2, "0")}.txt`,
              content: text(`file ${i}`),
              lastModified: at
            })),
            { path: "early.bin", content: new Uint8Array([0, 255, 1]), lastModified: at - 5000 },
            { path: "late.txt", content: text("late"), lastModified: at + 5000 }
          ]
          const fixture = yield* makeFiles(files)
          const timeOf = (file: FileSpec) => fixture.modified?.get(file.path) ?? file.lastModified
          const shared = timeOf(files[0]!)
          const session = yield* open(setup, fixture)
          expect(session.files, "a file store must list files").toBeDefined()
          const access = session.files!
          const latest = Math.max(...files.map(timeOf))
          const list = (after: Option.Option<{ lastModified: number; path: string }>, until = latest + 60_000) =>
            collect(access.list(fixture.dataset, { after, until }))

          const listed = yield* list(Option.none())
          expect(listed.map((entry) => [entry.path, entry.lastModified])).toEqual(
            [...files]
              .sort((a, b) => timeOf(a) - timeOf(b) || (a.path < b.path ? -1 : 1))
              .map((file) => [file.path, timeOf(file)])
          )
          for (const entry of listed) {
            const bytes = yield* collect(access.read(fixture.dataset, entry))
            const expected = files.find((file) => file.path === entry.path)!.content
            expect(Buffer.concat(bytes).equals(Buffer.from(expected))).toBe(true)
            expect(entry.size).toBe(expected.length)
            expect((yield* access.stat(fixture.dataset, entry.path)).etag).toBe(entry.etag)
          }

          // Resume after the sixth file of the shared time: the other six and the late one follow.
          const middle = listed[6]!
          const rest = yield* list(Option.some({ lastModified: middle.lastModified, path: middle.path }))
          expect([...listed.slice(0, 7), ...rest].map((entry) => entry.path)).toEqual(listed.map((e) => e.path))
          // The bound leaves out what was modified after the run started.
          const bounded = yield* list(Option.some({ lastModified: middle.lastModified, path: middle.path }), shared)
          expect(bounded.map((entry) => entry.path)).toEqual(rest.slice(0, -1).map((entry) => entry.path))
        })
      )
    }
  })
}
