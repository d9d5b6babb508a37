// Whether dist/ (tsc's output of Ferry's sources, made by `npm run build`, which `npm ci`
// runs as `prepare`) may run in place of the sources: every source file has a compiled
// file at least as new as itself. An edited, added or pulled source makes it stale.
import { readdirSync, statSync } from "node:fs"
import * as path from "node:path"

/** The folders compiled into dist/ (tsconfig.build.json). */
export const SOURCE_FOLDERS = ["core", "connectors", "sinks", "runtime", "config"]

const isSource = (name) => name.endsWith(".ts") && !name.endsWith(".d.ts")

const compiledMtime = (file) => {
  try {
    return statSync(file).mtimeMs
  } catch {
    return undefined
  }
}

const folderIsCurrent = (root, relative) => {
  for (const entry of readdirSync(path.join(root, relative), { withFileTypes: true })) {
    const child = path.join(relative, entry.name)
    if (entry.isDirectory()) {
      if (!folderIsCurrent(root, child)) return false
    } else if (isSource(entry.name)) {
      const compiled = compiledMtime(path.join(root, "dist", child.replace(/\.ts$/, ".js")))
      if (compiled === undefined || compiled < statSync(path.join(root, child)).mtimeMs) return false
    }
  }
  return true
}

/** True when ROOT/dist holds a compiled file, no older than its source, for every source file of ROOT. */
export const compiledIsCurrent = (root) => {
  try {
    return SOURCE_FOLDERS.every((folder) => folderIsCurrent(root, folder))
  } catch {
    return false
  }
}
