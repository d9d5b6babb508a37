/** The connectors that ship with Ferry, declared as a plugin like any other. */
import { adlsSource } from "../connectors/adls/AdlsSource.js"
import { azureBlobSource } from "../connectors/azure-blob/AzureBlobSource.js"
import { localSource } from "../connectors/local/LocalSource.js"
import { postgresSource } from "../connectors/postgres/PostgresSource.js"
import type { Plugin } from "../core/Plugin.js"
import { adlsSink } from "../sinks/adls/AdlsSink.js"
import { azureBlobSink } from "../sinks/azure-blob/AzureBlobSink.js"
import { localSink } from "../sinks/local/LocalSink.js"
import { postgresSink } from "../sinks/postgres/PostgresSink.js"

export const builtins: ReadonlyArray<Plugin> = [
  {
    name: "ferry (built-in)",
    sources: [localSource, postgresSource, azureBlobSource, adlsSource],
    sinks: [localSink, postgresSink, azureBlobSink, adlsSink]
  }
]
