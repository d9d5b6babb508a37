/**
 * A plugin is a module whose default export lists the sources and sinks it adds.
 * Built-in connectors are declared the same way; the registry holds them all.
 */
import * as Schema from "effect/Schema"
import type { SinkConnector } from "./Sink.js"
import type { SourceConnector } from "./Source.js"

/*
 * A plugin lists connectors of any config types. Schema's type parameters are
 * invariant, so no single type but `any` admits them all; the registry checks each
 * connector's shape at load time and decodes configs with its own Schemas.
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
export type AnySourceConnector = SourceConnector<any, any, any>
export type AnySinkConnector = SinkConnector<any, any>
/* eslint-enable @typescript-eslint/no-explicit-any */

export interface Plugin {
  readonly name: string
  readonly sources?: ReadonlyArray<AnySourceConnector>
  readonly sinks?: ReadonlyArray<AnySinkConnector>
}

const SnakeCase = Schema.String.pipe(
  Schema.pattern(/^[a-z][a-z0-9_]*$/, { message: () => "a type name in snake_case, such as acme_crm" })
)
const AnySchema = Schema.declare((u: unknown): u is Schema.Schema.Any => Schema.isSchema(u), {
  description: "an effect/Schema value"
})
const AnyFunction = Schema.declare(
  (u: unknown): u is (...args: ReadonlyArray<unknown>) => unknown => typeof u === "function",
  {
    description: "a function"
  }
)

const ConnectorShape = {
  type: SnakeCase,
  description: Schema.String,
  storeConfig: AnySchema,
  open: AnyFunction
}

/** Capabilities are flags that config validation trusts, so each must be a boolean when present. */
const Capability = Schema.optional(Schema.Boolean)

/** What a plugin module's default export must look like. */
export const PluginShape = Schema.Struct({
  name: Schema.String,
  sources: Schema.optional(
    Schema.Array(
      Schema.Struct({
        ...ConnectorShape,
        datasetConfig: AnySchema,
        watermark: AnySchema,
        capabilities: Schema.optional(Schema.Struct({ keys: Capability }))
      })
    )
  ),
  sinks: Schema.optional(
    Schema.Array(
      Schema.Struct({
        ...ConnectorShape,
        targetConfig: AnySchema,
        capabilities: Schema.optional(Schema.Struct({ deletes: Capability }))
      })
    )
  )
})
