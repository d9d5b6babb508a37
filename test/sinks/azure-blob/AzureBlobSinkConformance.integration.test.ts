/**
 * The blob sink passes the sink conformance suite against Azurite, with tables arriving
 * as CSV, Parquet and JSON Lines parts, read back through the blob source.
 */
import { afterAll, beforeAll } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { createHash } from "node:crypto"
import { AzureBlobDatasetConfig, azureBlobSource } from "../../../connectors/azure-blob/AzureBlobSource.js"
import { typeName } from "../../../core/Types.js"
import type { FormatName } from "../../../sinks/formats/Format.js"
import { formatNamed } from "../../../sinks/formats/Formats.js"
import { azureBlobSink } from "../../../sinks/azure-blob/AzureBlobSink.js"
import { collect, rowsOf, sinkConformance } from "../../conformance/index.js"
import type { Azurite } from "../../support/azurite.js"
import { blobContents, keyStore, startAzurite } from "../../support/azurite.js"

const BUCKET = "conformance"
let azurite: Azurite
beforeAll(async () => {
  azurite = await startAzurite()
  await azurite.service.getContainerClient(BUCKET).create()
})
afterAll(async () => {
  await azurite.stop()
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
    published: (_store, target) =>
      Effect.promise(async () =>
        [...(await blobContents(azurite, BUCKET, `${target.path}/`)).entries()]
          .filter(([blob]) => !blob.includes("/_ferry/"))
          .map(([blob, bytes]) => [blob, createHash("sha256").update(bytes).digest("hex")])
          .sort()
      ),
    readBack: (store, target, columns) =>
      Effect.gen(function* () {
        const session = yield* azureBlobSource.open(store.config, store.context)
        const dataset = Schema.decodeUnknownSync(AzureBlobDatasetConfig)({
          container: target.container,
          prefix: target.path,
          kind: "table",
          format: name,
          ...(name === "parquet"
            ? {}
            : { column_types: Object.fromEntries(columns.map((c) => [c.name, typeName(c.type)])) })
        })
        const description = yield* session.describe(dataset)
        const described = description.kind === "table" ? description.columns : []
        const pages = yield* collect(
          session.readTable!(dataset, {
            dataset: "read-back",
            mode: "full",
            after: Option.none(),
            columns: Option.none(),
            filter: Option.none(),
            incremental: Option.none()
          })
        )
        return rowsOf(
          described,
          pages.map((page) => page.batch)
        )
      })
  })
}
