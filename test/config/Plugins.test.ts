import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { BatchBuilder } from "../../core/Batch.js"
import memoryPlugin, { clearMemoryTables, memoryTables } from "../fixtures/plugins/memory-plugin.js"
import { FIXTURE_PLUGINS, issuesOf, loaded } from "./support.js"

const freshFolder = () => mkdtempSync(path.join(tmpdir(), "ferry-plugins-"))

/** A path to a fixture plugin, relative to `folder` as a config there would write it. */
const fixture = (folder: string, name: string) => {
  const relative = path.relative(folder, path.join(FIXTURE_PLUGINS, name))
  return relative.startsWith(".") ? relative : `./${relative}`
}

const withPlugins = (entries: ReadonlyArray<string>) =>
  `version: 1\nplugins:\n${entries.map((entry) => `  - ${JSON.stringify(entry)}`).join("\n")}\n`

const writePackage = (folder: string, name: string, manifest: object, index: string) => {
  const root = path.join(folder, "node_modules", name)
  mkdirSync(root, { recursive: true })
  writeFileSync(path.join(root, "package.json"), JSON.stringify({ name, type: "module", ...manifest }))
  writeFileSync(path.join(root, "index.js"), index)
}

describe("plugins", () => {
  it.effect("load by path, relative to the config file's folder, into the registry", () =>
    Effect.gen(function* () {
      const folder = freshFolder()
      const spec = fixture(folder, "memory-plugin.ts")
      const config = yield* loaded(withPlugins([spec]), { folder, builtins: [] })
      expect(config.plugins.map((plugin) => [plugin.spec, plugin.resolved])).toEqual([
        [spec, path.join(FIXTURE_PLUGINS, "memory-plugin.ts")]
      ])
      const type = config.registry.types.get("memory_table")
      expect(type?.origin).toBe(spec)
      expect(type?.source).toBeDefined()
      expect(type?.sink).toBeDefined()
    })
  )

  it.effect("load by package name, resolved from the config file's folder", () =>
    Effect.gen(function* () {
      const folder = freshFolder()
      writePackage(folder, "@acme/ferry-empty", { main: "index.js" }, 'export default { name: "empty" }\n')
      writePackage(
        folder,
        "ferry-esm-only",
        { exports: { ".": { import: "./index.js" } } },
        'export default { name: "esm-only" }\n'
      )
      const config = yield* loaded(withPlugins(["@acme/ferry-empty", "ferry-esm-only"]), { folder, builtins: [] })
      expect(config.plugins.map((plugin) => plugin.plugin.name)).toEqual(["empty", "esm-only"])
      expect(config.plugins[0]!.resolved).toBe(path.join(folder, "node_modules", "@acme", "ferry-empty", "index.js"))
    })
  )

  it.effect("that fail are each reported at their entry", () =>
    Effect.gen(function* () {
      const folder = freshFolder()
      const issues = yield* issuesOf(
        withPlugins([
          "./missing.js",
          "@acme/ferry-absent",
          fixture(folder, "bad-plugin.ts"),
          fixture(folder, "no-default-plugin.ts")
        ]),
        { folder, builtins: [] }
      )
      expect(issues).toEqual([
        `3:5 plugins[0]: plugin ./missing.js: file not found: ${path.join(folder, "missing.js")}`,
        `4:5 plugins[1]: plugin @acme/ferry-absent: package "@acme/ferry-absent" is not installed where ${folder} can see it (npm install @acme/ferry-absent)`,
        `5:5 plugins[2]: plugin ${fixture(folder, "bad-plugin.ts")}: its default export is not a Ferry plugin: ` +
          'sources[0].type: expected a type name in snake_case, such as acme_crm, got "Not-Snake"; ' +
          "sources[0].description: expected a string, got 42; " +
          'sources[0]: missing required key "storeConfig"; sources[0]: missing required key "open"; ' +
          'sources[0]: missing required key "datasetConfig"; sources[0]: missing required key "watermark"',
        `6:5 plugins[3]: plugin ${fixture(folder, "no-default-plugin.ts")}: the module has no default export; a plugin module does \`export default { name, sources, sinks }\``
      ])
    })
  )

  it.effect("may not bring a type that is already registered", () =>
    Effect.gen(function* () {
      const folder = freshFolder()
      const spec = fixture(folder, "memory-plugin.ts")
      expect(yield* issuesOf(withPlugins([spec]), { folder, builtins: [memoryPlugin] })).toEqual([
        `3:5 plugins[0]: plugin ${spec}: source type "memory_table" is already provided by built-in`
      ])
    })
  )

  it.effect("that failed to load are named when a store type is unknown", () =>
    Effect.gen(function* () {
      const folder = freshFolder()
      const text = `${withPlugins(["./acme.js"])}accounts: { contoso: {} }\nstores:\n  crm: { type: acme_crm, account: contoso }\n`
      expect(yield* issuesOf(text, { folder, builtins: [memoryPlugin] })).toEqual([
        `3:5 plugins[0]: plugin ./acme.js: file not found: ${path.join(folder, "acme.js")}`,
        '6:16 stores.crm.type: unknown store type "acme_crm"; known types are: memory_table (a plugin failed to load and may be the one that brings it)'
      ])
    })
  )

  it.scoped("are the same modules the tests import, so a test sees what a loaded sink committed", () =>
    Effect.gen(function* () {
      clearMemoryTables()
      const folder = freshFolder()
      const config = yield* loaded(withPlugins([fixture(folder, "memory-plugin.ts")]), { folder, builtins: [] })
      expect(config.plugins[0]!.plugin).toBe(memoryPlugin)
      const sink = config.registry.types.get("memory_table")!.sink!
      const session = yield* sink.open({ tables: {} }, { store: "out", baseDir: folder })
      const columns = [{ name: "id", type: { kind: "int32" as const }, nullable: false }]
      const writer = yield* session.tables!.open({ table: "plugin-check" }, columns, {
        runId: "run-1",
        dataset: "d",
        mode: "replace",
        key: []
      })
      const builder = new BatchBuilder(columns)
      builder.appendRow([7])
      yield* writer.write(builder.finish())
      yield* writer.commit({ runId: "run-1", watermark: null, rows: 1 })
      expect(memoryTables.get("plugin-check")?.runs).toEqual(["run-1"])
      expect(yield* session.isCommitted({ table: "plugin-check" }, "run-1")).toBe(true)
    })
  )
})
