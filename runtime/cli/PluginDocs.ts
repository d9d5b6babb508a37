/**
 * `ferry plugins`: every store type with the settings of its store, its datasets and
 * its mapping targets, read from the connectors' Schemas (their descriptions and
 * examples), so that the listing can never drift from what the config accepts.
 */
import * as JSONSchema from "effect/JSONSchema"
import type { Registry, StoreType } from "../../core/Registry.js"
import type { ConfigSchema } from "../../core/Source.js"

interface Field {
  readonly name: string
  readonly required: boolean
  readonly type: string
  readonly description?: string
}

type Json = { readonly [key: string]: unknown }

const typeOf = (json: Json, definitions: Json): string => {
  if (typeof json.$ref === "string") {
    const target = definitions[json.$ref.replace("#/$defs/", "")] as Json | undefined
    return target === undefined ? "object" : typeOf(target, definitions)
  }
  if (Array.isArray(json.enum)) return json.enum.map((value) => JSON.stringify(value)).join(" | ")
  if ("const" in json) return JSON.stringify(json.const)
  const union = (json.anyOf ?? json.oneOf) as ReadonlyArray<Json> | undefined
  if (Array.isArray(union)) return union.map((member) => typeOf(member as Json, definitions)).join(" | ")
  if (json.type === "array") return `list of ${typeOf((json.items ?? {}) as Json, definitions)}`
  if (json.type === "object" && typeof json.additionalProperties === "object") {
    return `map of ${typeOf(json.additionalProperties as Json, definitions)}`
  }
  return typeof json.type === "string" ? json.type : "object"
}

/** The top-level fields of a config Schema, with their descriptions. */
export const fieldsOf = (schema: ConfigSchema<unknown>): ReadonlyArray<Field> => {
  const definitions: Record<string, JSONSchema.JsonSchema7> = {}
  let json = JSONSchema.fromAST(schema.ast, { definitions }) as unknown as Json
  if (typeof json.$ref === "string") json = (definitions[json.$ref.replace("#/$defs/", "")] ?? {}) as unknown as Json
  const properties = (json.properties ?? {}) as Record<string, Json>
  const required = new Set((json.required ?? []) as ReadonlyArray<string>)
  return Object.entries(properties).map(([name, property]) => ({
    name,
    required: required.has(name),
    type: typeOf(property, definitions as unknown as Json),
    ...(typeof property.description === "string" ? { description: property.description } : {})
  }))
}

const section = (title: string, schema: ConfigSchema<unknown>): ReadonlyArray<string> => [
  `  ${title}:`,
  ...fieldsOf(schema).map(
    (field) =>
      `    ${field.name}${field.required ? "" : " (optional)"}: ${field.type}${field.description === undefined ? "" : `\n      ${field.description}`}`
  )
]

const describeType = (type: StoreType): ReadonlyArray<string> => [
  `${type.type}  [${[type.source === undefined ? undefined : "source", type.sink === undefined ? undefined : "sink"].filter(Boolean).join(", ")}] from ${type.origin}`,
  `  ${type.description}`,
  ...section("store", type.storeConfig),
  ...(type.source === undefined ? [] : section("dataset source (beside store:)", type.source.datasetConfig)),
  ...(type.sink === undefined ? [] : section("mapping target (beside store:, format:)", type.sink.targetConfig))
]

/** The text `ferry plugins` prints. */
export const describeRegistry = (registry: Registry): string =>
  [...registry.types.values()]
    .sort((a, b) => a.type.localeCompare(b.type))
    .map((type) => describeType(type).join("\n"))
    .join("\n\n")
