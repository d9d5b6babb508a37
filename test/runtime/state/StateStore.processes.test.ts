/**
 * The state store shared by separate processes, and a process killed mid-protocol, on
 * each database. Real processes, because better-sqlite3 waits for a lock synchronously:
 * two connections in one thread would wait on each other until the busy timeout.
 */
import { afterEach, beforeEach, describe, expect, it } from "@effect/vitest"
import type * as Context from "effect/Context"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { spawn } from "node:child_process"
import { mkdirSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { migrationsTable } from "../../../runtime/state/Migrations.js"
import { StateStore } from "../../../runtime/state/StateStore.js"
import { type Dialect, makePostgres, makeSqlite } from "./fixtures/Dialects.js"

const fixture = fileURLToPath(new URL("./fixtures/StateProcess.ts", import.meta.url))

interface Child {
  /** Resolves when the child printed `line`. */
  readonly printed: (line: string) => Promise<void>
  /** Writes the last line of the child's input. */
  readonly send: (line: string) => void
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>
}

const start = (...args: ReadonlyArray<string>): Child => {
  const child = spawn(process.execPath, ["--import", "tsx", fixture, ...args], { stdio: ["pipe", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  const waiting: Array<{ line: string; resolve: () => void }> = []
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk
    for (const wait of waiting) if (stdout.split("\n").includes(wait.line)) wait.resolve()
  })
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>(
    (resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
  )
  return {
    printed: (line) =>
      new Promise<void>((resolve, reject) => {
        waiting.push({ line, resolve })
        void exited.then((result) => reject(new Error(`child exited before printing ${line}: ${result.stderr}`)))
      }),
    send: (line) => child.stdin.end(`${line}\n`),
    exited
  }
}

const suite = (dialect: Dialect) => {
  beforeEach(() => dialect.setup())
  afterEach(() => dialect.teardown())

  const withStore = <A, E>(use: (store: Context.Tag.Service<StateStore>) => Effect.Effect<A, E>) =>
    Effect.runPromise(Effect.flatMap(StateStore, use).pipe(Effect.provide(dialect.layer())))

  it("two processes migrate a new store and write bursts at once, neither failing", async () => {
    // Long enough that the bursts overlap whichever process migrates, and however the two are scheduled.
    const runs = 200
    // Both open the new file at once, so both race to migrate it.
    const children = [
      start("burst", dialect.place(), "one", String(runs)),
      start("burst", dialect.place(), "two", String(runs))
    ]
    await Promise.all(children.map((child) => child.printed("ready")))
    for (const child of children) child.send("go")
    const results = await Promise.all(children.map((child) => child.exited))
    for (const result of results) expect(result, result.stderr).toMatchObject({ code: 0, signal: null })
    const bursts = results.map(
      (result) => JSON.parse(result.stdout.trim().split("\n").at(-1) ?? "") as { asked: number; ended: number }
    )
    // The bursts, opening included, overlapped in time: each process opened or wrote while
    // the other held locks (a SQLite writer may wait out the other's whole burst).
    expect(Math.max(...bursts.map((b) => b.asked))).toBeLessThan(Math.min(...bursts.map((b) => b.ended)))

    const state = await withStore((store) =>
      Effect.all({
        one: store.listRuns({ subscription: "one", limit: 1000 }),
        two: store.listRuns({ subscription: "two", limit: 1000 }),
        checkpoints: Effect.all([
          store.checkpoint({ subscription: "one", dataset: "sales" }),
          store.checkpoint({ subscription: "two", dataset: "sales" })
        ]),
        pending: store.pendingCommits({})
      })
    )
    for (const subscription of ["one", "two"] as const) {
      expect(state[subscription]).toHaveLength(runs)
      expect(state[subscription].every((run) => run.status === "succeeded")).toBe(true)
    }
    const last = String(runs - 1)
    expect(state.checkpoints.map(Option.map((c) => [c.runId, c.watermark]))).toEqual([
      Option.some([`one-${last.padStart(6, "0")}`, { cursor: last }]),
      Option.some([`two-${last.padStart(6, "0")}`, { cursor: last }])
    ])
    expect(state.pending).toEqual([])
  })

  it("a process killed after prepareCommit leaves its intent and its run for the next one", async () => {
    const child = start("crash-after-prepare", dialect.place(), "contoso-sales")
    const result = await child.exited
    expect(result.signal, result.stderr).toBe("SIGKILL")

    const key = { subscription: "contoso-sales", dataset: "sales" }
    const after = await withStore((store) =>
      Effect.all({
        checkpoint: store.checkpoint(key),
        pending: store.pendingCommit(key),
        interrupted: store.markInterruptedRuns(new Date("2026-03-01T12:00:00.000Z"))
      })
    )
    expect(after.checkpoint).toEqual(Option.none())
    expect(Option.map(after.pending, (p) => [p.runId, p.watermark])).toEqual(
      Option.some(["crashed-run", { cursor: "2" }])
    )
    expect(after.interrupted).toEqual(["crashed-run"])
  })
}

for (const dialect of [makeSqlite(), makePostgres()]) {
  describe(`StateStore across processes on ${dialect.name}`, () => suite(dialect))
}

describe("StateStore across processes on SQLite: locks", () => {
  const sqlite = makeSqlite()
  beforeEach(() => sqlite.setup())
  afterEach(() => sqlite.teardown())

  it("opening waits for another process's write lock, even when the migrations table exists", async () => {
    mkdirSync(path.dirname(sqlite.place()), { recursive: true })
    const child = start("burst", sqlite.place(), "one", "1")
    await child.printed("ready")
    // The migrations table exists but is empty, so the child's migrator would read it
    // and then try to write while this connection holds the write lock.
    const released = await Effect.runPromise(
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`CREATE TABLE ${migrationsTable} (
          migration_id integer PRIMARY KEY NOT NULL,
          created_at datetime NOT NULL DEFAULT current_timestamp,
          name VARCHAR(255) NOT NULL
        )`)
        yield* sql.withTransaction(
          Effect.gen(function* () {
            yield* sql.unsafe(`DELETE FROM ${migrationsTable} WHERE 1 = 0`)
            child.send("go")
            yield* Effect.sleep("1500 millis")
          })
        )
        return Date.now()
      }).pipe(Effect.provide(SqliteClient.layer({ filename: sqlite.place() })))
    )
    const result = await child.exited
    expect(result, result.stderr).toMatchObject({ code: 0, signal: null })
    const burst = JSON.parse(result.stdout.trim().split("\n").at(-1) ?? "") as { started: number }
    expect(burst.started).toBeGreaterThanOrEqual(released - 50)
  })
})
