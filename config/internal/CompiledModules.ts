/**
 * A module resolution hook, registered when Ferry runs compiled (dist/) and a config
 * loads plugins: a plugin that imports one of Ferry's modules by its source path
 * (`core/Batch.ts`, or `core/Batch.js`, which tsx resolves to it) is given the compiled
 * module Ferry runs, so that both share one instance of its classes, tags and Schemas.
 * It runs on Node's loader thread: it imports nothing of Ferry's.
 */
import { existsSync } from "node:fs"
import type { ResolveHook } from "node:module"

/** This file is dist/config/internal/CompiledModules.js when registered. */
const dist = new URL("../../", import.meta.url)
const root = new URL("../", dist)
const SOURCE_FOLDERS = ["core/", "connectors/", "sinks/", "runtime/", "config/"]

export const resolve: ResolveHook = async (specifier, context, nextResolve) => {
  const resolved = await nextResolve(specifier, context)
  if (!resolved.url.startsWith(root.href) || !resolved.url.endsWith(".ts")) return resolved
  const relative = resolved.url.slice(root.href.length)
  if (!SOURCE_FOLDERS.some((folder) => relative.startsWith(folder))) return resolved
  const compiled = new URL(relative.replace(/\.ts$/, ".js"), dist)
  return existsSync(compiled) ? { url: compiled.href, format: "module", shortCircuit: true } : resolved
}
