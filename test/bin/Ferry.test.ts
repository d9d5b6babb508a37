/**
 * bin/ferry.js runs the compiled modules of dist/ while every source has a compiled file
 * at least as new as itself, and the sources through tsx otherwise; run compiled, a
 * TypeScript plugin still loads and gets Ferry's compiled modules when it imports
 * Ferry's own. Each test runs the command in a copy of the repository's sources
 * compiled into its own dist/, so that edits in the checkout cannot change the outcome.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const REPOSITORY = fileURLToPath(new URL("../..", import.meta.url))
const COPIED = [
  "core",
  "connectors",
  "sinks",
  "runtime",
  "config",
  "bin",
  "package.json",
  "tsconfig.json",
  "tsconfig.build.json"
]

/** A plugin written in TypeScript that says where its import of Ferry's core/Errors module resolved. */
const PROBE_PLUGIN = `
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { SourceError } from "../core/Errors.js"

const resolved: string = import.meta.resolve("../core/Errors.js")
const empty = Schema.Struct({})

export default {
  name: "probe",
  sources: [
    {
      type: "probe",
      description: \`core/Errors resolved to \${resolved} (SourceError: \${typeof SourceError})\`,
      storeConfig: empty,
      datasetConfig: empty,
      watermark: empty,
      open: () => Effect.die("never opened")
    }
  ]
}
`

let root = ""

const ferry = (...args: ReadonlyArray<string>) => {
  const result = spawnSync(process.execPath, [path.join(root, "bin", "ferry.js"), ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000
  })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

const probedResolution = (stdout: string): string | undefined => /core\/Errors resolved to (\S+)/.exec(stdout)?.[1]

const SLOW = { timeout: 120_000 }

beforeAll(() => {
  root = fs.mkdtempSync(path.join(tmpdir(), "ferry-bin-"))
  for (const entry of COPIED) fs.cpSync(path.join(REPOSITORY, entry), path.join(root, entry), { recursive: true })
  fs.symlinkSync(path.join(REPOSITORY, "node_modules"), path.join(root, "node_modules"), "dir")
  const build = spawnSync(
    process.execPath,
    [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"],
    {
      cwd: root,
      encoding: "utf8"
    }
  )
  if (build.status !== 0) throw new Error(`tsc failed: ${build.stdout}${build.stderr}`)
  fs.mkdirSync(path.join(root, "plugins"))
  fs.writeFileSync(path.join(root, "plugins", "probe.ts"), PROBE_PLUGIN)
  fs.writeFileSync(path.join(root, "ferry.yaml"), "version: 1\nplugins: [./plugins/probe.ts]\n")
}, SLOW.timeout)

afterAll(() => {
  if (root !== "") fs.rmSync(root, { recursive: true, force: true })
})

describe("bin/ferry.js", SLOW, () => {
  it("runs the compiled modules when they are current, and a TypeScript plugin gets the same modules", () => {
    const result = ferry("plugins", "ferry.yaml")
    expect(result.stderr).toBe("")
    expect(result.status).toBe(0)
    expect(result.stdout).toContain("local  [source, sink] from built-in")
    expect(probedResolution(result.stdout)).toBe(pathToFileURL(path.join(root, "dist", "core", "Errors.js")).href)
    expect(result.stdout).toContain("(SourceError: function)")
  })

  it("runs the sources through tsx once a source is newer than its compiled file", () => {
    const source = path.join(root, "core", "Errors.ts")
    const later = new Date(Date.now() + 60_000)
    fs.utimesSync(source, later, later)
    const result = ferry("plugins", "ferry.yaml")
    expect(result.status).toBe(0)
    expect(probedResolution(result.stdout)).toBe(pathToFileURL(source).href)
    fs.utimesSync(source, new Date(0), new Date(0))
    expect(probedResolution(ferry("plugins", "ferry.yaml").stdout)).toBe(
      pathToFileURL(path.join(root, "dist", "core", "Errors.js")).href
    )
  })

  it("runs the sources when a source has no compiled file", () => {
    fs.writeFileSync(path.join(root, "core", "Added.ts"), "export const added = 1\n")
    const result = ferry("plugins", "ferry.yaml")
    expect(result.status).toBe(0)
    expect(probedResolution(result.stdout)).toBe(pathToFileURL(path.join(root, "core", "Errors.ts")).href)
  })
})
