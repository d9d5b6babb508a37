/**
 * The state database of the service benchmark, written through Ferry's own stores
 * (ControlStore, StateStore) in one transaction: provider `contoso` with 1,000 shares of
 * one dataset each, consumer `fabrikam` with 50 subscriptions to the first 50 of them,
 * 10,000 finished runs spread evenly over those subscriptions (200 each, an hour apart),
 * each with what it did with the dataset, and an API token for each account.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import { v7 as uuidv7 } from "uuid"
import type { Actor } from "../../runtime/control/ControlStore.js"
import * as ControlStore from "../../runtime/control/ControlStore.js"
import { hashSecret, makeSecret } from "../../runtime/control/Tokens.js"
import * as Postgres from "../../runtime/state/internal/Postgres.js"
import * as Sqlite from "../../runtime/state/internal/Sqlite.js"
import * as StateStore from "../../runtime/state/StateStore.js"

/** Where the state lives: a SQLite file, or a postgres URL whose `?schema=` is the benchmark's own. */
export type ApiDatabase =
  | { readonly kind: "sqlite"; readonly file: string }
  | { readonly kind: "postgres"; readonly url: string; readonly schema: string }

/** The config's `state:` for the database. */
export const stateOf = (db: ApiDatabase): string => (db.kind === "sqlite" ? `sqlite:${db.file}` : db.url)

/** Both stores and their SQL client, migrated, on the database. */
export const storesLayer = (db: ApiDatabase) =>
  Layer.provideMerge(
    Layer.merge(StateStore.layer, ControlStore.layer),
    db.kind === "sqlite"
      ? Sqlite.layerClient({ filename: db.file })
      : Postgres.layerClient({ url: Redacted.make(db.url) })
  )

/**
 * The stores for seeding: each write is still its own transaction (the stores never join
 * an outer one), but commits do not wait for the disk: SQLite's `synchronous` is OFF on
 * the seeding connection, PostgreSQL's `synchronous_commit` off in the seeding sessions.
 * The server opens the database again with its own settings.
 */
export const seedingLayer = (db: ApiDatabase) => {
  if (db.kind === "postgres") {
    const url = new URL(db.url)
    url.searchParams.set("options", "-c synchronous_commit=off")
    return storesLayer({ ...db, url: url.toString() })
  }
  return Layer.tap(storesLayer(db), (context) =>
    Effect.orDie(Context.get(context, SqlClient.SqlClient).unsafe("PRAGMA synchronous = OFF"))
  )
}

export const PROVIDER = "contoso"
export const CONSUMER = "fabrikam"
export const DATASET = "orders"

export interface SeedSize {
  readonly shares: number
  readonly subscriptions: number
  readonly runs: number
}

export const SEED_SIZE: SeedSize = { shares: 1_000, subscriptions: 50, runs: 10_000 }

export interface Seeded {
  readonly size: SeedSize
  readonly providerToken: string
  readonly consumerToken: string
  readonly shares: ReadonlyArray<string>
  readonly subscriptions: ReadonlyArray<string>
  /** Every run, with its subscription's name. */
  readonly runs: ReadonlyArray<{ readonly subscription: string; readonly runId: string }>
  readonly seconds: number
}

const ACTOR: Actor = { kind: "config", file: "benchmark.yaml" }

const pad = (n: number, width: number) => String(n).padStart(width, "0")

export const shareName = (i: number) => `share-${pad(i, 4)}`
export const subscriptionName = (i: number) => `feed-${pad(i, 2)}`

const FIRST_RUN = Date.parse("2026-01-01T00:00:00.000Z")
const HOUR = 3_600_000

export const seed = (size: SeedSize, options: { readonly concurrency: number }) =>
  Effect.gen(function* () {
    const started = performance.now()
    const control = yield* ControlStore.ControlStore
    const state = yield* StateStore.StateStore
    const providerToken = makeSecret()
    const consumerToken = makeSecret()
    const shares = Array.from({ length: size.shares }, (_, i) => shareName(i))
    const subscriptions = Array.from({ length: size.subscriptions }, (_, i) => subscriptionName(i))
    const runs: Array<{ subscription: string; runId: string }> = []
    yield* Effect.gen(function* () {
      yield* control.putAccount(ACTOR, { name: PROVIDER, email: "data@contoso.example" })
      yield* control.putAccount(ACTOR, { name: CONSUMER, email: "ops@fabrikam.example" })
      yield* control.createToken(ACTOR, { account: PROVIDER, secretHash: hashSecret(providerToken) })
      yield* control.createToken(ACTOR, { account: CONSUMER, secretHash: hashSecret(consumerToken) })
      yield* control.putStore(ACTOR, { account: PROVIDER, name: "src", type: "local", settings: { root: "./src" } })
      yield* control.putStore(ACTOR, { account: CONSUMER, name: "out", type: "local", settings: { root: "./out" } })
      for (const [i, name] of shares.entries()) {
        yield* control.putShare(ACTOR, {
          account: PROVIDER,
          name,
          kind: "snapshot",
          description: `Orders of region ${i}, refreshed nightly.`,
          terms: "For demand forecasting only; not to be passed on."
        })
        yield* control.putDataset(ACTOR, {
          account: PROVIDER,
          share: name,
          name: DATASET,
          spec: {
            source: { store: "src", table: `orders-${pad(i, 4)}.csv` },
            incremental: { cursor: "updated_at", key: ["order_id"] }
          }
        })
      }
      for (const [i, name] of subscriptions.entries()) {
        yield* control.putSubscription(ACTOR, {
          account: CONSUMER,
          name,
          provider: PROVIDER,
          share: shares[i]!,
          trigger: "manual"
        })
        yield* control.putMapping(ACTOR, {
          account: CONSUMER,
          subscription: name,
          dataset: DATASET,
          spec: { store: "out", path: `${name}/`, format: "parquet" }
        })
      }
    })
    // Runs take no lock of the control plane: on PostgreSQL they are written over the pool's connections at once.
    yield* Effect.forEach(
      Array.from({ length: size.runs }, (_, r) => r),
      (r) => {
        const s = r % size.subscriptions
        const j = Math.floor(r / size.subscriptions)
        const name = subscriptions[s]!
        const startedAt = new Date(FIRST_RUN + j * HOUR + s * 60_000)
        const endedAt = new Date(startedAt.getTime() + 5_000 + ((r * 7_919) % 115_000))
        const failed = j % 10 === 9
        const rows = failed ? 0 : (s * 7_919 + j * 104_729) % 1_000_000
        const runId = uuidv7({ msecs: startedAt.getTime() })
        runs.push({ subscription: name, runId })
        return Effect.gen(function* () {
          yield* state.startRun({
            runId,
            subscription: ControlStore.subscriptionKey({ account: CONSUMER, name }),
            share: `${PROVIDER}/${shares[s]!}`,
            mode: j === 0 ? "full" : "incremental",
            startedAt
          })
          yield* state.recordDataset({
            runId,
            dataset: DATASET,
            status: failed ? "failed" : "succeeded",
            startedAt,
            endedAt,
            rows,
            bytes: rows * 118,
            files: failed ? 0 : 1,
            ...(failed ? { message: "the source could not be read: connection refused" } : {})
          })
          yield* state.finishRun({
            runId,
            status: failed ? "failed" : "succeeded",
            endedAt,
            ...(failed ? { message: "1 of 1 datasets failed" } : {})
          })
        })
      },
      { concurrency: options.concurrency, discard: true }
    )
    return {
      size,
      providerToken,
      consumerToken,
      shares,
      subscriptions,
      runs,
      seconds: (performance.now() - started) / 1000
    } satisfies Seeded
  })

/**
 * Log lines of what runs in the benchmark's process (the stores, the scheduler) as
 * logfmt into a file, as `ferry serve` writes them to stderr, instead of onto the
 * benchmark's output.
 */
export const logToFile = (file: string) => {
  const stream = fs.createWriteStream(file, { flags: "a" })
  return Layer.merge(
    Logger.replace(
      Logger.defaultLogger,
      Logger.map(Logger.logfmtLogger, (line) => void stream.write(`${line}\n`))
    ),
    Layer.scopedDiscard(Effect.addFinalizer(() => Effect.sync(() => stream.end())))
  )
}

/** Seeds the database through its stores, then closes them. */
export const seedDatabase = (db: ApiDatabase, log: string, size: SeedSize = SEED_SIZE): Promise<Seeded> =>
  Effect.runPromise(
    seed(size, { concurrency: db.kind === "postgres" ? 8 : 1 }).pipe(
      Effect.provide(seedingLayer(db)),
      Effect.provide(logToFile(log))
    )
  )
