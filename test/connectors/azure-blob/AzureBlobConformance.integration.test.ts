/**
 * The blob store passes the source conformance suite against Azurite: tables of CSV,
 * Parquet and JSON Lines part blobs under a prefix, and folders of blobs, whose
 * modification times the service sets (the fixture writes them second by second).
 */
import {} from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { AzureBlobDatasetConfig, azureBlobSource } from "../../../connectors/azure-blob/AzureBlobSource.js"
import { columnTypesOf, sourceConformance } from "../../conformance/index.js"
import { container, keyStore, azuriteForTests, writeInSeconds, writeParts } from "../../support/azurite.js"

const azurite = azuriteForTests()

const context = { store: "lake", baseDir: "." }

for (const name of ["csv", "parquet", "jsonl"] as const) {
  sourceConformance(`azure_blob (${name})`, {
    connector: azureBlobSource,
    table: (spec) =>
      Effect.gen(function* () {
        const bucket = yield* container(azurite)
        yield* writeParts(azurite, bucket, name, spec)
        return {
          config: keyStore(azurite),
          context,
          dataset: Schema.decodeUnknownSync(AzureBlobDatasetConfig)({
            container: bucket,
            prefix: "table/",
            kind: "table",
            format: name,
            ...columnTypesOf(name, spec.columns)
          })
        }
      }),
    ...(name === "csv"
      ? {
          files: (files) =>
            Effect.gen(function* () {
              const bucket = yield* container(azurite)
              const modified = yield* writeInSeconds(azurite, bucket, files)
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
