/**
 * The connector registry: every store type Ferry knows, built-in or from a plugin,
 * with its source side, its sink side, or both. A source and a sink that share a
 * type share their store config: a store is configured once, whichever way it is used.
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { AnySinkConnector, AnySourceConnector, Plugin } from "./Plugin.js"
import { PluginShape } from "./Plugin.js"
import { PluginError } from "./Errors.js"
import type { SinkConnector } from "./Sink.js"
import type { ConfigSchema, SourceConnector } from "./Source.js"

export interface StoreType {
  readonly type: string
  readonly description: string
  /** The plugin that brought it, or `built-in`. */
  readonly origin: string
  readonly storeConfig: ConfigSchema<unknown>
  readonly source?: SourceConnector
  readonly sink?: SinkConnector
}

export interface Registry {
  readonly types: ReadonlyMap<string, StoreType>
}

const widenSource = (connector: AnySourceConnector): SourceConnector => connector
const widenSink = (connector: AnySinkConnector): SinkConnector => connector

/** Checks a module's default export against the plugin schema. */
export const validatePlugin = (origin: string, candidate: unknown): Either.Either<Plugin, PluginError> =>
  Either.mapLeft(
    Schema.decodeUnknownEither(PluginShape, { errors: "all", onExcessProperty: "ignore" })(candidate),
    (error) =>
      new PluginError({
        plugin: origin,
        message: `its default export is not a Ferry plugin: ${error.message.replace(/\s+/g, " ")}`
      })
  ).pipe(Either.map(() => candidate as Plugin))

/**
 * Joins plugins into one registry. Two connectors claiming the same type for the same
 * side is an error, as is a source and sink of one type with different store configs.
 */
export const makeRegistry = (
  plugins: ReadonlyArray<{ readonly origin: string; readonly plugin: Plugin }>
): Either.Either<Registry, PluginError> => {
  const types = new Map<string, StoreType>()
  for (const { origin, plugin } of plugins) {
    for (const source of plugin.sources ?? []) {
      const existing = types.get(source.type)
      if (existing?.source !== undefined) {
        return Either.left(
          new PluginError({
            plugin: origin,
            message: `source type "${source.type}" is already provided by ${existing.origin}`
          })
        )
      }
      const connector = widenSource(source)
      types.set(source.type, {
        type: source.type,
        description: existing?.description ?? source.description,
        origin: existing?.origin ?? origin,
        storeConfig: existing?.storeConfig ?? connector.storeConfig,
        ...(existing?.sink === undefined ? {} : { sink: existing.sink }),
        source: connector
      })
    }
    for (const sink of plugin.sinks ?? []) {
      const existing = types.get(sink.type)
      if (existing?.sink !== undefined) {
        return Either.left(
          new PluginError({
            plugin: origin,
            message: `sink type "${sink.type}" is already provided by ${existing.origin}`
          })
        )
      }
      const connector = widenSink(sink)
      if (existing !== undefined && existing.storeConfig !== connector.storeConfig) {
        return Either.left(
          new PluginError({
            plugin: origin,
            message: `sink type "${sink.type}" must use the same storeConfig Schema value as its source`
          })
        )
      }
      types.set(sink.type, {
        type: sink.type,
        description: existing?.description ?? sink.description,
        origin: existing?.origin ?? origin,
        storeConfig: connector.storeConfig,
        ...(existing?.source === undefined ? {} : { source: existing.source }),
        sink: connector
      })
    }
  }
  return Either.right({ types })
}
