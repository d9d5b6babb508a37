/**
 * The ADLS sink passes the sink conformance suite, read back through the ADLS source:
 * with hierarchical_namespace: false against Azurite alone (the blob sink's publish), and
 * with a hierarchical namespace against Azurite for the Blob endpoint and the FAKE DFS
 * handler of test/support/fakeDfs.ts for the renames (Azurite has no DFS endpoint). The
 * formats are the blob store's and pass its own suite; one each here.
 */
import { beforeAll } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { AdlsDatasetConfig, adlsSource } from "../../../connectors/adls/AdlsSource.js"
import { adlsSink } from "../../../sinks/adls/AdlsSink.js"
import type { FormatName } from "../../../sinks/formats/Format.js"
import { formatNamed } from "../../../sinks/formats/Formats.js"
import { columnTypesOf, readWholeTable, sinkConformance } from "../../conformance/index.js"
import { lakeStore, publishedHashes, azuriteForTests } from "../../support/azurite.js"
import { fakeDfsForTests } from "../../support/fakeDfs.js"

const FILE_SYSTEM = "conformance"
const azurite = azuriteForTests()
const dfs = fakeDfsForTests(azurite)
beforeAll(async () => {
  await azurite.service.getContainerClient(FILE_SYSTEM).create()
})

const optionsOf = (name: FormatName) => Schema.decodeUnknownSync(formatNamed(name).options)({})
const context = { store: "lake", baseDir: "." }
let targets = 0

for (const [name, hierarchical] of [
  ["csv", false],
  ["parquet", true]
] as const) {
  sinkConformance(`adls (${name}, hierarchical_namespace: ${hierarchical})`, {
    connector: adlsSink,
    store: Effect.sync(() => ({
      config: lakeStore(azurite, {
        ...(hierarchical ? { dfs_url: dfs.url } : {}),
        hierarchical_namespace: hierarchical,
        // Small blocks, so that parts span several staged blocks.
        block_size_kib: 16
      }),
      context
    })),
    target: (_store, target) => ({ file_system: FILE_SYSTEM, directory: `${name}-${++targets}/${target}` }),
    format: { format: formatNamed(name), options: optionsOf(name) },
    published: (_store, target) => Effect.promise(() => publishedHashes(azurite, FILE_SYSTEM, `${target.directory}/`)),
    readBack: (store, target, columns) =>
      Effect.gen(function* () {
        const session = yield* adlsSource.open(store.config, store.context)
        const dataset = Schema.decodeUnknownSync(AdlsDatasetConfig)({
          file_system: target.file_system,
          directory: target.directory,
          kind: "table",
          format: name,
          ...columnTypesOf(name, columns)
        })
        return yield* readWholeTable(session, dataset)
      })
  })
}
