// What bin/ferry.js may run: the bundle (dist/bundle/, made by bin/bundle.js), the
// compiled modules (dist/, tsc's output of Ferry's sources), or the sources through tsx.
// `npm run build`, which `npm ci` runs as `prepare`, makes the first two; an edited,
// added or pulled source makes both stale.
import { readdirSync, readFileSync, statSync } from "node:fs"
import * as path from "node:path"

/** The folders compiled into dist/ (tsconfig.build.json). */
export const SOURCE_FOLDERS = ["core", "connectors", "sinks", "runtime", "config"]

/** The bundle's entry, relative to the project's root. */
export const BUNDLE_ENTRY = "dist/bundle/ferry.cjs"

const isSource = (name) => name.endsWith(".ts") && !name.endsWith(".d.ts")

const mtime = (file) => {
  try {
    return statSync(file).mtimeMs
  } catch {
    return undefined
  }
}

/** The newest source's time under ROOT/RELATIVE, or undefined when a source has no compiled file at least as new. */
const newestCompiledSource = (root, relative) => {
  let newest = 0
  for (const entry of readdirSync(path.join(root, relative), { withFileTypes: true })) {
    const child = path.join(relative, entry.name)
    if (entry.isDirectory()) {
      const inner = newestCompiledSource(root, child)
      if (inner === undefined) return undefined
      newest = Math.max(newest, inner)
    } else if (isSource(entry.name)) {
      const source = statSync(path.join(root, child)).mtimeMs
      const compiled = mtime(path.join(root, "dist", child.replace(/\.ts$/, ".js")))
      if (compiled === undefined || compiled < source) return undefined
      newest = Math.max(newest, source)
    }
  }
  return newest
}

/**
 * What in ROOT is current: "bundle" when dist/ has a compiled file, no older than its
 * source, for every source file and the bundle is no older than any source;
 * "compiled" with the first only; "sources" otherwise.
 */
export const runnable = (root) => {
  let newest = 0
  try {
    for (const folder of SOURCE_FOLDERS) {
      const inner = newestCompiledSource(root, folder)
      if (inner === undefined) return "sources"
      newest = Math.max(newest, inner)
    }
  } catch {
    return "sources"
  }
  const bundle = mtime(path.join(root, BUNDLE_ENTRY))
  return bundle !== undefined && bundle >= newest ? "bundle" : "compiled"
}

/** True when ROOT/dist holds a compiled file, no older than its source, for every source file of ROOT. */
export const compiledIsCurrent = (root) => runnable(root) !== "sources"

const CONFIG_FILE = /\.(ya?ml|json)$/i
/** A `plugins` key in any YAML or JSON style; a mere mention (a comment) only costs the bundle. */
const PLUGINS_KEY = /\bplugins["']?\s*:/

/**
 * Whether the bundle can run a command: not `ferry serve` (a reloaded config may add
 * plugins), not with FERRY_BUNDLE=0, and not when a config file among the arguments
 * names plugins. The bundle cannot load plugins: they would get second copies of
 * effect, apache-arrow and Ferry's modules.
 */
export const bundleServes = (args, env = process.env) => {
  if (env.FERRY_BUNDLE === "0" || args.includes("serve")) return false
  return !args.some((arg) => {
    if (!CONFIG_FILE.test(arg)) return false
    try {
      return PLUGINS_KEY.test(readFileSync(arg, "utf8"))
    } catch {
      return false
    }
  })
}
