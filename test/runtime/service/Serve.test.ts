/**
 * `ferry serve` as an operator runs it: a child process that applies its config, answers
 * on its port, runs a synchronization asked for over HTTP, reloads its file on SIGHUP
 * (keeping the last good config when the file no longer validates), and exits 0 on
 * SIGTERM.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as fs from "node:fs"
import * as net from "node:net"
import type { Child, Spawned } from "../RunSupport.js"
import { spawnFerry, workspace } from "../RunSupport.js"

const config = (description: string) => `version: 1
state: sqlite:state.db
accounts:
  contoso: { email: data@contoso.example }
  fabrikam: { email: ops@fabrikam.example }
stores:
  src: { type: local, root: ./src, account: contoso }
  out: { type: local, root: ./out, account: fabrikam }
shares:
  - name: retail
    account: contoso
    description: ${description}
    datasets:
      - name: customers
        source: { store: src, table: customers.csv }
        incremental: { cursor: updated_at, key: [id] }
subscriptions:
  - name: contoso-retail
    account: fabrikam
    share: contoso/retail
    accept_terms: true
    mappings:
      customers: { store: out, path: customers/, format: csv }
`

const space = workspace(config("Customers."))
space.write("customers.csv", "id,name,updated_at\n1,Ada,2024-01-01T00:00:00Z\n2,Grace,2024-01-02T00:00:00Z\n")

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

/** Polls until `check` returns a value, or fails after `seconds`. */
const eventually = async <A>(what: string, seconds: number, check: () => Promise<A | undefined>): Promise<A> => {
  const deadline = Date.now() + seconds * 1000
  for (;;) {
    const value = await check().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(200)
  }
}

let port = 0
let token = ""
let service: Child
let exited: Promise<Spawned>

const api = (method: string, route: string, body?: unknown) =>
  fetch(`http://127.0.0.1:${port}/api/v1${route}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })

const SLOW = { timeout: 120_000 }

beforeAll(async () => {
  port = await freePort()
  const early = await spawnFerry(["token", "create", space.config, "--account", "fabrikam"]).exited
  expect(early.code).toBe(2)
  expect(early.stderr).toContain("apply the file first")
  const applied = await spawnFerry(["apply", space.config]).exited
  expect(applied.code, applied.stderr).toBe(0)
  const created = await spawnFerry(["token", "create", space.config, "--account", "fabrikam"]).exited
  expect(created.code, created.stderr).toBe(0)
  token = created.stdout.trim()
  service = spawnFerry(["serve", space.config, "--port", String(port)])
  exited = service.exited
  await eventually("the service to answer", 60, async () => {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`)
    return response.status === 200 ? true : undefined
  })
}, SLOW.timeout)

afterAll(() => {
  service?.kill()
  space.remove()
})

describe("ferry serve", () => {
  it("runs a synchronization asked for over HTTP", SLOW, async () => {
    const asked = await api("POST", "/subscriptions/contoso-retail/synchronize", { mode: "Full" })
    expect(asked.status).toBe(202)
    const { run_id } = (await asked.json()) as { run_id: string }
    const run = await eventually("the run to end", 60, async () => {
      const response = await api("GET", `/subscriptions/contoso-retail/runs/${run_id}`)
      const body = (await response.json()) as { status: string; datasets: ReadonlyArray<{ rows: number }> }
      return ["Queued", "InProgress"].includes(body.status) ? undefined : body
    })
    expect(run.status).toBe("Succeeded")
    expect(run.datasets.map((dataset) => dataset.rows)).toEqual([2])
    const files = fs.readdirSync(space.out("customers")).filter((name) => name.endsWith(".csv"))
    expect(fs.readFileSync(space.out("customers", files[0]!), "utf8")).toContain("Grace")
  })

  it(
    "keeps its last good config when the file no longer validates, and applies a good one on SIGHUP",
    SLOW,
    async () => {
      fs.writeFileSync(space.config, config("Customers.").replace("type: local", "type: nowhere"))
      process.kill(service.pid, "SIGHUP")
      await sleep(3000)
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200)
      expect((await api("GET", "/subscriptions/contoso-retail")).status).toBe(200)

      fs.writeFileSync(space.config, config("Customers, refreshed daily."))
      process.kill(service.pid, "SIGHUP")
      await sleep(3000)
    }
  )

  it("exits 0 on SIGTERM", SLOW, async () => {
    process.kill(service.pid, "SIGTERM")
    const result = await exited
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toContain("no longer validates; the service keeps its last good config")
    expect(result.stderr).toContain('stores.src.type: unknown store type \\"nowhere\\"')
    expect(result.stderr).toMatch(/Applied .*ferry\.yaml: shares \+0 ~1 -0/)
    expect(result.stderr).not.toContain(token)
  })
})
