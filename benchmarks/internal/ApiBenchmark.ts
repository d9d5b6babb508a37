/**
 * The service benchmark (`npm run bench -- --api`), on SQLite and on PostgreSQL:
 *
 * - HTTP: the state database seeded through Ferry's stores (ApiSeed.ts), then `ferry
 *   serve` started on it as an operator starts it (a child process, compiled), beside
 *   the peer (ApiPeer.ts: `node:http` and direct queries, in a child process of its
 *   own); both answer the same requests with the same JSON (checked before any load),
 *   and autocannon loads each in turn on loopback: list shares (first page of 100), get
 *   a share, list a subscription's runs (100), get a run with its datasets.
 * - Scheduler: one tick queueing the runs of 1,000 scheduled subscriptions, in this
 *   process, on the real Scheduler and ExecutorLive layers (ApiScheduler.ts).
 *
 * The machine may be shared: each request is loaded once per side unmeasured first
 * (warm-up), then `repeat` times per side in alternating order; the scheduler runs one
 * unmeasured round, then `repeat`. Medians are reported, with the load average before
 * each sample.
 */
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { isDeepStrictEqual } from "node:util"
import ts from "typescript"
import { stringify } from "yaml"
import type { ServerProcess } from "./ApiLoad.js"
import { freePort, load, startServer } from "./ApiLoad.js"
import type { ApiSample, DatabaseKind, RequestResult, SchedulerResult, ServerMemory, Side } from "./ApiReport.js"
import { median, summariseRequest } from "./ApiReport.js"
import type { SchedulerRound } from "./ApiScheduler.js"
import { SCHEDULED_SUBSCRIPTIONS, schedulerRound } from "./ApiScheduler.js"
import type { ApiDatabase, Seeded } from "./ApiSeed.js"
import { seedDatabase, stateOf } from "./ApiSeed.js"
import { ferryBin } from "./Jobs.js"
import { BenchmarkError } from "./Measure.js"
import { connect } from "./PostgresInputs.js"

export type ApiJob = "http" | "scheduler"
export const API_JOBS: ReadonlyArray<ApiJob> = ["http", "scheduler"]
export const API_DATABASES: ReadonlyArray<DatabaseKind> = ["sqlite", "postgres"]

export interface ApiOptions {
  readonly repository: string
  readonly dataDir: string
  /** The PostgreSQL server and database; the benchmark works in schemas of its own there, dropped at the end. */
  readonly url: string
  readonly repeat: number
  /** Seconds of load per sample. */
  readonly seconds: number
  readonly warmupSeconds: number
  readonly connections: number
  readonly databases: ReadonlyArray<DatabaseKind>
  readonly jobs: ReadonlyArray<ApiJob>
  readonly log: (line: string) => void
}

export interface ApiResults {
  readonly seeding: ReadonlyArray<{ readonly database: DatabaseKind; readonly seconds: number }>
  readonly requests: ReadonlyArray<RequestResult>
  readonly memory: ReadonlyArray<ServerMemory>
  readonly scheduler: ReadonlyArray<SchedulerResult>
  /** `ferry serve`'s exit code on SIGTERM, per database (0 expected). */
  readonly ferryExitCodes: ReadonlyArray<{ readonly database: DatabaseKind; readonly code: number | null }>
}

interface RequestKind {
  readonly name: string
  readonly token: string
  readonly paths: ReadonlyArray<string>
}

/** What the load asks for; paths that name a resource go round a thousand of them. */
const requestKinds = (seeded: Seeded): ReadonlyArray<RequestKind> => [
  { name: "list shares", token: seeded.providerToken, paths: ["/api/v1/shares?limit=100"] },
  { name: "get share", token: seeded.providerToken, paths: seeded.shares.map((name) => `/api/v1/shares/${name}`) },
  {
    name: "list runs",
    token: seeded.consumerToken,
    paths: seeded.subscriptions.map((name) => `/api/v1/subscriptions/${name}/runs?limit=100`)
  },
  {
    name: "get run",
    token: seeded.consumerToken,
    paths: seeded.runs
      .slice(0, 1_000)
      .map((run) => `/api/v1/subscriptions/${run.subscription}/runs/${encodeURIComponent(run.runId)}`)
  }
]

/** The peer compiled to plain JavaScript beside the data, so that its process loads no TypeScript loader. */
const compilePeer = (repository: string, dir: string): string => {
  const source = fs.readFileSync(path.join(repository, "benchmarks", "internal", "ApiPeer.ts"), "utf8")
  const output = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 }
  })
  const file = path.join(dir, "api-peer.mjs")
  fs.writeFileSync(file, output.outputText)
  return file
}

const getJson = async (server: ServerProcess, kind: RequestKind, requestPath: string): Promise<unknown> => {
  const response = await fetch(`${server.baseUrl}${requestPath}`, {
    headers: { authorization: `Bearer ${kind.token}` }
  })
  const text = await response.text()
  if (response.status !== 200) {
    throw new BenchmarkError({
      message: `${server.name} answered ${response.status} to GET ${requestPath}: ${text.slice(0, 300)}`
    })
  }
  return JSON.parse(text) as unknown
}

/** Where two JSON values first differ, as a path. */
const firstDifference = (a: unknown, b: unknown, at = "$"): string | undefined => {
  if (isDeepStrictEqual(a, b)) return undefined
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return at
  const keys = new Set([...Object.keys(a), ...Object.keys(b)])
  for (const key of keys) {
    const found = firstDifference(
      (a as Record<string, unknown>)[key],
      (b as Record<string, unknown>)[key],
      `${at}.${key}`
    )
    if (found !== undefined) return found
  }
  return at
}

/** Both servers answer the first paths of every request with the same JSON, of the expected size. */
const checkSameAnswers = async (
  ferry: ServerProcess,
  peer: ServerProcess,
  kinds: ReadonlyArray<RequestKind>
): Promise<void> => {
  for (const kind of kinds) {
    for (const requestPath of kind.paths.slice(0, 5)) {
      const [ours, theirs] = [await getJson(ferry, kind, requestPath), await getJson(peer, kind, requestPath)]
      const difference = firstDifference(ours, theirs)
      if (difference !== undefined) {
        throw new BenchmarkError({
          message: `the peer's answer to GET ${requestPath} differs from Ferry's at ${difference}`
        })
      }
      const page = ours as { readonly items?: ReadonlyArray<unknown>; readonly next?: string }
      if (kind.name.startsWith("list") && (page.items?.length !== 100 || page.next === undefined)) {
        throw new BenchmarkError({ message: `GET ${requestPath} did not answer a full page of 100 with a next page` })
      }
    }
  }
}

const loadAverage = (): number => os.loadavg()[0]!

const sample = async (
  server: ServerProcess,
  kind: RequestKind,
  options: ApiOptions,
  seconds: number
): Promise<ApiSample> => {
  const loadBefore = loadAverage()
  const before = server.stats().cpuSeconds
  const result = await load({
    baseUrl: server.baseUrl,
    token: kind.token,
    paths: kind.paths,
    seconds,
    connections: options.connections
  })
  return { ...result, serverCpuSeconds: server.stats().cpuSeconds - before, loadBefore }
}

const SIDE_LABEL: Record<Side, string> = { ferry: "Ferry", peer: "peer" }

const postgresTarget = (base: string, schema: string): ApiDatabase => {
  const url = new URL(base)
  url.searchParams.set("schema", schema)
  return { kind: "postgres", url: url.toString(), schema }
}

const dropSchemas = async (url: string, schemas: ReadonlyArray<string>): Promise<void> => {
  if (schemas.length === 0) return
  const client = await connect(url)
  try {
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  } finally {
    await client.end()
  }
}

interface HttpOutcome {
  readonly seedSeconds: number
  readonly requests: ReadonlyArray<RequestResult>
  readonly memory: ReadonlyArray<ServerMemory>
  readonly ferryExitCode: number | null
}

const httpJob = async (
  database: DatabaseKind,
  target: ApiDatabase,
  dir: string,
  options: ApiOptions
): Promise<HttpOutcome> => {
  const { log } = options
  log(`  seeding 1,000 shares and 10,000 runs through the stores…`)
  const seeded = await seedDatabase(target, path.join(dir, "seed.log"))
  log(`  seeded in ${seeded.seconds.toFixed(1)} s`)
  const config = path.join(dir, "ferry.yaml")
  fs.writeFileSync(config, stringify({ version: 1, state: stateOf(target) }))
  const ferryPort = await freePort()
  const ferry = await startServer({
    name: "ferry serve",
    file: process.execPath,
    args: [ferryBin(options), "serve", config, "--port", String(ferryPort)],
    cwd: dir,
    log: path.join(dir, "ferry.log"),
    port: ferryPort
  })
  let outcome: Omit<HttpOutcome, "ferryExitCode">
  let ferryExitCode: number | null
  try {
    const peerPort = await freePort()
    const peer = await startServer({
      name: "peer",
      file: process.execPath,
      args: [
        compilePeer(options.repository, dir),
        "--serve-peer",
        "--state",
        stateOf(target),
        "--port",
        String(peerPort)
      ],
      cwd: dir,
      log: path.join(dir, "peer.log"),
      port: peerPort
    })
    try {
      const kinds = requestKinds(seeded)
      await checkSameAnswers(ferry, peer, kinds)
      log(`  both servers answer the same JSON`)
      const servers: Record<Side, ServerProcess> = { ferry, peer }
      const rest: Record<Side, number> = { ferry: ferry.stats().rssBytes, peer: peer.stats().rssBytes }
      const requests: Array<RequestResult> = []
      for (const kind of kinds) {
        for (const side of ["ferry", "peer"] as const) {
          await load({
            baseUrl: servers[side].baseUrl,
            token: kind.token,
            paths: kind.paths,
            seconds: options.warmupSeconds,
            connections: options.connections
          })
        }
        const samples: Record<Side, Array<ApiSample>> = { ferry: [], peer: [] }
        for (let round = 0; round < options.repeat; round++) {
          const order: ReadonlyArray<Side> = round % 2 === 0 ? ["ferry", "peer"] : ["peer", "ferry"]
          for (const side of order) {
            const measured = await sample(servers[side], kind, options, options.seconds)
            samples[side].push(measured)
            log(
              `  ${kind.name} ${SIDE_LABEL[side]}: p50 ${measured.p50.toFixed(2)} ms, p99 ${measured.p99.toFixed(2)} ms, ` +
                `${Math.round(measured.requestsPerSecond)} req/s (load ${measured.loadBefore.toFixed(1)})`
            )
          }
        }
        for (const side of ["ferry", "peer"] as const) {
          requests.push(summariseRequest({ database, request: kind.name, side, samples: samples[side] }))
        }
      }
      const memory = (["ferry", "peer"] as const).map((side): ServerMemory => ({
        database,
        side,
        restRssBytes: rest[side],
        peakRssBytes: servers[side].stats().peakRssBytes
      }))
      outcome = { seedSeconds: seeded.seconds, requests, memory }
    } finally {
      await peer.stop()
    }
  } finally {
    ferryExitCode = await ferry.stop()
    if (ferryExitCode !== 0) log(`  ferry serve exited with ${ferryExitCode} on SIGTERM`)
  }
  return { ...outcome, ferryExitCode }
}

const schedulerJob = async (
  database: DatabaseKind,
  dir: string,
  options: ApiOptions,
  schemaBase: string,
  schemas: Array<string>
): Promise<SchedulerResult> => {
  const rounds: Array<SchedulerRound> = []
  for (let round = 0; round <= options.repeat; round++) {
    const roundDir = path.join(dir, `scheduler-${round}`)
    fs.mkdirSync(roundDir, { recursive: true })
    let target: ApiDatabase
    if (database === "sqlite") {
      target = { kind: "sqlite", file: path.join(roundDir, "state.db") }
    } else {
      const schema = `${schemaBase}_s${round}`
      schemas.push(schema)
      target = postgresTarget(options.url, schema)
    }
    const loadBefore = loadAverage()
    const measured = await schedulerRound(target, roundDir, path.join(roundDir, "service.log"), SCHEDULED_SUBSCRIPTIONS)
    if (target.kind === "postgres") await dropSchemas(options.url, [target.schema])
    rounds.push(measured)
    options.log(
      `  scheduler${round === 0 ? " (warm-up)" : ""}: ${measured.subscriptions} runs queued ` +
        `${measured.tickToQueuedSeconds.toFixed(2)} s after the tick (load ${loadBefore.toFixed(1)})` +
        (measured.lost > 0 ? `; ${measured.lost} requests dropped as the executor stopped` : "")
    )
  }
  const [warmup, ...measured] = rounds
  return {
    database,
    subscriptions: SCHEDULED_SUBSCRIPTIONS,
    tickToQueuedSeconds: median(measured.map((round) => round.tickToQueuedSeconds)),
    warmup: warmup!,
    rounds: measured
  }
}

const DATABASE_TITLE: Record<DatabaseKind, string> = { sqlite: "SQLite", postgres: "PostgreSQL" }

export const apiBenchmark = async (options: ApiOptions): Promise<ApiResults> => {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-")
  const root = path.join(options.dataDir, "api", stamp)
  fs.mkdirSync(root, { recursive: true })
  const schemaBase = `ferry_bench_api_${randomBytes(4).toString("hex")}`
  const schemas: Array<string> = []
  const seeding: Array<{ database: DatabaseKind; seconds: number }> = []
  const requests: Array<RequestResult> = []
  const memory: Array<ServerMemory> = []
  const scheduler: Array<SchedulerResult> = []
  const ferryExitCodes: Array<{ database: DatabaseKind; code: number | null }> = []
  try {
    for (const database of options.databases) {
      if (options.jobs.includes("http")) {
        options.log(`${DATABASE_TITLE[database]}, HTTP API:`)
        const dir = path.join(root, `${database}-http`)
        fs.mkdirSync(dir, { recursive: true })
        let target: ApiDatabase
        if (database === "sqlite") {
          target = { kind: "sqlite", file: path.join(dir, "state.db") }
        } else {
          schemas.push(schemaBase)
          target = postgresTarget(options.url, schemaBase)
        }
        const outcome = await httpJob(database, target, dir, options)
        seeding.push({ database, seconds: outcome.seedSeconds })
        requests.push(...outcome.requests)
        memory.push(...outcome.memory)
        ferryExitCodes.push({ database, code: outcome.ferryExitCode })
        if (target.kind === "postgres") await dropSchemas(options.url, [target.schema])
      }
      if (options.jobs.includes("scheduler")) {
        options.log(`${DATABASE_TITLE[database]}, scheduler (${SCHEDULED_SUBSCRIPTIONS} scheduled subscriptions):`)
        scheduler.push(
          await schedulerJob(database, path.join(root, `${database}-scheduler`), options, schemaBase, schemas)
        )
      }
    }
    fs.rmSync(root, { recursive: true, force: true })
  } catch (error) {
    options.log(`logs and databases kept in ${path.relative(process.cwd(), root)}`)
    throw error
  } finally {
    await dropSchemas(options.url, schemas).catch((error: unknown) =>
      options.log(`could not drop the benchmark's schemas ${schemas.join(", ")}: ${String(error)}`)
    )
  }
  return { seeding, requests, memory, scheduler, ferryExitCodes }
}
