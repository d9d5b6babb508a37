/**
 * bin/ferry.js runs the bundle of dist/bundle/ while it is current and no plugin is in
 * play, the compiled modules of dist/ while every source has a compiled file at least
 * as new as itself, and the sources through tsx otherwise; run compiled, a TypeScript
 * plugin still loads and gets Ferry's compiled modules when it imports Ferry's own.
 * Each test runs the command in a copy of the repository's sources built into its own
 * dist/, so that edits in the checkout cannot change the outcome.
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

/** A share of a CSV table into Parquet, between two local folders: no plugin. */
const PLAIN_CONFIG = `version: 1
state: sqlite:./plain-state.db
accounts: { provider: {}, consumer: {} }
stores:
  input: { type: local, root: ./input, account: provider }
  output: { type: local, root: ./output, account: consumer }
shares:
  - name: numbers
    account: provider
    kind: snapshot
    datasets:
      - name: numbers
        source: { store: input, table: numbers.csv }
subscriptions:
  - name: numbers-copy
    account: consumer
    share: provider/numbers
    accept_terms: true
    trigger: manual
    mappings:
      numbers: { store: output, path: numbers/, format: parquet }
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

/** A module resolution hook that appends every URL it resolves to the file named by FERRY_TEST_RESOLVED. */
const RECORDING_HOOK = `
import { appendFileSync } from "node:fs"
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context)
  appendFileSync(process.env.FERRY_TEST_RESOLVED, resolved.url + "\\n")
  return resolved
}
`

/** Runs bin/ferry.js with a hook recording the modules it loads: what it ran, and which of Ferry's entry points. */
const ferryRecorded = (env: Record<string, string>, ...args: ReadonlyArray<string>) => {
  const log = path.join(root, `resolved-${Date.now()}.txt`)
  fs.writeFileSync(log, "")
  const register = `data:text/javascript,import { register } from "node:module"; register(${JSON.stringify(
    pathToFileURL(path.join(root, "recording-hook.mjs")).href
  )});`
  const result = spawnSync(process.execPath, ["--import", register, path.join(root, "bin", "ferry.js"), ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, ...env, FERRY_TEST_RESOLVED: log }
  })
  const urls = fs.readFileSync(log, "utf8").split("\n")
  const loaded = (relative: string) => urls.includes(pathToFileURL(path.join(root, relative)).href)
  // The bundle is a script compiled by bin/bundled.js, which module resolution does not see.
  const entry = loaded("bin/bundled.js")
    ? "bundle"
    : loaded("dist/runtime/cli/main.js")
      ? "compiled"
      : loaded("runtime/cli/main.ts")
        ? "sources"
        : "none"
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, entry }
}

const probedResolution = (stdout: string): string | undefined => /core\/Errors resolved to (\S+)/.exec(stdout)?.[1]

const SLOW = { timeout: 120_000 }

beforeAll(() => {
  root = fs.mkdtempSync(path.join(tmpdir(), "ferry-bin-"))
  for (const entry of COPIED) fs.cpSync(path.join(REPOSITORY, entry), path.join(root, entry), { recursive: true })
  fs.symlinkSync(path.join(REPOSITORY, "node_modules"), path.join(root, "node_modules"), "dir")
  const steps = [
    [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"],
    [path.join(root, "bin", "bundle.js")]
  ]
  for (const step of steps) {
    const build = spawnSync(process.execPath, step, { cwd: root, encoding: "utf8" })
    if (build.status !== 0) throw new Error(`${path.basename(step[0]!)} failed: ${build.stdout}${build.stderr}`)
  }
  fs.mkdirSync(path.join(root, "plugins"))
  fs.writeFileSync(path.join(root, "plugins", "probe.ts"), PROBE_PLUGIN)
  fs.writeFileSync(path.join(root, "ferry.yaml"), "version: 1\nplugins: [./plugins/probe.ts]\n")
  fs.writeFileSync(path.join(root, "plain.yaml"), PLAIN_CONFIG)
  fs.mkdirSync(path.join(root, "input"))
  fs.writeFileSync(path.join(root, "input", "numbers.csv"), "n,name\n1,one\n2,two\n3,three\n")
  fs.writeFileSync(path.join(root, "recording-hook.mjs"), RECORDING_HOOK)
}, SLOW.timeout)

afterAll(() => {
  if (root !== "") fs.rmSync(root, { recursive: true, force: true })
})

describe("bin/ferry.js", SLOW, () => {
  it("runs the bundle when it is current and the command's config names no plugin", () => {
    const validated = ferryRecorded({}, "validate", "plain.yaml")
    expect(validated.stderr).toBe("")
    expect(validated.status).toBe(0)
    expect(validated.entry).toBe("bundle")
    const compiled = ferryRecorded({ FERRY_BUNDLE: "0" }, "validate", "plain.yaml")
    expect(compiled.entry).toBe("compiled")
    expect(compiled.stdout).toBe(validated.stdout)
    // A run through the bundle: SQLite state, the CSV reader, the Parquet writer's worker thread.
    const run = ferryRecorded({}, "run", "plain.yaml", "--full")
    expect(run.stderr).toBe("")
    expect(run.status).toBe(0)
    expect(run.entry).toBe("bundle")
    expect(run.stdout).toContain("numbers (full): 3 rows, 1 file")
    const parts = fs.readdirSync(path.join(root, "output", "numbers")).filter((name) => name.endsWith(".parquet"))
    expect(parts).toHaveLength(1)
    expect(
      fs
        .readFileSync(path.join(root, "output", "numbers", parts[0]!))
        .subarray(0, 4)
        .toString()
    ).toBe("PAR1")
  })

  it("builds an ASCII bundle, which bin/bundled.js reads as latin1, without pg's Cloudflare probe", () => {
    const bundle = fs.readFileSync(path.join(root, "dist", "bundle", "ferry.cjs"))
    expect(bundle.findIndex((byte) => byte > 0x7f)).toBe(-1)
    // The probe constructs a Response, which loads undici at every start.
    expect(bundle.includes("isCloudflareRuntime")).toBe(false)
  })

  it("keeps a code cache per command beside the bundle: written by its first run, then used, and replaced when V8 refuses it", () => {
    const cache = path.join(root, "dist", "bundle", "ferry.cjs.validate.cache")
    fs.rmSync(cache, { force: true })
    const first = ferryRecorded({}, "validate", "plain.yaml")
    expect(first.status).toBe(0)
    expect(first.entry).toBe("bundle")
    const written = fs.statSync(cache)
    expect(written.size).toBeGreaterThan(100_000)
    // A cache V8 takes is left as it is: a new one would be a new file, renamed over it.
    const second = ferryRecorded({}, "validate", "plain.yaml")
    expect(second.stdout).toBe(first.stdout)
    expect(fs.statSync(cache).ino).toBe(written.ino)
    // One it refuses (here: not a cache at all) does not stop the run, and is written anew.
    fs.writeFileSync(cache, "not a code cache")
    const refused = ferryRecorded({}, "validate", "plain.yaml")
    expect(refused.stderr).toBe("")
    expect(refused.stdout).toBe(first.stdout)
    expect(fs.readFileSync(cache).length).toBeGreaterThan(100_000)
    // Another command has a cache of its own.
    expect(ferryRecorded({}, "--version").status).toBe(0)
    expect(fs.existsSync(path.join(root, "dist", "bundle", "ferry.cjs.default.cache"))).toBe(true)
    expect(fs.statSync(cache).ino).not.toBe(written.ino)
  })

  it("runs the compiled modules for a config that names plugins, and the bundle refuses plugins itself", () => {
    expect(ferryRecorded({}, "plugins", "ferry.yaml").entry).toBe("compiled")
    const direct = spawnSync(
      process.execPath,
      [path.join(root, "dist", "bundle", "ferry.cjs"), "plugins", "ferry.yaml"],
      {
        cwd: root,
        encoding: "utf8",
        timeout: 60_000
      }
    )
    expect(direct.status).not.toBe(0)
    expect(direct.stderr).toContain("runs bundled (dist/bundle/), which cannot load plugins")
    expect(direct.stderr).toContain("FERRY_BUNDLE=0")
  })

  it("keeps the bundle from ferry serve, from FERRY_BUNDLE=0 and from any config file naming plugins", async () => {
    const { bundleServes } = (await import(pathToFileURL(path.join(root, "bin", "compiled.js")).href)) as {
      bundleServes: (args: ReadonlyArray<string>, env: Record<string, string>) => boolean
    }
    const json = path.join(root, "flow.json")
    fs.writeFileSync(json, '{"version": 1, "plugins": ["./plugins/probe.ts"]}')
    expect(bundleServes(["run", path.join(root, "plain.yaml"), "--full"], {})).toBe(true)
    expect(bundleServes(["plugins"], {})).toBe(true)
    expect(bundleServes(["serve", path.join(root, "plain.yaml")], {})).toBe(false)
    expect(bundleServes(["run", path.join(root, "plain.yaml")], { FERRY_BUNDLE: "0" })).toBe(false)
    expect(bundleServes(["run", path.join(root, "ferry.yaml")], {})).toBe(false)
    expect(bundleServes(["validate", json], {})).toBe(false)
  })

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
