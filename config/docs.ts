/**
 * The key reference of docs/config.md, generated from the config Schemas (through the
 * same JSON Schema editors use) so that it never drifts from what validation accepts.
 * Run `npx tsx config/docs.ts && npx prettier --write docs/config.md` to rewrite the part
 * between the reference markers.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { fileURLToPath, pathToFileURL } from "node:url"
import * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"
import type { Registry } from "../core/Registry.js"
import { CsvOptions, JsonlOptions, ParquetOptions } from "../sinks/formats/Options.js"
import { ConfigFile, Dataset, Limits, Service, Share, Smtp, Subscription } from "./ConfigSchema.js"
import { configJsonSchema } from "./JsonSchema.js"

type Json = Record<string, unknown>

const SECTIONS: ReadonlyArray<readonly [string, string]> = [
  ["Account", "accounts.NAME"],
  ["Store", "stores.NAME"],
  ["Share", "shares[]"],
  ["Schedule", "shares[].schedule"],
  ["Dataset", "shares[].datasets[]"],
  ["DatasetSource", "shares[].datasets[].source"],
  ["Incremental", "shares[].datasets[].incremental"],
  ["Invitation", "shares[].invitations[]"],
  ["Subscription", "subscriptions[]"],
  ["Mapping", "subscriptions[].mappings.DATASET"],
  ["CsvOptions", "csv:"],
  ["ParquetOptions", "parquet:"],
  ["JsonlOptions", "jsonl:"]
]

/** Default values of a Struct's `optionalWith(…, { default })` keys, read from its AST. */
const defaultsOf = (schema: Schema.Schema.Any): ReadonlyMap<string, unknown> => {
  const defaults = new Map<string, unknown>()
  const ast = schema.ast
  if (AST.isTransformation(ast) && AST.isTypeLiteralTransformation(ast.transformation)) {
    for (const property of ast.transformation.propertySignatureTransformations) {
      const value = property.decode(Option.none())
      if (Option.isSome(value)) defaults.set(String(property.from), value.value)
    }
  }
  return defaults
}

const DEFAULTS: Record<string, ReadonlyMap<string, unknown>> = {
  root: defaultsOf(ConfigFile),
  limits: defaultsOf(Limits),
  smtp: defaultsOf(Smtp),
  service: defaultsOf(Service),
  Share: defaultsOf(Share),
  Dataset: defaultsOf(Dataset),
  Subscription: defaultsOf(Subscription),
  CsvOptions: defaultsOf(CsvOptions),
  ParquetOptions: defaultsOf(ParquetOptions),
  JsonlOptions: defaultsOf(JsonlOptions)
}

const anchor = (name: string) => name.toLowerCase()

const typeOf = (json: Json): string => {
  if (typeof json.$ref === "string") {
    const name = json.$ref.split("/").pop()!
    return name === "Int" ? "integer" : `[${name}](#${anchor(name)})`
  }
  if ("const" in json) return `\`${JSON.stringify(json.const)}\``
  if (Array.isArray(json.enum)) return json.enum.map((value) => `\`${JSON.stringify(value)}\``).join(" | ")
  if (Array.isArray(json.anyOf)) return (json.anyOf as Array<Json>).map(typeOf).join(" or ")
  if (Array.isArray(json.allOf)) return (json.allOf as Array<Json>).map(typeOf).join(" and ")
  if (json.type === "array") return `list of ${typeOf((json.items as Json | undefined) ?? {})}`
  if (json.type === "object" && typeof json.additionalProperties === "object") {
    return `map of name → ${typeOf(json.additionalProperties as Json)}`
  }
  if (json.type === "object" && typeof json.patternProperties === "object") {
    const [value] = Object.values(json.patternProperties as Record<string, Json>)
    return `map of name → ${typeOf(value ?? {})}`
  }
  if (typeof json.type === "string") return json.type === "integer" ? "integer" : json.type
  return "any"
}

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ")

/** Strings as written in YAML, unless blank or spaced at an end, where quotes show what they hold. */
const showExample = (example: unknown): string =>
  typeof example === "string" && /^\S(.*\S)?$/.test(example) ? example : JSON.stringify(example)

const exampleText = (json: Json): string => {
  const examples = Array.isArray(json.examples) ? json.examples.slice(0, 3) : []
  return examples.length === 0
    ? ""
    : ` Example: ${examples.map((example) => `\`${showExample(example)}\``).join(", ")}.`
}

const rows = (json: Json, defaults: ReadonlyMap<string, unknown>, prefix = ""): Array<string> => {
  const properties = (json.properties ?? {}) as Record<string, Json>
  const required = new Set(Array.isArray(json.required) ? (json.required as Array<string>) : [])
  return Object.entries(properties).flatMap(([key, property]) => {
    const name = `${prefix}${key}`
    const fallback = defaults.get(key)
    const presence = required.has(key)
      ? "required"
      : fallback === undefined
        ? "optional"
        : `default \`${JSON.stringify(fallback)}\``
    const description = typeof property.description === "string" ? property.description : ""
    const row = `| \`${name}\` | ${cell(typeOf(property))} | ${presence} | ${cell(description + exampleText(property))} |`
    const nested =
      property.type === "object" &&
      typeof property.properties === "object" &&
      Object.keys(property.properties ?? {}).length > 0
        ? rows(property, DEFAULTS[key] ?? new Map(), `${name}.`)
        : []
    return [row, ...nested]
  })
}

const table = (json: Json, defaults: ReadonlyMap<string, unknown>): string => {
  const lines = rows(json, defaults)
  return lines.length === 0
    ? "No keys."
    : ["| Key | Type | | Description |", "| --- | --- | --- | --- |", ...lines].join("\n")
}

/** The reference of every key, for the store types of `registry`. */
export const renderReference = (registry: Registry): string => {
  const schema = configJsonSchema(registry)
  const definitions = schema.$defs as Record<string, Json>
  const parts = [`### The file\n\n${table(schema, DEFAULTS.root ?? new Map())}`]
  for (const [name, where] of SECTIONS) {
    const definition = definitions[name]
    if (definition === undefined) continue
    const description = typeof definition.description === "string" ? ` ${definition.description}` : ""
    parts.push(`### ${name}\n\n\`${where}\`.${description}\n\n${table(definition, DEFAULTS[name] ?? new Map())}`)
  }
  return parts.join("\n\n")
}

const START = "<!-- reference:start -->"
const END = "<!-- reference:end -->"

/** Rewrites the generated part of docs/config.md. */
export const writeReference = (file: string, registry: Registry): void => {
  const text = readFileSync(file, "utf8")
  const start = text.indexOf(START)
  const end = text.indexOf(END)
  if (start < 0 || end < start) throw new Error(`${file} has no ${START} … ${END} markers`)
  writeFileSync(file, `${text.slice(0, start + START.length)}\n\n${renderReference(registry)}\n\n${text.slice(end)}`)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // The core's own keys only: each connector documents its settings (`ferry plugins`).
  writeReference(fileURLToPath(new URL("../docs/config.md", import.meta.url)), { types: new Map() })
}
