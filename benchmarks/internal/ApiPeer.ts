/**
 * The peer of the service benchmark: a minimal `node:http` server answering the four
 * requests the benchmark sends with the same JSON as Ferry's API, from the same state
 * database, with queries written directly (better-sqlite3 or pg) and the same token
 * check: the bearer token's SHA-256 looked up in `tokens`, its last use recorded to the
 * minute, as Ferry's control store does.
 *
 *   GET /api/v1/shares?limit=&after=              the provider's shares, a page
 *   GET /api/v1/shares/{share}                    one share
 *   GET /api/v1/subscriptions/{s}/runs?limit=&after=   the consumer's runs of a subscription, queued first
 *   GET /api/v1/subscriptions/{s}/runs/{run_id}   one run with its datasets
 *   GET /healthz
 *
 * The benchmark runs it in a process of its own (`node peer.mjs --state STATE --port N`,
 * compiled from this file without a TypeScript loader); `startPeer` serves it
 * in-process, for the test that checks its answers against Ferry's.
 */
import Database from "better-sqlite3"
import { createHash } from "node:crypto"
import type { IncomingMessage, Server, ServerResponse } from "node:http"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import pg from "pg"

type Row = Record<string, unknown>

/** A database the peer queries: SQL with `?` placeholders, rows as objects. */
interface Db {
  readonly query: (sql: string, params: ReadonlyArray<unknown>) => Promise<ReadonlyArray<Row>>
  readonly close: () => Promise<void>
}

const sqlite = (file: string): Db => {
  const db = new Database(file)
  // As the state store opens it: a commit (the token's last use) is durable before the answer.
  db.pragma("busy_timeout = 5000")
  db.pragma("synchronous = FULL")
  const statements = new Map<string, Database.Statement>()
  return {
    query: (sql, params) => {
      let statement = statements.get(sql)
      if (statement === undefined) {
        statement = db.prepare(sql)
        statements.set(sql, statement)
      }
      return Promise.resolve(statement.all(...params) as ReadonlyArray<Row>)
    },
    close: () => Promise.resolve(void db.close())
  }
}

/** `?schema=` names the schema, as for Ferry's state store. */
const postgres = (text: string): Db => {
  const url = new URL(text)
  const schema = url.searchParams.get("schema") ?? "ferry"
  url.searchParams.delete("schema")
  // The pool size of Ferry's client (pg's default).
  const pool = new pg.Pool({
    connectionString: url.toString(),
    max: 10,
    application_name: "ferry-bench-peer",
    options: `-c search_path=${schema}`
  })
  const numbered = new Map<string, string>()
  return {
    query: async (sql, params) => {
      let text = numbered.get(sql)
      if (text === undefined) {
        let n = 0
        text = sql.replace(/\?/g, () => `$${++n}`)
        numbered.set(sql, text)
      }
      return (await pool.query(text, [...params])).rows as ReadonlyArray<Row>
    },
    close: () => pool.end()
  }
}

export const openDatabase = (state: string): Db =>
  state.startsWith("sqlite:") ? sqlite(state.slice("sqlite:".length)) : postgres(state)

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly path?: string
  ) {
    super(message)
  }
}

const DEFAULT_LIMIT = 100
const MAX_LIMIT = 1000

const limitOf = (params: URLSearchParams): number => {
  const text = params.get("limit")
  if (text === null) return DEFAULT_LIMIT
  const limit = Number(text)
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new HttpError(400, "invalid_request", `limit: must be an integer from 1 to ${MAX_LIMIT}`, "limit")
  }
  return limit
}

const invalidCursor = () => new HttpError(400, "invalid_cursor", "the cursor is not one this list returned", "after")

/** pg reads BIGINT and COUNT as text. */
const num = (value: unknown): number => Number(value)
const text = (value: unknown): string | undefined => (value === null || value === undefined ? undefined : String(value))

/** Seconds between two ISO instants, to the millisecond, as Ferry's API computes them. */
const seconds = (from: string, to: string): number =>
  Math.round(new Date(to).getTime() - new Date(from).getTime()) / 1000

const STATUS: Record<string, string> = {
  running: "InProgress",
  succeeded: "Succeeded",
  failed: "Failed",
  canceled: "Canceled"
}
const MODE: Record<string, string> = { full: "Full", incremental: "Incremental" }

/** The fields that are set, in order; absent ones left out as the API leaves them. */
const defined = (fields: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined))

const shareJson = (row: Row) =>
  defined({
    name: row["name"],
    description: text(row["description"]),
    terms: text(row["terms"]),
    kind: row["kind"],
    schedule: row["schedule"] === null ? undefined : JSON.parse(String(row["schedule"])),
    dataset_count: num(row["dataset_count"]),
    created_at: row["created_at"],
    updated_at: row["updated_at"]
  })

const datasetRunJson = (row: Row) => {
  const started = String(row["started_at"])
  const ended = text(row["ended_at"])
  return defined({
    dataset: row["dataset"],
    status: STATUS[String(row["status"])],
    started_at: started,
    ended_at: ended,
    duration_seconds: ended === undefined ? undefined : seconds(started, ended),
    rows: num(row["row_count"]),
    bytes: num(row["byte_count"]),
    files: num(row["file_count"]),
    message: text(row["message"])
  })
}

const runJson = (row: Row, datasets: ReadonlyArray<Row>) => {
  const started = String(row["started_at"])
  const ended = text(row["ended_at"])
  const subscription = String(row["subscription"])
  return defined({
    run_id: row["run_id"],
    subscription: subscription.slice(subscription.indexOf("/") + 1),
    mode: MODE[String(row["mode"])],
    status: STATUS[String(row["status"])],
    started_at: started,
    ended_at: ended,
    duration_seconds: ended === undefined ? undefined : seconds(started, ended),
    message: text(row["message"]),
    datasets: datasets.map(datasetRunJson)
  })
}

const queuedJson = (row: Row) => ({
  run_id: row["run_id"],
  subscription: row["subscription"],
  mode: MODE[String(row["mode"])],
  status: "Queued",
  requested_at: row["requested_at"],
  datasets: []
})

const SHARES = `SELECT name, description, terms, kind, schedule, created_at, updated_at,
    (SELECT COUNT(*) FROM datasets d WHERE d.account = shares.account AND d.share = shares.name) AS dataset_count
  FROM shares`
const RUNS = "SELECT run_id, subscription, mode, status, started_at, ended_at, message FROM runs"
const RUN_DATASETS = `SELECT run_id, dataset, status, started_at, ended_at, row_count, byte_count, file_count, message
  FROM run_datasets`
const QUEUED = "SELECT run_id, subscription, mode, requested_at FROM run_requests"

const encodeCursor = (key: ReadonlyArray<string>): string =>
  Buffer.from(JSON.stringify(key), "utf8").toString("base64url")

const decodeCursor = (after: string): string => {
  try {
    const key: unknown = JSON.parse(Buffer.from(after, "base64url").toString("utf8"))
    if (Array.isArray(key) && key.length === 1 && typeof key[0] === "string") return key[0]
  } catch {
    // Not a cursor of this list.
  }
  throw invalidCursor()
}

/** The datasets of the runs, by run id, each run's in dataset order. */
const datasetsOf = async (db: Db, runIds: ReadonlyArray<string>): Promise<Map<string, Array<Row>>> => {
  const byRun = new Map<string, Array<Row>>(runIds.map((id) => [id, []]))
  if (runIds.length === 0) return byRun
  const rows = await db.query(
    `${RUN_DATASETS} WHERE run_id IN (${runIds.map(() => "?").join(", ")}) ORDER BY dataset`,
    runIds
  )
  for (const row of rows) byRun.get(String(row["run_id"]))?.push(row)
  return byRun
}

const handler = (db: Db) => {
  const authenticate = async (request: IncomingMessage): Promise<string> => {
    const header = request.headers.authorization ?? ""
    const secret = header.startsWith("Bearer ") ? header.slice("Bearer ".length).trim() : ""
    if (secret === "") throw new HttpError(401, "unauthorized", "this request needs an Authorization: Bearer token")
    const hash = createHash("sha256").update(secret, "utf8").digest("hex")
    const [token] = await db.query("SELECT id, account, last_used_at FROM tokens WHERE secret_hash = ?", [hash])
    if (token === undefined) throw new HttpError(401, "unauthorized", "the bearer token is not known")
    // The last use to the minute, as Ferry records it.
    const now = new Date()
    const last = token["last_used_at"] === null ? 0 : Date.parse(String(token["last_used_at"]))
    if (now.getTime() - last >= 60_000) {
      await db.query("UPDATE tokens SET last_used_at = ? WHERE id = ?", [now.toISOString(), token["id"]])
    }
    if (token["account"] === null) {
      throw new HttpError(403, "forbidden", "this route serves accounts: use an account's token, not the operator's")
    }
    return String(token["account"])
  }

  const subscription = async (account: string, name: string): Promise<void> => {
    const [found] = await db.query("SELECT name FROM subscriptions WHERE account = ? AND name = ?", [account, name])
    if (found === undefined) throw new HttpError(404, "not_found", `subscription ${name} does not exist`)
  }

  const listShares = async (account: string, params: URLSearchParams) => {
    const limit = limitOf(params)
    const after = params.get("after")
    const rows =
      after === null
        ? await db.query(`${SHARES} WHERE account = ? ORDER BY name LIMIT ?`, [account, limit + 1])
        : await db.query(`${SHARES} WHERE account = ? AND name > ? ORDER BY name LIMIT ?`, [
            account,
            decodeCursor(after),
            limit + 1
          ])
    const items = rows.slice(0, limit)
    const last = items[items.length - 1]
    return {
      items: items.map(shareJson),
      ...(rows.length > limit && last !== undefined ? { next: encodeCursor([String(last["name"])]) } : {})
    }
  }

  const getShare = async (account: string, name: string) => {
    const [row] = await db.query(`${SHARES} WHERE account = ? AND name = ?`, [account, name])
    if (row === undefined) throw new HttpError(404, "not_found", `share ${name} does not exist`)
    return shareJson(row)
  }

  const listRuns = async (account: string, name: string, params: URLSearchParams) => {
    await subscription(account, name)
    const key = `${account}/${name}`
    const limit = limitOf(params)
    const after = params.get("after")
    let runs: ReadonlyArray<Row>
    let queued: ReadonlyArray<Row> = []
    if (after === null) {
      queued = await db.query(`${QUEUED} WHERE account = ? AND subscription = ? ORDER BY requested_at, run_id`, [
        account,
        name
      ])
      runs = await db.query(`${RUNS} WHERE subscription = ? ORDER BY started_at DESC, run_id DESC LIMIT ?`, [
        key,
        limit + 1
      ])
    } else {
      const [cursor] = await db.query("SELECT started_at FROM runs WHERE run_id = ? AND subscription = ?", [after, key])
      if (cursor === undefined) throw invalidCursor()
      runs = await db.query(
        `${RUNS} WHERE subscription = ? AND (started_at, run_id) < (?, ?)
          ORDER BY started_at DESC, run_id DESC LIMIT ?`,
        [key, cursor["started_at"], after, limit + 1]
      )
    }
    const shown = runs.slice(0, limit)
    const datasets = await datasetsOf(
      db,
      shown.map((run) => String(run["run_id"]))
    )
    const last = shown[shown.length - 1]
    return {
      items: [...queued.map(queuedJson), ...shown.map((run) => runJson(run, datasets.get(String(run["run_id"]))!))],
      ...(runs.length > limit && last !== undefined ? { next: String(last["run_id"]) } : {})
    }
  }

  const getRun = async (account: string, name: string, runId: string) => {
    await subscription(account, name)
    const [run] = await db.query(`${RUNS} WHERE run_id = ? AND subscription = ?`, [runId, `${account}/${name}`])
    if (run !== undefined) {
      const datasets = await datasetsOf(db, [runId])
      return runJson(run, datasets.get(runId)!)
    }
    const [request] = await db.query(`${QUEUED} WHERE run_id = ? AND account = ? AND subscription = ?`, [
      runId,
      account,
      name
    ])
    if (request !== undefined) return queuedJson(request)
    throw new HttpError(404, "not_found", `subscription ${name} has no run ${runId}`)
  }

  const route = async (request: IncomingMessage): Promise<unknown> => {
    const url = new URL(request.url ?? "/", "http://peer")
    const parts = url.pathname
      .split("/")
      .filter((part) => part !== "")
      .map(decodeURIComponent)
    if (request.method === "GET" && url.pathname === "/healthz") {
      await db.query("SELECT 1 AS ok", [])
      return { status: "ok" }
    }
    if (request.method !== "GET" || parts[0] !== "api" || parts[1] !== "v1") {
      throw new HttpError(404, "not_found", `there is no route ${request.method} ${url.pathname}`)
    }
    const [, , resource, name, child, runId, extra] = parts
    if (resource === "shares" && child === undefined) {
      const account = await authenticate(request)
      return name === undefined ? listShares(account, url.searchParams) : getShare(account, name)
    }
    if (resource === "subscriptions" && name !== undefined && child === "runs" && extra === undefined) {
      const account = await authenticate(request)
      return runId === undefined ? listRuns(account, name, url.searchParams) : getRun(account, name, runId)
    }
    throw new HttpError(404, "not_found", `there is no route ${request.method} ${url.pathname}`)
  }

  return (request: IncomingMessage, response: ServerResponse) => {
    route(request).then(
      (body) => {
        response.writeHead(200, { "content-type": "application/json" })
        response.end(JSON.stringify(body))
      },
      (error: unknown) => {
        const known = error instanceof HttpError
        if (!known) process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
        response.writeHead(known ? error.status : 500, { "content-type": "application/json" })
        response.end(
          JSON.stringify({
            error: known
              ? { code: error.code, message: error.message, ...(error.path === undefined ? {} : { path: error.path }) }
              : { code: "internal", message: "the request failed unexpectedly" }
          })
        )
      }
    )
  }
}

export interface Peer {
  readonly port: number
  readonly close: () => Promise<void>
}

/** Serves the peer on 127.0.0.1 (port 0: a free one) over the state database `state` (`sqlite:FILE` or a postgres URL). */
export const startPeer = async (state: string, port: number): Promise<Peer> => {
  const db = openDatabase(state)
  const server: Server = createServer(handler(db))
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(port, "127.0.0.1", resolve)
  })
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await db.close()
    }
  }
}

/** `--state STATE --port N`: serves until SIGTERM. */
const main = async (args: ReadonlyArray<string>) => {
  const option = (name: string) => {
    const at = args.indexOf(`--${name}`)
    const value = at < 0 ? undefined : args[at + 1]
    if (value === undefined) throw new Error(`--${name} is required`)
    return value
  }
  const peer = await startPeer(option("state"), Number(option("port")))
  process.stdout.write(`peer listening on 127.0.0.1:${peer.port}\n`)
  process.once("SIGTERM", () => {
    void peer.close().then(() => process.exit(0))
  })
}

if (process.argv.includes("--serve-peer")) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`peer failed: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  })
}
