import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { batchReaders } from "../../core/Batch.js"
import { parseFilter } from "../../core/Filter.js"
import type { ReadPlan } from "../../core/Source.js"
import type { Column } from "../../core/Types.js"
import type { CursorWatermark } from "../../core/Watermark.js"
import { formatText } from "../../core/Values.js"
import { clearMemoryTables, memorySink, memorySource, memoryTables } from "../fixtures/plugins/memory-plugin.js"
import type { MemoryStoreConfig } from "../fixtures/plugins/memory-plugin.js"
import { loaded } from "./support.js"
import { readPlan } from "../support/plans.js"

/** The store config as a share config would give it, decoded through loadConfig. */
const storeConfig = Effect.map(
  loaded(`version: 1
accounts: { contoso: {} }
stores:
  mem:
    type: memory_table
    account: contoso
    tables:
      events:
        columns: { id: int32, kind: utf8, at: "timestamp(us, UTC)" }
        rows:
          - [3, b, "2026-01-01T00:00:02Z"]
          - [1, a, "2026-01-01T00:00:01Z"]
          - [2, a, "2026-01-01T00:00:01Z"]
          - [4, c, "2026-01-01T00:00:03Z"]
`),
  (config) => config.stores.get("mem")!.config as MemoryStoreConfig
)

const plan = (overrides: Partial<ReadPlan<CursorWatermark>>): ReadPlan<CursorWatermark> => readPlan("events", overrides)

const incremental = Option.some({ cursor: "at", key: ["id"], lookback: Option.none() })

/** Every page as its rows in text form, and its watermark. */
const read = (config: MemoryStoreConfig, readPlan: ReadPlan<CursorWatermark>, batchRows = 2) =>
  Effect.gen(function* () {
    const session = yield* memorySource.open(config, { store: "mem", baseDir: "." })
    const description = yield* session.describe({ table: "events", batch_rows: batchRows })
    const pages = yield* Stream.runCollect(session.readTable!({ table: "events", batch_rows: batchRows }, readPlan))
    const all = description.kind === "table" ? description.columns : []
    return Chunk.toArray(pages).map((page) => {
      const columns: ReadonlyArray<Column> = page.batch.schema.fields.map((field) =>
        all.find((c) => c.name === field.name)!
      )
      const readers = batchReaders(columns, page.batch)
      const rows = Array.from({ length: page.batch.numRows }, (_, i) =>
        readers.map((reader, c) => {
          const value = reader(i)
          return value === null ? null : formatText(columns[c]!.type, value)
        })
      )
      return { rows, watermark: page.watermark }
    })
  })

describe("memory_table source", () => {
  it.scoped("reads its rows as batches in file order", () =>
    Effect.gen(function* () {
      const pages = yield* read(yield* storeConfig, plan({ columns: Option.some(["id", "kind"]) }))
      expect(pages).toEqual([
        {
          rows: [
            ["3", "b"],
            ["1", "a"]
          ],
          watermark: Option.none()
        },
        {
          rows: [
            ["2", "a"],
            ["4", "c"]
          ],
          watermark: Option.none()
        }
      ])
    })
  )

  it.scoped("orders by (cursor, key) and resumes after a watermark", () =>
    Effect.gen(function* () {
      const config = yield* storeConfig
      const full = yield* read(config, plan({ incremental, columns: Option.some(["id"]) }), 3)
      expect(full.map((page) => page.rows)).toEqual([[["1"], ["2"], ["3"]], [["4"]]])
      const first = Option.getOrThrow(full[0]!.watermark)
      expect(first).toEqual({ cursor: "2026-01-01T00:00:02Z", key: ["3"] })
      const resumed = yield* read(config, plan({ incremental, mode: "incremental", after: Option.some(first) }))
      expect(resumed.map((page) => page.rows.map((row) => row[0]))).toEqual([["4"]])
    })
  )

  it.scoped("applies the filter", () =>
    Effect.gen(function* () {
      const filter = Either.getOrThrow(parseFilter("kind = 'a' or id > 3"))
      const pages = yield* read(
        yield* storeConfig,
        plan({ filter: Option.some(filter), columns: Option.some(["id"]) }),
        10
      )
      expect(pages.map((page) => page.rows)).toEqual([[["1"], ["2"], ["4"]]])
    })
  )
})

describe("memory_table sink", () => {
  it.scoped("keeps committed batches per target, once per run id", () =>
    Effect.gen(function* () {
      clearMemoryTables()
      const config = yield* storeConfig
      const source = yield* memorySource.open(config, { store: "mem", baseDir: "." })
      const columns: ReadonlyArray<Column> = [{ name: "id", type: { kind: "int32" }, nullable: true }]
      const sink = yield* memorySink.open({ tables: {} }, { store: "out", baseDir: "." })
      const deliver = (runId: string, mode: "replace" | "append") =>
        Effect.scoped(
          Effect.gen(function* () {
            const writer = yield* sink.tables!.open({ table: "events" }, columns, {
              runId,
              dataset: "events",
              mode,
              key: []
            })
            yield* Stream.runForEach(
              source.readTable!({ table: "events", batch_rows: 2 }, plan({ columns: Option.some(["id"]) })),
              (page) => writer.write(page.batch)
            )
            return yield* writer.commit({ runId, watermark: null, rows: 4 })
          })
        )
      expect(yield* deliver("run-1", "replace")).toEqual({ rows: 4, bytes: 0, files: 0, alreadyCommitted: false })
      expect(yield* deliver("run-1", "replace")).toMatchObject({ alreadyCommitted: true })
      yield* deliver("run-2", "append")
      const table = memoryTables.get("events")!
      expect(table.runs).toEqual(["run-1", "run-2"])
      expect(table.batches.reduce((rows, batch) => rows + batch.numRows, 0)).toBe(8)
      expect(yield* sink.isCommitted({ table: "events" }, "run-2")).toBe(true)
      expect(yield* sink.isCommitted({ table: "events" }, "run-3")).toBe(false)
    })
  )

  it.scoped("drops what was staged when its scope closes without a commit", () =>
    Effect.gen(function* () {
      clearMemoryTables()
      const sink = yield* memorySink.open({ tables: {} }, { store: "out", baseDir: "." })
      yield* Effect.scoped(
        sink.tables!.open({ table: "t" }, [], { runId: "r", dataset: "d", mode: "replace", key: [] })
      )
      expect(memoryTables.has("t")).toBe(false)
    })
  )
})
