/**
 * The JSON Schema of the share config, for editor completion and checks
 * (yaml-language-server reads it from a `# yaml-language-server: $schema=…` line).
 * It is generated from the same Schemas that validate the file, with each store
 * type's settings, each source's dataset settings and each sink's target settings
 * taken from the registry.
 */
import * as JSONSchema from "effect/JSONSchema"
import type * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"
import type { Registry } from "../core/Registry.js"
import type { ConfigSchema } from "../core/Source.js"
import { ConfigFile, DatasetSource, MappingEntry, StoreEntry } from "./ConfigSchema.js"

type Json = Record<string, unknown>
type Definitions = Record<string, JSONSchema.JsonSchema7>

const DEFINITIONS = "#/$defs/"

/** The schema itself rather than a reference to it, which is what a Schema with an identifier gives. */
const toJson = (schema: Schema.Schema.Any | ConfigSchema<unknown>, definitions: Definitions): Json => {
  const json = JSONSchema.fromAST(schema.ast, { definitions, definitionPath: DEFINITIONS }) as unknown as Json
  const ref = json.$ref
  if (typeof ref !== "string" || Object.keys(json).length !== 1 || !ref.startsWith(DEFINITIONS)) return json
  return (definitions[ref.slice(DEFINITIONS.length)] as Json | undefined) ?? json
}

const isObjectSchema = (json: Json): json is Json & { properties: Json } =>
  json.type === "object" && typeof json.properties === "object" && json.properties !== null

/**
 * A connector's object schema with the core's own keys added, closed to other keys.
 * A connector Schema that is not a plain object keeps its own shape beside the core keys.
 */
const withCoreKeys = (connector: Json, core: Json & { properties: Json }, extra: Json = {}): Json => {
  const coreRequired = Array.isArray(core.required) ? (core.required as Array<string>) : []
  if (!isObjectSchema(connector)) return { allOf: [{ ...core, additionalProperties: true }, connector], ...extra }
  const required = Array.isArray(connector.required) ? (connector.required as Array<string>) : []
  return {
    ...connector,
    ...extra,
    type: "object",
    required: [...new Set([...coreRequired, ...required])],
    properties: { ...core.properties, ...connector.properties },
    additionalProperties: false
  }
}

/** The core's part of an open entry: its properties without the open record. */
const coreOf = (schema: Schema.Schema.Any, definitions: Definitions): Json & { properties: Json } => {
  const json = toJson(schema, definitions)
  const { additionalProperties: _open, ...closed } = json
  return isObjectSchema(closed) ? closed : { type: "object", properties: {}, required: [] }
}

/** The JSON Schema (draft-07) of a config file for the store types of `registry`. */
export const configJsonSchema = (registry: Registry): Json => {
  const definitions: Definitions = {}
  const root = toJson(ConfigFile, definitions)
  delete definitions[ConfigFile.ast.annotations[AST.IdentifierAnnotationId] as string]
  const types = [...registry.types.values()]

  const store = coreOf(StoreEntry, definitions)
  const storeVariants = types.map((type) =>
    withCoreKeys(
      toJson(type.storeConfig, definitions),
      {
        ...store,
        properties: { ...store.properties, type: { const: type.type, description: type.description } }
      },
      { title: type.type, description: type.description }
    )
  )

  const source = coreOf(DatasetSource, definitions)
  const sourceVariants = types.flatMap((type) =>
    type.source === undefined
      ? []
      : [withCoreKeys(toJson(type.source.datasetConfig, definitions), source, { title: `${type.type} dataset` })]
  )

  const mapping = coreOf(MappingEntry, definitions)
  const mappingVariants = types.flatMap((type) =>
    type.sink === undefined
      ? []
      : [withCoreKeys(toJson(type.sink.targetConfig, definitions), mapping, { title: `${type.type} target` })]
  )

  const replace = (name: string, variants: ReadonlyArray<Json>, combinator: "oneOf" | "anyOf") => {
    const original = definitions[name] as Json | undefined
    if (original === undefined || variants.length === 0) return
    definitions[name] = {
      ...(typeof original.description === "string" ? { description: original.description } : {}),
      [combinator]: variants
    } as JSONSchema.JsonSchema7
  }
  // A store's `type` tells which variant applies; a dataset source or a mapping names a
  // store, whose type the schema cannot follow, so any variant that fits will do.
  replace("Store", storeVariants, "oneOf")
  replace("DatasetSource", sourceVariants, "anyOf")
  replace("Mapping", mappingVariants, "anyOf")

  return { $schema: "http://json-schema.org/draft-07/schema#", ...root, $defs: definitions }
}
