/** The memory_table fixture plugin passes the conformance suites, as a plugin author's own test would run them. */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { typeName } from "../../core/Types.js"
import { formatText } from "../../core/Values.js"
import { MemoryStoreConfig, memorySink, memorySource, memoryTables } from "../fixtures/plugins/memory-plugin.js"
import { rowsOf, sinkConformance, sourceConformance } from "./index.js"

const decodeStore = Schema.decodeUnknownSync(MemoryStoreConfig)
const context = { store: "memory", baseDir: "." }
let stores = 0

sourceConformance("memory_table", {
  connector: memorySource,
  table: (spec) =>
    Effect.sync(() => ({
      // The store config declares the table, cells in their text form.
      config: decodeStore({
        tables: {
          t: {
            columns: Object.fromEntries(spec.columns.map((c) => [c.name, typeName(c.type)])),
            rows: spec.rows.map((row) =>
              row.map((value, i) => (value === null ? null : formatText(spec.columns[i]!.type, value)))
            )
          }
        }
      }),
      context,
      dataset: { table: "t", batch_rows: spec.pageRows }
    })),
  // A memory store's cells are scalars in its YAML config, so it declares no list columns.
  carries: (type) => type.kind !== "list"
})

sinkConformance("memory_table", {
  connector: memorySink,
  store: Effect.sync(() => ({ config: decodeStore({}), context: { ...context, store: `memory-${++stores}` } })),
  // Committed tables are shared by the whole process: a name per store keeps tests apart.
  target: (store, name) => ({ table: `${store.context.store}/${name}` }),
  published: (_store, target) =>
    Effect.sync(() => {
      const table = memoryTables.get(target.table)
      return table === undefined ? undefined : { runs: table.runs, batches: table.batches.length }
    }),
  readBack: (_store, target, columns) =>
    Effect.sync(() => {
      const table = memoryTables.get(target.table)
      return table === undefined ? [] : rowsOf(columns, table.batches)
    })
})
