/**
 * The blob sink passes the sink conformance suite against Azurite, with tables arriving
 * as CSV, Parquet and JSON Lines parts, read back through the blob source.
 */
import { beforeAll } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { AzureBlobDatasetConfig, azureBlobSource } from "../../../connectors/azure-blob/AzureBlobSource.js"
import type { FormatName } from "../../../sinks/formats/Format.js"
import { formatNamed } from "../../../sinks/formats/Formats.js"
import { azureBlobSink } from "../../../sinks/azure-blob/AzureBlobSink.js"
import { columnTypesOf, readWholeTable, sinkConformance } from "../../conformance/index.js"
import { keyStore, publishedHashes, azuriteForTests } from "../../support/azurite.js"

const BUCKET = "conformance"
const azurite = azuriteForTests()
beforeAll(async () => {
  await azurite.service.getContainerClient(BUCKET).create()
})

const optionsOf = (name: FormatName) => Schema.decodeUnknownSync(formatNamed(name).options)({})
const context = { store: "lake", baseDir: "." }
let stores = 0

for (const name of ["csv", "parquet", "jsonl"] as const) {
  sinkConformance(`azure_blob (${name})`, {
    connector: azureBlobSink,
    // Small blocks, so that parts span several staged blocks.
    store: Effect.sync(() => ({ config: keyStore(azurite, { block_size_kib: 16 }), context })),
    target: (_store, target) => ({ container: BUCKET, path: `${name}-${++stores}/${target}` }),
    format: { format: formatNamed(name), options: optionsOf(name) },
    published: (_store, target) => Effect.promise(() => publishedHashes(azurite, BUCKET, `${target.path}/`)),
    readBack: (store, target, columns) =>
      Effect.gen(function* () {
        const session = yield* azureBlobSource.open(store.config, store.context)
        const dataset = Schema.decodeUnknownSync(AzureBlobDatasetConfig)({
          container: target.container,
          prefix: target.path,
          kind: "table",
          format: name,
          ...columnTypesOf(name, columns)
        })
        return yield* readWholeTable(session, dataset)
      })
  })
}
