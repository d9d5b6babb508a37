/**
 * What only the PostgreSQL store has: a schema of its own in a shared database,
 * migrations under an advisory lock, two processes' transactions on the same rows, and a
 * URL that may carry a password. The shared suite is StateStore.test.ts. Every test
 * works in schemas with random names and drops them.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { afterEach, describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { layerClient, parseTarget } from "../../../runtime/state/internal/Postgres.js"
import { layerFor, layerPostgres, StateStore } from "../../../runtime/state/StateStore.js"
import { StateError } from "../../../runtime/state/StateError.js"
import { dropSchema, plainClient, randomSchema, urlWith } from "./fixtures/Dialects.js"

const made: Array<string> = []
const newSchema = () => {
  const schema = randomSchema()
  made.push(schema)
  return schema
}
afterEach(async () => {
  for (const schema of made.splice(0)) await dropSchema(schema)
})

/** Runs `query` on a plain connection to the test database, outside any store. */
const admin = <A>(query: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>) =>
  Effect.flatMap(SqlClient.SqlClient, query).pipe(Effect.provide(plainClient()), Effect.orDie)

const key = { subscription: "contoso-sales", dataset: "sales" }

const startRun = (store: Context.Tag.Service<StateStore>, runId: string, subscription = key.subscription) =>
  store.startRun({ runId, subscription, share: "contoso/pos-sales", mode: "incremental", startedAt: new Date() })

/** A store opened as its own process would: its own pool, so its own connections. */
const openStore = (url: Redacted.Redacted<string>) =>
  Effect.map(Layer.build(layerPostgres({ url })), (context) => Context.get(context, StateStore))

describe("StateStore on PostgreSQL: its schema", () => {
  it.effect("keeps its tables in the schema ?schema= names, beside other data with the same names", () =>
    Effect.gen(function* () {
      const schema = newSchema()
      const neighbour = newSchema()
      yield* admin((sql) =>
        Effect.zipRight(
          sql`CREATE SCHEMA ${sql(neighbour)}`,
          sql`CREATE TABLE ${sql(neighbour)}.runs (run_id text, note text)`
        )
      )
      const runs = yield* Effect.flatMap(StateStore, (store) =>
        Effect.zipRight(startRun(store, "run-1"), store.listRuns({ limit: 10 }))
      ).pipe(Effect.provide(layerFor({ kind: "postgres", url: urlWith({ schema }) })))
      expect(runs.map((run) => run.runId)).toEqual(["run-1"])
      const seen = yield* admin((sql) =>
        Effect.all({
          store: sql`SELECT run_id FROM ${sql(schema)}.runs`,
          neighbour: sql`SELECT run_id FROM ${sql(neighbour)}.runs`
        })
      )
      expect(seen).toEqual({ store: [{ run_id: "run-1" }], neighbour: [] })
    })
  )

  it.effect(
    "pins search_path to the schema and READ COMMITTED on every connection, whatever the server's default",
    () =>
      Effect.gen(function* () {
        const schema = newSchema()
        const settings = yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql.withTransaction(
            sql<{ search_path: string; isolation: string }>`SELECT current_setting('search_path') AS search_path,
            current_setting('transaction_isolation') AS isolation`
          )
        ).pipe(
          Effect.provide(
            layerClient({ url: urlWith({ schema, options: "-c default_transaction_isolation=serializable" }) })
          ),
          Effect.orDie
        )
        expect(settings).toEqual([{ search_path: schema, isolation: "read committed" }])
      })
  )

  it("takes the schema from ?schema= (ferry when absent) and hands the rest of the URL to the driver", () => {
    const target = (url: string) => Either.getOrThrow(parseTarget(Redacted.make(url)))
    const plain = target("postgres://ferry:pw@db.internal:6432/ops?sslmode=disable")
    expect(plain.schema).toBe("ferry")
    expect(plain.where).toBe("database ops on db.internal:6432")
    const named = new URL(
      Redacted.value(target("postgresql://ferry@db.internal/ops?schema=ferry_prod&options=-c%20work_mem%3D64MB").url)
    )
    expect(named.searchParams.get("schema")).toBeNull()
    expect(named.searchParams.get("options")).toBe(
      "-c work_mem=64MB -c search_path=ferry_prod -c default_transaction_isolation=read\\ committed"
    )
    expect(target("postgres://ferry@db.internal?schema=s1").where).toBe("database ferry on db.internal")
  })

  it.scoped("uses a schema its DBA made, with a role that may not create schemas", () =>
    Effect.gen(function* () {
      const schema = newSchema()
      const role = `${schema}_role`
      yield* Effect.acquireRelease(
        admin((sql) =>
          Effect.all([
            sql`CREATE ROLE ${sql(role)} LOGIN`,
            sql`CREATE SCHEMA ${sql(schema)}`,
            sql`GRANT USAGE, CREATE ON SCHEMA ${sql(schema)} TO ${sql(role)}`
          ])
        ),
        // Roles belong to the whole server: the role's tables go first, then the role.
        () => admin((sql) => Effect.zipRight(sql`DROP SCHEMA ${sql(schema)} CASCADE`, sql`DROP ROLE ${sql(role)}`))
      )
      const canCreate = yield* admin(
        (sql) => sql`SELECT has_database_privilege(${role}, current_database(), 'CREATE') AS can`
      )
      expect(canCreate).toEqual([{ can: false }])
      const url = new URL(Redacted.value(urlWith({ schema })))
      url.username = role
      const run = yield* Effect.flatMap(StateStore, (store) =>
        Effect.zipRight(startRun(store, "run-1"), store.getRun("run-1"))
      ).pipe(Effect.provide(layerPostgres({ url: Redacted.make(url.toString()) })))
      expect(Option.map(run, (detail) => detail.runId)).toEqual(Option.some("run-1"))
    })
  )

  it.live("several processes opening a new schema at once migrate it once", () =>
    Effect.gen(function* () {
      const schema = newSchema()
      const url = urlWith({ schema })
      const opened = yield* Effect.all(
        Array.from({ length: 4 }, () => Effect.exit(Effect.scoped(openStore(url)))),
        { concurrency: "unbounded" }
      )
      expect(opened.map((exit) => Exit.isSuccess(exit))).toEqual([true, true, true, true])
      const applied = yield* admin(
        (sql) => sql`SELECT migration_id FROM ${sql(schema)}.ferry_state_migrations ORDER BY migration_id`
      )
      expect(applied).toEqual([{ migration_id: 1 }, { migration_id: 2 }])
    })
  )
})

describe("StateStore on PostgreSQL: two processes on the same rows", () => {
  it.scopedLive(
    "two completes of one intent on two connections: one moves it, the other returns the same checkpoint",
    () =>
      Effect.gen(function* () {
        const schema = newSchema()
        // A name of their own, so that the test can see when both wait on the lock.
        const application = `${schema}_app`
        const url = urlWith({ schema, application_name: application })
        const [one, two] = yield* Effect.all([openStore(url), openStore(url)])
        yield* startRun(one, "run-1")
        yield* one.prepareCommit({ ...key, runId: "run-1", watermark: { cursor: "7" } })

        // A third connection holds the intent's row, so that both completes start and wait
        // on it; when it lets go, one takes the intent and the other must wait for that one.
        const locked = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const holder = yield* Effect.fork(
          admin((sql) =>
            sql.withTransaction(
              sql`SELECT run_id FROM ${sql(schema)}.pending_commits FOR UPDATE`.pipe(
                Effect.zipRight(Deferred.succeed(locked, undefined)),
                Effect.zipRight(Deferred.await(release))
              )
            )
          )
        )
        yield* Deferred.await(locked)
        const completes = yield* Effect.fork(
          Effect.all([one.completeCommit({ ...key, runId: "run-1" }), two.completeCommit({ ...key, runId: "run-1" })], {
            concurrency: 2
          })
        )
        yield* admin(
          (sql) => sql<{ waiting: number }>`SELECT count(*)::int AS waiting FROM pg_stat_activity
          WHERE application_name = ${application} AND wait_event_type = 'Lock'`
        ).pipe(
          Effect.repeat({ until: (rows) => rows[0]?.waiting === 2, schedule: Schedule.spaced("20 millis") }),
          Effect.timeout("10 seconds")
        )
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(holder)
        const [first, second] = yield* Fiber.join(completes)

        expect(second).toEqual(first)
        expect(first.watermark).toEqual({ cursor: "7" })
        expect(yield* two.checkpoint(key)).toEqual(Option.some(first))
        expect(yield* one.pendingCommits({})).toEqual([])
      })
  )

  it.scopedLive("two runs preparing the same datasets at once: exactly one intent each, the other refused", () =>
    Effect.gen(function* () {
      const schema = newSchema()
      const url = urlWith({ schema })
      const [one, two] = yield* Effect.all([openStore(url), openStore(url)])
      yield* startRun(one, "run-a")
      yield* startRun(two, "run-b")
      const datasets = Array.from({ length: 40 }, (_, index) => `dataset-${index}`)
      const prepare = (store: typeof one, runId: string, dataset: string) =>
        Effect.either(store.prepareCommit({ subscription: key.subscription, dataset, runId, watermark: { runId } }))
      const outcomes = yield* Effect.forEach(
        datasets,
        (dataset) =>
          Effect.all([prepare(one, "run-a", dataset), prepare(two, "run-b", dataset)], { concurrency: 2 }).pipe(
            Effect.map(([a, b]) => ({ dataset, a, b }))
          ),
        { concurrency: 4 }
      )
      const pending = yield* one.pendingCommits({ subscription: key.subscription })
      expect(pending).toHaveLength(datasets.length)
      for (const { dataset, a, b } of outcomes) {
        expect(Either.isRight(a) !== Either.isRight(b), dataset).toBe(true)
        const winner = Either.isRight(a) ? "run-a" : "run-b"
        const refused = Either.isLeft(a) ? a.left : Either.isLeft(b) ? b.left : undefined
        expect(refused?.message).toContain(`run ${winner} has a pending commit`)
        const intent = pending.find((p) => p.dataset === dataset)
        expect([intent?.runId, intent?.watermark]).toEqual([winner, { runId: winner }])
      }
    })
  )
})

describe("StateStore on PostgreSQL: the URL is never shown", () => {
  const password = "s3cret-Pa55"

  const openFails = (url: string) =>
    Effect.provide(StateStore, layerFor({ kind: "postgres", url: Redacted.make(url) })).pipe(
      Effect.flip,
      Effect.timeout("20 seconds"),
      Effect.orDie
    )

  const expectHidden = (error: StateError) => {
    expect(error).toBeInstanceOf(StateError)
    for (const shown of [error.message, String(error), JSON.stringify(error), Cause.pretty(Cause.fail(error))]) {
      expect(shown).not.toContain(password)
      expect(shown).not.toContain("postgres://")
    }
  }

  it.live("errors name the database and host, never the URL or its password", () =>
    Effect.gen(function* () {
      const missingDatabase = `${randomSchema()}_db`
      const errors = yield* Effect.all([
        openFails(`postgres://postgres:${password}@127.0.0.1:1/test`),
        openFails(`postgres://postgres:${password}@127.0.0.1:5432/${missingDatabase}`),
        // The role is named like the password, so the server's own message repeats it.
        openFails(`postgres://${password}:${password}@127.0.0.1:5432/test`),
        openFails(`postgres://postgres:${password}@127.0.0.1:5432/test?schema=Not-Lower`),
        openFails(`postgres://postgres:${password}@[::1/test`)
      ])
      for (const error of errors) expectHidden(error)
      expect(errors.map((error) => error.message)).toEqual([
        "Cannot connect to the state database test on 127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1",
        `Cannot connect to the state database ${missingDatabase} on 127.0.0.1:5432: database "${missingDatabase}" does not exist`,
        'Cannot connect to the state database test on 127.0.0.1:5432: role "***" does not exist',
        `The state store's schema must be a lower-case SQL identifier (letters, digits, _), not "Not-Lower"`,
        "The state store's PostgreSQL URL is not a valid URL"
      ])
    })
  )

  it.live("opening logs the database and schema, never the URL", () =>
    Effect.gen(function* () {
      const schema = newSchema()
      const url = new URL(Redacted.value(urlWith({ schema })))
      url.password = password
      const lines: Array<string> = []
      const collect = Logger.make((options) => {
        lines.push(Logger.logfmtLogger.log(options))
      })
      yield* Effect.provide(StateStore, layerPostgres({ url: Redacted.make(url.toString()) })).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, collect)),
        Logger.withMinimumLogLevel(LogLevel.All)
      )
      expect(lines.some((line) => line.includes("Migrated the state database") && line.includes(schema))).toBe(true)
      for (const line of lines) expect(line).not.toContain(password)
    })
  )
})
