/**
 * `ferry apply` and `ferry token create` as a user runs them: child processes, their exit
 * codes and output, and what they leave in the state database. Processes are slow to
 * start, so there are few, and the independent ones start at once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"
import * as path from "node:path"
import type { Spawned } from "../RunSupport.js"
import { spawnFerry, workspace } from "../RunSupport.js"

const CONFIG = `version: 1
state: sqlite:state.db
accounts:
  contoso: { email: data@contoso.example }
  fabrikam: {}
stores:
  src: { type: local, root: ./src, account: contoso }
  out: { type: local, root: ./out, account: fabrikam }
shares:
  - name: retail
    account: contoso
    datasets:
      - { name: customers, source: { store: src, table: customers.csv } }
    invitations:
      - { to: ops@fabrikam.example }
subscriptions:
  - name: contoso-retail
    account: fabrikam
    share: contoso/retail
    accept_terms: true
    mappings:
      customers: { store: out, path: customers/, format: csv }
`

const space = workspace(CONFIG)
const invalid = workspace(
  "version: 1\naccounts: { contoso: {} }\nshares: [{ name: retail, account: nobody, datasets: [] }]\n"
)
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")
const query = <A extends object>(statement: string): Promise<ReadonlyArray<A>> =>
  Effect.runPromise(
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe<A>(statement)).pipe(
      Effect.provide(SqliteClient.layer({ filename: path.join(space.dir, "state.db"), readonly: true })),
      Effect.orDie
    )
  )

const SLOW = { timeout: 150_000 }

const runs: Record<string, Promise<Spawned>> = {}
beforeAll(() => {
  const sequence = (async () => {
    const first = await spawnFerry(["apply", space.config]).exited
    const second = await spawnFerry(["apply", space.config]).exited
    const token = await spawnFerry(["token", "create", space.config, "--account", "contoso"]).exited
    const unknown = await spawnFerry(["token", "create", space.config, "--account", "nobody"]).exited
    return { first, second, token, unknown }
  })()
  runs.applyFirst = sequence.then((all) => all.first)
  runs.applySecond = sequence.then((all) => all.second)
  runs.token = sequence.then((all) => all.token)
  runs.tokenUnknown = sequence.then((all) => all.unknown)
  runs.tokenNeither = spawnFerry(["token", "create", invalid.config]).exited
  runs.applyInvalid = spawnFerry(["apply", invalid.config]).exited
})
afterAll(async () => {
  await Promise.allSettled(Object.values(runs))
  for (const place of [space, invalid]) place.remove()
})

describe("ferry apply", SLOW, () => {
  it("writes the file's resources, prints each change and a new invitation's accept token once", async () => {
    const result = await runs.applyFirst!
    expect(result, result.stderr).toMatchObject({ code: 0 })
    const lines = result.stdout.trim().split("\n")
    expect(lines.slice(0, 9)).toEqual([
      "created account contoso",
      "created account fabrikam",
      "created store contoso/src",
      "created store fabrikam/out",
      "created share contoso/retail",
      "created dataset contoso/retail/customers",
      "created invitation contoso/retail/ops@fabrikam.example",
      "created subscription fabrikam/contoso-retail",
      "created mapping fabrikam/contoso-retail/customers"
    ])
    expect(lines[9]).toMatch(
      /^Invitation \S+ of ops@fabrikam\.example to share contoso\/retail was not mailed; its accept token, shown only now:$/
    )
    const token = lines[10]!.trim()
    expect(token).toMatch(/^ferry_inv_[A-Za-z0-9_-]{43}$/)
    expect(await query<{ token_hash: string; status: string }>("SELECT token_hash, status FROM invitations")).toEqual([
      { token_hash: sha256(token), status: "Pending" }
    ])
  })

  it("changes nothing the second time", async () => {
    const result = await runs.applySecond!
    expect(result, result.stderr).toMatchObject({ code: 0 })
    expect(result.stdout).toBe("Nothing to change: the state holds what the file says (9 resources).\n")
  })

  it("exits 2 on an invalid config, writing nothing", async () => {
    const result = await runs.applyInvalid!
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('unknown account "nobody"')
    expect(result.stdout).toBe("")
  })
})

describe("ferry token create", SLOW, () => {
  it("prints the secret alone on stdout, once, and keeps only its SHA-256", async () => {
    const result = await runs.token!
    expect(result, result.stderr).toMatchObject({ code: 0 })
    expect(result.stdout).toMatch(/^ferry_[A-Za-z0-9_-]{43}\n$/)
    expect(result.stderr).toContain("Created a token for account contoso")
    const secret = result.stdout.trim()
    expect(await query<{ account: string; secret_hash: string }>("SELECT account, secret_hash FROM tokens")).toEqual([
      { account: "contoso", secret_hash: sha256(secret) }
    ])
  })

  it("exits 2 for an unknown account, or without --account or --operator", async () => {
    const unknown = await runs.tokenUnknown!
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain("ferry token create: There is no account nobody")
    expect(unknown.stdout).toBe("")
    const neither = await runs.tokenNeither!
    expect(neither.code).toBe(2)
    expect(neither.stderr).toContain("give either --account ACCOUNT or --operator")
  })
})
