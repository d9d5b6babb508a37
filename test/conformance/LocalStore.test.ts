/** The local store passes the conformance suites: tables in CSV, Parquet and JSON Lines part files, and folders of files. */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { LocalDatasetConfig, localSource } from "../../connectors/local/LocalSource.js"
import type { Column } from "../../core/Types.js"
import type { FormatName } from "../../sinks/formats/Format.js"
import { formatNamed } from "../../sinks/formats/Formats.js"
import { localSink } from "../../sinks/local/LocalSink.js"
import type { FileSpec, TableSpec } from "./index.js"
import { batchOf, collect, columnTypesOf, readWholeTable, sinkConformance, sourceConformance } from "./index.js"

/** A fresh folder, removed when the test's scope closes. */
const freshRoot = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "ferry-conformance-local-"))),
  (root) => Effect.sync(() => fs.rmSync(root, { recursive: true, force: true }))
)

const optionsOf = (name: FormatName) => Schema.decodeUnknownSync(formatNamed(name).options)({})

/** A table dataset reading `folder` in the format, with every column's type declared where the format infers them. */
const tableDataset = (name: FormatName, folder: string, columns: ReadonlyArray<Column>) =>
  Schema.decodeUnknownSync(LocalDatasetConfig)({
    table: `${folder}/`,
    format: name,
    ...columnTypesOf(name, columns)
  })

/** The rows as part files of `pageRows` rows each, in one folder. */
const writeParts = (name: FormatName, folder: string, spec: TableSpec) =>
  Effect.gen(function* () {
    const format = formatNamed(name)
    fs.mkdirSync(folder, { recursive: true })
    const count = Math.max(1, Math.ceil(spec.rows.length / spec.pageRows))
    for (let part = 0; part < count; part++) {
      const rows = spec.rows.slice(part * spec.pageRows, (part + 1) * spec.pageRows)
      const bytes = yield* collect(
        format.encode(spec.columns, Stream.make(batchOf(spec.columns, rows)), optionsOf(name))
      )
      fs.writeFileSync(
        path.join(folder, `part-${String(part).padStart(5, "0")}.${format.extensions[0]!}`),
        Buffer.concat(bytes)
      )
    }
  })

const writeFiles = (folder: string, files: ReadonlyArray<FileSpec>) => {
  for (const file of files) {
    const full = path.join(folder, file.path)
    fs.mkdirSync(path.dirname(full), { recursive: true })
    fs.writeFileSync(full, file.content)
    const time = new Date(file.lastModified)
    fs.utimesSync(full, time, time)
  }
}

for (const name of ["csv", "parquet", "jsonl"] as const) {
  sourceConformance(`local (${name})`, {
    connector: localSource,
    table: (spec) =>
      Effect.gen(function* () {
        const root = yield* freshRoot
        yield* writeParts(name, path.join(root, "table"), spec)
        return {
          config: { root },
          context: { store: "local", baseDir: root },
          dataset: tableDataset(name, "table", spec.columns)
        }
      }),
    ...(name === "csv"
      ? {
          files: (files) =>
            Effect.map(freshRoot, (root) => {
              writeFiles(path.join(root, "docs"), files)
              return {
                config: { root },
                context: { store: "local", baseDir: root },
                dataset: Schema.decodeUnknownSync(LocalDatasetConfig)({ files: "docs" })
              }
            })
        }
      : {})
  })

  sinkConformance(`local (${name})`, {
    connector: localSink,
    store: Effect.map(freshRoot, (root) => ({ config: { root }, context: { store: "local", baseDir: root } })),
    target: (_store, target) => ({ path: target }),
    format: { format: formatNamed(name), options: optionsOf(name) },
    published: (store, target) =>
      Effect.sync(() => {
        const folder = path.join(store.config.root, target.path)
        if (!fs.existsSync(folder)) return []
        return (fs.readdirSync(folder, { recursive: true, withFileTypes: true }) as Array<fs.Dirent>)
          .filter((entry) => entry.isFile())
          .map((entry) => path.relative(folder, path.join(entry.parentPath, entry.name)))
          .filter((file) => !file.startsWith(".ferry-"))
          .sort()
          .map((file) => [
            file,
            createHash("sha256")
              .update(fs.readFileSync(path.join(folder, file)))
              .digest("hex")
          ])
      }),
    readBack: (store, target, columns) =>
      Effect.gen(function* () {
        const session = yield* localSource.open(store.config, store.context)
        const dataset = tableDataset(name, target.path, columns)
        return yield* readWholeTable(session, dataset)
      })
  })
}
