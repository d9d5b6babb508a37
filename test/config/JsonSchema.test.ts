import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { configJsonSchema } from "../../config/JsonSchema.js"
import { FIXTURE_PLUGINS, loaded } from "./support.js"

/** The value at a path of a JSON document. */
const at = (json: unknown, ...path: ReadonlyArray<string | number>): unknown =>
  path.reduce<unknown>(
    (node, key) => (typeof node === "object" && node !== null ? (node as Record<string, unknown>)[key] : undefined),
    json
  )

const keys = (json: unknown): ReadonlyArray<string> => Object.keys(json as object)

describe("configJsonSchema", () => {
  it.effect("includes the store types of loaded plugins, from their Schemas", () =>
    Effect.gen(function* () {
      const config = yield* loaded(`version: 1\nplugins: ["${path.join(FIXTURE_PLUGINS, "memory-plugin.ts")}"]\n`, {
        builtins: []
      })
      const schema = configJsonSchema(config.registry)
      expect(at(schema, "$schema")).toBe("http://json-schema.org/draft-07/schema#")
      expect(at(schema, "title")).toBe("Ferry share config")
      expect(at(schema, "required")).toEqual(["version"])
      expect(at(schema, "additionalProperties")).toBe(false)
      expect(keys(at(schema, "properties"))).toEqual([
        "version",
        "state",
        "plugins",
        "limits",
        "smtp",
        "service",
        "accounts",
        "stores",
        "shares",
        "subscriptions"
      ])

      const store = at(schema, "$defs", "Store", "oneOf", 0)
      expect(at(store, "title")).toBe("memory_table")
      expect(at(store, "properties", "type")).toEqual({
        const: "memory_table",
        description: "Tables held in memory, declared in the store config (tests)."
      })
      expect(keys(at(store, "properties"))).toEqual(["type", "account", "tables"])
      expect(at(store, "required")).toEqual(["type", "account"])
      expect(at(store, "additionalProperties")).toBe(false)

      const source = at(schema, "$defs", "DatasetSource", "anyOf", 0)
      expect(keys(at(source, "properties"))).toEqual(["store", "table", "batch_rows"])
      expect(at(source, "required")).toEqual(["store", "table"])
      expect(at(source, "properties", "table", "description")).toBe("The table to read.")

      const mapping = at(schema, "$defs", "Mapping", "anyOf", 0)
      expect(keys(at(mapping, "properties"))).toEqual(["store", "format", "csv", "parquet", "jsonl", "table"])
      expect(at(mapping, "properties", "format", "enum")).toEqual(["csv", "parquet", "jsonl"])
      expect(at(schema, "$defs", "CsvOptions", "properties", "delimiter", "examples")).toEqual([",", ";", "\t", "|"])
    })
  )

  it.effect("carries descriptions and examples of the config's own keys", () =>
    Effect.gen(function* () {
      const schema = configJsonSchema((yield* loaded("version: 1\n")).registry)
      expect(at(schema, "properties", "limits", "properties", "concurrency", "description")).toBe(
        "Datasets transferred at once, across all shares and subscriptions."
      )
      const defs = at(schema, "$defs")
      expect(at(defs, "Schedule", "properties", "at", "examples")).toEqual(["00:15", "02:00"])
      expect(at(defs, "Dataset", "properties", "filter", "examples")).toEqual(["region = 'EU' and amount >= 100"])
      expect(at(defs, "Incremental", "properties", "lookback", "examples")).toEqual(["30s", "5m", "2h", "1d"])
      expect(at(defs, "Subscription", "properties", "accept_terms", "enum")).toEqual([true])
      expect(at(defs, "Share", "properties", "kind", "enum")).toEqual(["snapshot", "in_place"])
    })
  )
})
