/**
 * The service benchmark compares Ferry's API with a minimal peer; the comparison holds
 * only if the peer answers what Ferry answers. On a small state database seeded as the
 * benchmark seeds it (SQLite and PostgreSQL), Ferry's server and the peer get the same
 * requests, pages and errors included, and must answer with the same status and JSON.
 * The scheduler's measurement queues a run for every scheduled subscription while the
 * executor's runs wait at the parked store.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import pg from "pg"
import { v7 as uuidv7 } from "uuid"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Peer } from "../../benchmarks/internal/ApiPeer.js"
import { startPeer } from "../../benchmarks/internal/ApiPeer.js"
import { schedulerRound } from "../../benchmarks/internal/ApiScheduler.js"
import type { ApiDatabase, Seeded } from "../../benchmarks/internal/ApiSeed.js"
import { CONSUMER, seedDatabase, stateOf, storesLayer } from "../../benchmarks/internal/ApiSeed.js"
import { makeRegistry } from "../../core/Registry.js"
import * as Server from "../../runtime/api/Server.js"
import { builtins } from "../../runtime/Builtins.js"
import { ControlStore } from "../../runtime/control/ControlStore.js"
import * as ExecutorLive from "../../runtime/service/ExecutorLive.js"
import * as Metrics from "../../runtime/service/Metrics.js"
import * as Planner from "../../runtime/service/Planner.js"
import * as SmtpMailer from "../../runtime/service/SmtpMailer.js"
import { randomName, TEST_URL } from "../support/postgres.js"

const registry = Either.getOrThrow(makeRegistry(builtins.map((plugin) => ({ origin: "built-in", plugin }))))

const quiet = Logger.minimumLogLevel(LogLevel.Warning)

/** Ferry's server in this process over the database, its executor never woken (a queued request stays queued). */
const startFerry = async (db: ApiDatabase, dir: string) => {
  const scope = Effect.runSync(Scope.make())
  const layer = Server.layer({ port: 0, registry }).pipe(
    Layer.provide(ExecutorLive.layer({ runs: 1, concurrency: 1, poll: "1 hour" })),
    Layer.provide(Planner.layer({ builtins, baseDir: dir })),
    Layer.provide(Metrics.layer),
    Layer.provide(SmtpMailer.layerDisabled),
    Layer.provideMerge(storesLayer(db))
  )
  const context = await Effect.runPromise(Layer.buildWithScope(layer, scope).pipe(Effect.provide(quiet)))
  const address = Context.get(context, HttpServer.HttpServer).address
  if (address._tag !== "TcpAddress") throw new Error("the server is not on TCP")
  return {
    baseUrl: `http://127.0.0.1:${address.port}`,
    run: <A, E>(effect: Effect.Effect<A, E, ControlStore>) => Effect.runPromise(Effect.provide(effect, context)),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

interface Answer {
  readonly status: number
  readonly body: unknown
}

const get = async (baseUrl: string, requestPath: string, token: string): Promise<Answer> => {
  const response = await fetch(`${baseUrl}${requestPath}`, { headers: { authorization: `Bearer ${token}` } })
  return { status: response.status, body: JSON.parse(await response.text()) as unknown }
}

/** Errors compare by status and code; the messages are each server's own words. */
const comparable = (answer: Answer) => {
  if (answer.status === 200) return answer
  const error = (answer.body as { readonly error?: { readonly code?: unknown } }).error
  return { status: answer.status, code: error?.code }
}

const SMALL = { shares: 12, subscriptions: 3, runs: 30 }

const databases: ReadonlyArray<{
  readonly name: string
  readonly make: (dir: string) => Promise<{ readonly db: ApiDatabase; readonly drop: () => Promise<void> }>
}> = [
  {
    name: "SQLite",
    make: (dir) => Promise.resolve({ db: { kind: "sqlite", file: path.join(dir, "state.db") }, drop: async () => {} })
  },
  {
    name: "PostgreSQL",
    make: (_dir) => {
      const schema = randomName("ferry_test_bench")
      const url = new URL(TEST_URL)
      url.searchParams.set("schema", schema)
      return Promise.resolve({
        db: { kind: "postgres", url: url.toString(), schema },
        drop: async () => {
          const client = new pg.Client({ connectionString: TEST_URL })
          await client.connect()
          await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
          await client.end()
        }
      })
    }
  }
]

describe.each(databases)("the benchmark's peer on $name", ({ make }) => {
  let dir: string
  let drop: () => Promise<void>
  let seeded: Seeded
  let ferry: Awaited<ReturnType<typeof startFerry>>
  let peer: Peer
  let queuedRun: string

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-bench-api-"))
    const made = await make(dir)
    drop = made.drop
    seeded = await seedDatabase(made.db, path.join(dir, "seed.log"), SMALL)
    ferry = await startFerry(made.db, dir)
    peer = await startPeer(stateOf(made.db), 0)
    queuedRun = uuidv7()
    await ferry.run(
      Effect.flatMap(ControlStore, (control) =>
        control.requestRun(
          { kind: "account", account: CONSUMER },
          {
            runId: queuedRun,
            account: CONSUMER,
            subscription: seeded.subscriptions[1]!,
            mode: "full",
            requestedAt: new Date(),
            requestedBy: CONSUMER
          }
        )
      )
    )
  })

  afterAll(async () => {
    await peer?.close()
    await ferry?.close()
    await drop?.()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  const same = async (requestPath: string, token: string): Promise<Answer> => {
    const ours = await get(ferry.baseUrl, requestPath, token)
    const theirs = await get(`http://127.0.0.1:${peer.port}`, requestPath, token)
    expect(comparable(theirs)).toEqual(comparable(ours))
    return ours
  }

  it("lists shares page by page as Ferry does", async () => {
    const first = await same("/api/v1/shares?limit=5", seeded.providerToken)
    const page = first.body as { readonly items: ReadonlyArray<{ readonly name: string }>; readonly next: string }
    expect(page.items.map((share) => share.name)).toEqual(seeded.shares.slice(0, 5))
    const second = await same(`/api/v1/shares?limit=5&after=${page.next}`, seeded.providerToken)
    expect((second.body as { readonly items: ReadonlyArray<unknown> }).items).toHaveLength(5)
    await same("/api/v1/shares", seeded.providerToken)
    await same("/api/v1/shares?after=bm90LWEtY3Vyc29y", seeded.providerToken)
  })

  it("gets a share, and not another's or a missing one", async () => {
    const answer = await same(`/api/v1/shares/${seeded.shares[7]!}`, seeded.providerToken)
    expect(answer.body).toMatchObject({ name: seeded.shares[7], dataset_count: 1, kind: "snapshot" })
    expect((await same("/api/v1/shares/no-such-share", seeded.providerToken)).status).toBe(404)
    expect((await same(`/api/v1/shares/${seeded.shares[0]!}`, seeded.consumerToken)).status).toBe(404)
  })

  it("lists a subscription's runs, queued first, page by page", async () => {
    const subscription = seeded.subscriptions[1]!
    const first = await same(`/api/v1/subscriptions/${subscription}/runs?limit=4`, seeded.consumerToken)
    const page = first.body as {
      readonly items: ReadonlyArray<{ readonly run_id: string; readonly status: string }>
      readonly next: string
    }
    expect(page.items[0]).toMatchObject({ run_id: queuedRun, status: "Queued" })
    expect(page.items).toHaveLength(5)
    await same(`/api/v1/subscriptions/${subscription}/runs?limit=4&after=${page.next}`, seeded.consumerToken)
    await same(`/api/v1/subscriptions/${seeded.subscriptions[0]!}/runs`, seeded.consumerToken)
    await same(`/api/v1/subscriptions/${subscription}/runs?after=no-such-run`, seeded.consumerToken)
  })

  it("gets a run with its datasets, a queued run, and not a missing one", async () => {
    const run = seeded.runs.find((candidate) => candidate.subscription === seeded.subscriptions[2])!
    const answer = await same(`/api/v1/subscriptions/${run.subscription}/runs/${run.runId}`, seeded.consumerToken)
    expect(answer.body).toMatchObject({ run_id: run.runId, datasets: [{ dataset: "orders" }] })
    const queued = await same(
      `/api/v1/subscriptions/${seeded.subscriptions[1]!}/runs/${queuedRun}`,
      seeded.consumerToken
    )
    expect(queued.body).toMatchObject({ status: "Queued" })
    const elsewhere = `/api/v1/subscriptions/${seeded.subscriptions[0]!}/runs/${run.runId}`
    expect((await same(elsewhere, seeded.consumerToken)).status).toBe(404)
    expect((await same(`/api/v1/subscriptions/no-such/runs/${run.runId}`, seeded.consumerToken)).status).toBe(404)
  })

  it("refuses an unknown token", async () => {
    expect((await same("/api/v1/shares", "ferry_not-a-token")).status).toBe(401)
    expect((await same(`/api/v1/subscriptions/${seeded.subscriptions[0]!}/runs`, "ferry_x")).status).toBe(401)
  })
})

describe("the benchmark's scheduler measurement", () => {
  it("queues a run for every scheduled subscription at the tick, the executor's runs parked", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-bench-scheduler-"))
    try {
      const round = await schedulerRound(
        { kind: "sqlite", file: path.join(dir, "state.db") },
        dir,
        path.join(dir, "service.log"),
        20
      )
      expect(round.subscriptions).toBe(20)
      // At most limits.runs (4) were taken and parked; the others were left in the queue.
      expect(round.taken).toBeGreaterThanOrEqual(1)
      expect(round.taken).toBeLessThanOrEqual(4)
      expect(round.queued + round.taken).toBeLessThanOrEqual(20)
      expect(round.queued).toBeGreaterThan(0)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
