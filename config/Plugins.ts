/**
 * Loading the plugins a config lists: a path (relative to the config file's folder)
 * or an npm package name resolved from that folder, imported, and its default export
 * checked against the plugin schema. A plugin that fails leaves the others loaded.
 */
import { createRequire } from "node:module"
import { existsSync, readFileSync } from "node:fs"
import { stat } from "node:fs/promises"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { PluginError } from "../core/Errors.js"
import type { Plugin } from "../core/Plugin.js"
import { PluginShape } from "../core/Plugin.js"
import type { Registry } from "../core/Registry.js"
import { makeRegistry, validatePlugin } from "../core/Registry.js"
import type { LoadedPlugin } from "./FerryConfig.js"
import { issueSites } from "./internal/Issues.js"
import { preparePluginImports } from "./internal/PluginImports.js"
import { formatPath } from "./internal/Reporter.js"

/** True when the entry names a file rather than a package. */
export const isPathSpec = (spec: string): boolean =>
  spec.startsWith("./") || spec.startsWith("../") || spec === "." || spec === ".." || path.isAbsolute(spec)

const errorText = (error: unknown): string => (error instanceof Error ? error.message.split("\n")[0]! : String(error))

const CONDITIONS = ["import", "node", "default"] as const

/** The file an `exports` entry maps the package root to, for ESM-only packages that `require` cannot resolve. */
const exportedRoot = (exports: unknown): string | undefined => {
  if (typeof exports === "string") return exports
  if (typeof exports !== "object" || exports === null || Array.isArray(exports)) return undefined
  const entries = exports as Record<string, unknown>
  if ("." in entries) return exportedRoot(entries["."])
  for (const condition of CONDITIONS) {
    const target = exportedRoot(entries[condition])
    if (target !== undefined) return target
  }
  return undefined
}

const resolveEsmOnly = (spec: string, require: NodeJS.Require): string | undefined => {
  for (const folder of require.resolve.paths(spec) ?? []) {
    const manifest = path.join(folder, spec, "package.json")
    if (!existsSync(manifest)) continue
    const target = exportedRoot((JSON.parse(readFileSync(manifest, "utf8")) as { exports?: unknown }).exports)
    return target === undefined ? undefined : path.join(folder, spec, target)
  }
  return undefined
}

const resolvePackage = (spec: string, baseDir: string): Effect.Effect<string, PluginError> =>
  Effect.try({
    try: () => {
      const require = createRequire(path.join(baseDir, "package.json"))
      try {
        return require.resolve(spec)
      } catch (error) {
        const resolved =
          (error as { code?: unknown }).code === "ERR_PACKAGE_PATH_NOT_EXPORTED"
            ? resolveEsmOnly(spec, require)
            : undefined
        if (resolved === undefined) throw error
        return resolved
      }
    },
    catch: (error) =>
      new PluginError({
        plugin: spec,
        message:
          (error as { code?: unknown }).code === "MODULE_NOT_FOUND"
            ? `package "${spec}" is not installed where ${baseDir} can see it (npm install ${spec})`
            : `package "${spec}" cannot be resolved from ${baseDir}: ${errorText(error)}`
      })
  })

const resolveSpec = (spec: string, baseDir: string): Effect.Effect<string, PluginError> =>
  isPathSpec(spec)
    ? Effect.gen(function* () {
        const file = path.resolve(baseDir, spec)
        const found = yield* Effect.promise(() =>
          stat(file).then(
            (stats) => stats.isFile(),
            () => false
          )
        )
        if (!found) return yield* new PluginError({ plugin: spec, message: `file not found: ${file}` })
        return file
      })
    : resolvePackage(spec, baseDir)

/** Imports one plugin module and checks its default export. */
export const loadPlugin = (spec: string, baseDir: string): Effect.Effect<LoadedPlugin, PluginError> =>
  Effect.gen(function* () {
    const resolved = yield* resolveSpec(spec, baseDir)
    yield* preparePluginImports(spec)
    const module = yield* Effect.tryPromise({
      try: () => import(pathToFileURL(resolved).href) as Promise<Record<string, unknown>>,
      catch: (error) => new PluginError({ plugin: spec, message: `the module failed to load: ${errorText(error)}` })
    })
    if (!("default" in module) || module.default === undefined) {
      return yield* new PluginError({
        plugin: spec,
        message: "the module has no default export; a plugin module does `export default { name, sources, sinks }`"
      })
    }
    const shape = Schema.decodeUnknownEither(PluginShape, { errors: "all", onExcessProperty: "ignore" })(module.default)
    if (Either.isLeft(shape)) {
      const problems = issueSites(shape.left.issue, [], { isSecret: () => false }).map(
        (site) => `${site.path.length === 0 ? "" : `${formatPath(site.path)}: `}${site.message}`
      )
      return yield* new PluginError({
        plugin: spec,
        message: `its default export is not a Ferry plugin: ${problems.join("; ")}`
      })
    }
    const plugin = yield* validatePlugin(spec, module.default)
    return { spec, resolved, plugin }
  })

/** Loads every entry in order; each result stands for the entry at the same index. */
export const loadPlugins = (
  specs: ReadonlyArray<string>,
  baseDir: string
): Effect.Effect<ReadonlyArray<Either.Either<LoadedPlugin, PluginError>>> =>
  Effect.forEach(specs, (spec) => Effect.either(loadPlugin(spec, baseDir)))

/**
 * The registry of the built-ins and the loaded plugins, in that order. A plugin that
 * clashes with what is already registered is left out and reported by its index.
 */
export const buildRegistry = (
  builtins: ReadonlyArray<Plugin>,
  loaded: ReadonlyArray<{ readonly index: number; readonly plugin: LoadedPlugin }>
): {
  readonly registry: Registry
  readonly rejected: ReadonlyArray<{ readonly index: number | undefined; readonly error: PluginError }>
} => {
  const rejected: Array<{ index: number | undefined; error: PluginError }> = []
  const accepted: Array<{ origin: string; plugin: Plugin }> = []
  const candidates = [
    ...builtins.map((plugin) => ({ index: undefined, origin: "built-in", plugin })),
    ...loaded.map(({ index, plugin }) => ({ index, origin: plugin.spec, plugin: plugin.plugin }))
  ]
  let registry: Registry = { types: new Map() }
  for (const candidate of candidates) {
    const next = makeRegistry([...accepted, { origin: candidate.origin, plugin: candidate.plugin }])
    if (Either.isLeft(next)) {
      rejected.push({ index: candidate.index, error: next.left })
    } else {
      accepted.push({ origin: candidate.origin, plugin: candidate.plugin })
      registry = next.right
    }
  }
  return { registry, rejected }
}
