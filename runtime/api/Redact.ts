/**
 * Secrets out of responses. A connector marks a setting secret by giving it a
 * `Schema.Redacted` type; the API walks the connector's Schema, finds those fields and
 * answers "(write-only)" in their place, so a store's password is written through the
 * API and never read back. A setting whose connector is unknown is withheld whole.
 */
import * as AST from "effect/SchemaAST"
import * as Option from "effect/Option"
import type * as Schema from "effect/Schema"

export const WRITE_ONLY = "(write-only)"

/** Where the secrets of a value are: the value itself, or some of its fields or items. */
type Secrets =
  | { readonly kind: "secret" }
  | {
      readonly kind: "object"
      readonly fields: ReadonlyMap<string, Secrets>
      /** For keys no field names, from a record's value type. */
      readonly rest?: Secrets
    }
  | { readonly kind: "array"; readonly items: Secrets }

const SECRET: Secrets = { kind: "secret" }

const isRedacted = (ast: AST.AST): boolean =>
  ast._tag === "Declaration" &&
  Option.exists(AST.getTypeConstructorAnnotation(ast), (constructor) => constructor._tag === "effect/Redacted")

/** Two descriptions of one place (the members of a union): a key is secret if either says so. */
const merge = (a: Secrets | undefined, b: Secrets | undefined): Secrets | undefined => {
  if (a === undefined) return b
  if (b === undefined) return a
  if (a.kind === "secret" || b.kind === "secret") return SECRET
  if (a.kind === "array" && b.kind === "array") return { kind: "array", items: merge(a.items, b.items) ?? SECRET }
  if (a.kind === "object" && b.kind === "object") {
    const fields = new Map(a.fields)
    for (const [key, value] of b.fields) {
      const merged = merge(fields.get(key), value)
      if (merged !== undefined) fields.set(key, merged)
    }
    const rest = merge(a.rest, b.rest)
    return rest === undefined ? { kind: "object", fields } : { kind: "object", fields, rest }
  }
  // An object in one member and an array in the other: nothing sensible to keep, keep nothing.
  return SECRET
}

/** The secrets of values of this AST, read on its encoded side (the form settings are kept in). */
const secretsOf = (ast: AST.AST, seen: Set<AST.AST>): Secrets | undefined => {
  if (seen.has(ast)) return undefined
  switch (ast._tag) {
    case "Declaration":
      return isRedacted(ast) ? SECRET : undefined
    case "Transformation":
      return isRedacted(ast.to) ? SECRET : secretsOf(ast.from, seen)
    case "Refinement":
      return secretsOf(ast.from, seen)
    case "Suspend": {
      seen.add(ast)
      const inner = secretsOf(ast.f(), seen)
      seen.delete(ast)
      return inner
    }
    case "Union":
      return ast.types.reduce<Secrets | undefined>((acc, member) => merge(acc, secretsOf(member, seen)), undefined)
    case "TypeLiteral": {
      const fields = new Map<string, Secrets>()
      for (const signature of ast.propertySignatures) {
        const secrets = secretsOf(signature.type, seen)
        if (secrets !== undefined) fields.set(String(signature.name), secrets)
      }
      const rest = ast.indexSignatures.reduce<Secrets | undefined>(
        (acc, index) => merge(acc, secretsOf(index.type, seen)),
        undefined
      )
      if (fields.size === 0 && rest === undefined) return undefined
      return rest === undefined ? { kind: "object", fields } : { kind: "object", fields, rest }
    }
    case "TupleType": {
      const types = [...ast.elements.map((element) => element.type), ...ast.rest.map((rest) => rest.type)]
      const items = types.reduce<Secrets | undefined>((acc, type) => merge(acc, secretsOf(type, seen)), undefined)
      return items === undefined ? undefined : { kind: "array", items }
    }
    default:
      return undefined
  }
}

const apply = (value: unknown, secrets: Secrets | undefined): unknown => {
  if (secrets === undefined || value === undefined) return value
  if (secrets.kind === "secret") return WRITE_ONLY
  if (secrets.kind === "array") return Array.isArray(value) ? value.map((item) => apply(item, secrets.items)) : value
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value
  return Object.fromEntries(
    Object.entries(value).map(([key, field]) => [key, apply(field, secrets.fields.get(key) ?? secrets.rest)])
  )
}

const cache = new WeakMap<AST.AST, Secrets | undefined>()

/**
 * The settings with every field the Schema types as `Schema.Redacted` replaced by
 * "(write-only)". Without a Schema (a store type no plugin provides any more), every
 * setting is withheld.
 */
export const redactSettings = (
  settings: Readonly<Record<string, unknown>>,
  schema: Schema.Schema.AnyNoContext | undefined
): Record<string, unknown> => {
  if (schema === undefined) return Object.fromEntries(Object.keys(settings).map((key) => [key, WRITE_ONLY]))
  let secrets = cache.get(schema.ast)
  if (!cache.has(schema.ast)) {
    secrets = secretsOf(schema.ast, new Set())
    cache.set(schema.ast, secrets)
  }
  const redacted = apply(settings, secrets)
  return typeof redacted === "object" && redacted !== null ? (redacted as Record<string, unknown>) : {}
}
