/**
 * The blob store passes the source conformance suite against Azurite: tables of CSV,
 * Parquet and JSON Lines part blobs under a prefix, and folders of blobs, whose
 * modification times the service sets (the fixture writes them second by second).
 */
import { afterAll, beforeAll } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { AzureBlobDatasetConfig, azureBlobSource } from "../../../connectors/azure-blob/AzureBlobSource.js"
import type { Column } from "../../../core/Types.js"
import { typeName } from "../../../core/Types.js"
import type { FormatName } from "../../../sinks/formats/Format.js"
import { formatNamed } from "../../../sinks/formats/Formats.js"
import type { FileSpec, TableSpec } from "../../conformance/index.js"
import { batchOf, collect, sourceConformance } from "../../conformance/index.js"
import type { Azurite } from "../../support/azurite.js"
import { container, keyStore, startAzurite } from "../../support/azurite.js"

let azurite: Azurite
beforeAll(async () => {
  azurite = await startAzurite()
})
afterAll(async () => {
  await azurite.stop()
})

const context = { store: "lake", baseDir: "." }
const optionsOf = (name: FormatName) => Schema.decodeUnknownSync(formatNamed(name).options)({})

/** The rows as part blobs of `pageRows` rows each, under `table/`. */
const writeParts = (name: FormatName, bucket: string, spec: TableSpec) =>
  Effect.gen(function* () {
    const format = formatNamed(name)
    const client = azurite.service.getContainerClient(bucket)
    const count = Math.max(1, Math.ceil(spec.rows.length / spec.pageRows))
    for (let part = 0; part < count; part++) {
      const rows = spec.rows.slice(part * spec.pageRows, (part + 1) * spec.pageRows)
      const bytes = Buffer.concat(
        yield* collect(format.encode(spec.columns, Stream.make(batchOf(spec.columns, rows)), optionsOf(name)))
      )
      const blob = `table/part-${String(part).padStart(5, "0")}.${format.extensions[0]!}`
      yield* Effect.promise(() => client.getBlockBlobClient(blob).uploadData(bytes))
    }
  })

const tableDataset = (name: FormatName, bucket: string, columns: ReadonlyArray<Column>) =>
  Schema.decodeUnknownSync(AzureBlobDatasetConfig)({
    container: bucket,
    prefix: "table/",
    kind: "table",
    format: name,
    ...(name === "parquet" ? {} : { column_types: Object.fromEntries(columns.map((c) => [c.name, typeName(c.type)])) })
  })

const nextSecond = () => Effect.sleep(1_000 - (Date.now() % 1_000) + 30)

/**
 * Blobs whose times the service sets: each group of files sharing a `lastModified` is
 * written at the start of a new second, again if it straddled two; then the service's
 * clock is let past the last second.
 */
const writeInSeconds = (bucket: string, files: ReadonlyArray<FileSpec>) =>
  Effect.gen(function* () {
    const client = azurite.service.getContainerClient(bucket)
    const times = [...new Set(files.map((file) => file.lastModified))].sort((a, b) => a - b)
    const groups = times.map((time) => files.filter((file) => file.lastModified === time))
    const modified = new Map<string, number>()
    for (const group of groups) {
      for (let attempt = 0; ; attempt++) {
        yield* nextSecond()
        const times = yield* Effect.promise(() =>
          Promise.all(
            group.map(async (file) => {
              const written = await client.getBlockBlobClient(`docs/${file.path}`).uploadData(Buffer.from(file.content))
              return [file.path, written.lastModified!.getTime()] as const
            })
          )
        )
        if (new Set(times.map(([, time]) => time)).size === 1 || attempt === 3) {
          for (const [path, time] of times) modified.set(path, time)
          break
        }
      }
    }
    yield* nextSecond()
    return modified
  })

for (const name of ["csv", "parquet", "jsonl"] as const) {
  sourceConformance(`azure_blob (${name})`, {
    connector: azureBlobSource,
    table: (spec) =>
      Effect.gen(function* () {
        const bucket = yield* container(azurite)
        yield* writeParts(name, bucket, spec)
        return { config: keyStore(azurite), context, dataset: tableDataset(name, bucket, spec.columns) }
      }),
    ...(name === "csv"
      ? {
          files: (files) =>
            Effect.gen(function* () {
              const bucket = yield* container(azurite)
              const modified = yield* writeInSeconds(bucket, files)
              return {
                config: keyStore(azurite),
                context,
                dataset: Schema.decodeUnknownSync(AzureBlobDatasetConfig)({ container: bucket, prefix: "docs" }),
                modified
              }
            })
        }
      : {})
  })
}
