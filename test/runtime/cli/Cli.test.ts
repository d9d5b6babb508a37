/**
 * `ferry` as a user runs it: a child process, its exit code, stdout and stderr. Each
 * process costs seconds of start-up, so they all start at once before the tests.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as fs from "node:fs"
import type { Spawned } from "../RunSupport.js"
import { dataFiles, manifests, shareConfig, spawnFerry, workspace } from "../RunSupport.js"

const SECRET = "s3cr3t-never-shown"

const customers = (rows: string) => {
  const space = workspace(
    shareConfig({
      datasets: ["{ name: customers, source: { store: src, table: customers.csv } }"],
      mappings: ["customers: { store: out, path: customers/, format: csv }"]
    })
  )
  space.write("customers.csv", `id,name,updated_at\n${rows}`)
  return space
}

const good = customers("1,ann,2026-01-01T00:00:01Z\n2,bob,2026-01-01T00:00:02Z\n")
const malformed = customers("1,ann,2026-01-01T00:00:01Z\n2,bob,2026-01-01T00:00:02Z,extra\n")
const invalid = workspace(
  [
    "version: 1",
    "accounts: { contoso: {} }",
    "stores:",
    "  src: { type: local, root: ./src, account: contoso }",
    "shares:",
    "  - name: retail",
    "    account: contoso",
    '    kind: "${env:FERRY_TEST_SECRET}"',
    "    datasets:",
    "      - { name: customers, source: { store: src, table: customers.csv }, colums: [id] }",
    ""
  ].join("\n")
)

/** Seven processes starting at once on a busy two-core machine can take most of a minute. */
const SLOW = { timeout: 150_000 }

const runs: Record<string, Promise<Spawned>> = {}
beforeAll(() => {
  const env = { FERRY_TEST_SECRET: SECRET }
  runs.validateGood = spawnFerry(["validate", good.config], env).exited
  runs.validateBad = spawnFerry(["validate", invalid.config], env).exited
  runs.runGood = spawnFerry(["run", good.config], env).exited
  runs.runMalformed = spawnFerry(["run", malformed.config], env).exited
  runs.runUnknown = spawnFerry(["run", good.config, "--subscription", "nope"], env).exited
  runs.plugins = spawnFerry(["plugins"], env).exited
  runs.schema = spawnFerry(["schema"], env).exited
})
afterAll(async () => {
  await Promise.allSettled(Object.values(runs))
  for (const space of [good, malformed, invalid]) space.remove()
})

describe("ferry validate", SLOW, () => {
  it("exits 0 on a valid config and says what it holds", async () => {
    const result = await runs.validateGood!
    expect(result, result.stderr).toMatchObject({ code: 0 })
    expect(result.stdout).toBe(`${good.config} is valid: 2 stores, 1 share with 1 dataset, 1 subscription.\n`)
  })

  it("exits 2 on an invalid one, with file:line:column lines, and never shows a secret", async () => {
    const result = await runs.validateBad!
    expect(result.code).toBe(2)
    const lines = result.stderr.trim().split("\n")
    expect(lines).toEqual([
      expect.stringMatching(/ferry\.yaml:8:11: shares\[0\]\.kind: expected one of .*, got <redacted>$/),
      expect.stringMatching(/ferry\.yaml:10:74: shares\[0\]\.datasets\[0\]\.colums: unknown key "colums"/),
      "2 errors in " + invalid.config
    ])
    expect(result.stdout + result.stderr).not.toContain(SECRET)
  })
})

describe("ferry run", SLOW, () => {
  it("exits 0 when every dataset is delivered", async () => {
    const result = await runs.runGood!
    expect(result, result.stderr).toMatchObject({ code: 0 })
    expect(result.stdout).toMatch(/^ok +feed: customers \(full\): 2 rows, 1 file, /m)
    expect(dataFiles(good.out("customers"))).toHaveLength(1)
  })

  it("exits 1 when a dataset fails, naming the file and line, and publishes nothing", async () => {
    const result = await runs.runMalformed!
    expect(result.code).toBe(1)
    expect(result.stdout).toContain(
      "FAILED feed: customers (full): source src: customers.csv:3: expected 3 fields, found 4"
    )
    expect(result.stdout).toMatch(/^run \S+ of fabrikam\/feed: failed$/m)
    expect(dataFiles(malformed.out("customers"))).toEqual([])
    expect(manifests(malformed.out("customers"))).toEqual([])
    expect(fs.existsSync(malformed.state)).toBe(true)
  })

  it("exits 2 on an unknown subscription", async () => {
    const result = await runs.runUnknown!
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("ferry run: no subscription named nope; subscriptions are feed")
  })
})

describe("ferry plugins and ferry schema", SLOW, () => {
  it("lists the local store type with its settings", async () => {
    const result = await runs.plugins!
    expect(result, result.stderr).toMatchObject({ code: 0 })
    expect(result.stdout).toMatch(/^local +\[source, sink\] from built-in$/m)
    for (const field of [
      "root: string",
      "table (optional)",
      "files (optional)",
      "column_types (optional)",
      "path: string"
    ]) {
      expect(result.stdout).toContain(field)
    }
  })

  it("prints a JSON Schema in which a store can be of type local", async () => {
    const result = await runs.schema!
    expect(result, result.stderr).toMatchObject({ code: 0 })
    const schema = JSON.parse(result.stdout) as {
      $defs: { Store: { oneOf: ReadonlyArray<{ properties: Record<string, { const?: string }> }> } }
    }
    const local = schema.$defs.Store.oneOf.find((variant) => variant.properties.type?.const === "local")
    expect(local?.properties).toHaveProperty("root")
  })
})
