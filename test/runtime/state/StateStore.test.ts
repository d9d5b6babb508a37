/**
 * The state store suite, run once per database from one matrix (fixtures/Dialects.ts):
 * every behaviour the store promises holds on SQLite and on PostgreSQL alike. What only
 * one database has (a file, a schema, a URL) is tested in StateStore.sqlite.test.ts and
 * StateStore.postgres.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from "@effect/vitest"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { migrations } from "../../../runtime/state/Migrations.js"
import { StateStore } from "../../../runtime/state/StateStore.js"
import type { StateError } from "../../../runtime/state/StateError.js"
import { type Dialect, makePostgres, makeSqlite } from "./fixtures/Dialects.js"

type Store = Context.Tag.Service<StateStore>

const key = { subscription: "contoso-sales", dataset: "sales" }
const at = (iso: string) => new Date(iso)

const startRun = (
  store: Store,
  runId: string,
  startedAt = "2026-03-01T10:00:00.000Z",
  subscription = key.subscription
) => store.startRun({ runId, subscription, share: "contoso/pos-sales", mode: "incremental", startedAt: at(startedAt) })

/** A run that publishes `watermark` through the whole protocol. */
const commitRun = (store: Store, runId: string, watermark: unknown) =>
  Effect.gen(function* () {
    yield* startRun(store, runId)
    yield* store.prepareCommit({ ...key, runId, watermark })
    const checkpoint = yield* store.completeCommit({ ...key, runId })
    yield* store.finishRun({ runId, status: "succeeded", endedAt: at("2026-03-01T10:10:00.000Z") })
    return checkpoint
  })

const failure = <A>(effect: Effect.Effect<A, StateError>) => Effect.flip(effect)

const suite = (dialect: Dialect) => {
  beforeEach(() => dialect.setup())
  afterEach(() => dialect.teardown())

  /** One "process": the store is opened, used, and closed when `use` ends. */
  const session = <A, E>(use: (store: Store) => Effect.Effect<A, E>) =>
    Effect.flatMap(StateStore, use).pipe(Effect.provide(dialect.layer()))

  const tables = dialect.raw((sql) =>
    Effect.all({
      checkpoints: sql`SELECT * FROM checkpoints ORDER BY subscription, dataset`,
      pending: sql`SELECT * FROM pending_commits ORDER BY subscription, dataset`
    })
  )

  it.effect("creates its tables and runs each migration once across reopens", () =>
    Effect.gen(function* () {
      for (let open = 0; open < 3; open++) yield* session(() => Effect.void)
      const applied = yield* dialect.raw(
        (sql) =>
          sql<{
            migration_id: number
            name: string
          }>`SELECT migration_id, name FROM ferry_state_migrations ORDER BY migration_id`
      )
      expect(applied).toEqual(
        Object.keys(migrations).map((name) => ({ migration_id: Number(name.slice(0, 4)), name: name.slice(5) }))
      )
      expect(yield* dialect.tables).toEqual([
        "accounts",
        "audit_accounts",
        "audit_log",
        "checkpoints",
        "control_sequence",
        "datasets",
        "ferry_state_migrations",
        "invitations",
        "mappings",
        "pending_commits",
        "run_datasets",
        "run_requests",
        "runs",
        "schedule_ticks",
        "shares",
        "stores",
        "subscriptions",
        "tokens"
      ])
    })
  )

  it.effect("uses its own connections when called inside another client's transaction", () =>
    Effect.gen(function* () {
      yield* session(() => Effect.void)
      // The other client's transaction rolls back; the store's write must not go with it.
      const inside = yield* dialect.raw((sql) =>
        Effect.flip(
          sql.withTransaction(
            Effect.flatMap(
              session((store) => startRun(store, "run-1")),
              () => Effect.fail("roll back" as const)
            )
          )
        )
      )
      expect(inside).toBe("roll back")
      const runs = yield* session((store) => store.listRuns({ limit: 10 }))
      expect(runs.map((run) => run.runId)).toEqual(["run-1"])
    })
  )

  describe("checkpoints", () => {
    it.effect("survive closing and reopening the store, JSON intact", () =>
      Effect.gen(function* () {
        const watermark = { cursor: "2026-03-01 10:00:00.123456", key: ["42", "zürich"], lookback: null, n: 1.5 }
        yield* TestClock.setTime(Date.parse("2026-03-01T10:05:00.000Z"))
        const committed = yield* session((store) => commitRun(store, "run-1", watermark))
        expect(committed).toEqual({ watermark, runId: "run-1", committedAt: at("2026-03-01T10:05:00.000Z") })
        const reopened = yield* session((store) => store.checkpoint(key))
        expect(reopened).toEqual(Option.some(committed))
        expect(yield* session((store) => store.checkpoint({ ...key, dataset: "other" }))).toEqual(Option.none())
      })
    )

    it.effect("a full run commits its own watermark over the previous one", () =>
      Effect.gen(function* () {
        yield* session((store) => commitRun(store, "run-1", { cursor: "5" }))
        yield* session((store) => commitRun(store, "run-2", { cursor: "3" }))
        const current = yield* session((store) => store.checkpoint(key))
        expect(Option.map(current, ({ watermark, runId }) => ({ watermark, runId }))).toEqual(
          Option.some({ watermark: { cursor: "3" }, runId: "run-2" })
        )
      })
    )

    it.effect("a crash after prepare leaves the old checkpoint and a visible intent, to complete", () =>
      Effect.gen(function* () {
        yield* session((store) => commitRun(store, "run-1", { cursor: "1" }))
        yield* TestClock.setTime(Date.parse("2026-03-02T10:00:00.000Z"))
        // The process dies after step 1: its scope closes before completeCommit.
        yield* session((store) =>
          Effect.gen(function* () {
            yield* startRun(store, "run-2", "2026-03-02T09:59:00.000Z")
            yield* store.prepareCommit({ ...key, runId: "run-2", watermark: { cursor: "2" } })
          })
        )
        const next = yield* session((store) =>
          Effect.gen(function* () {
            const interrupted = yield* store.markInterruptedRuns(at("2026-03-02T11:00:00.000Z"))
            const checkpoint = yield* store.checkpoint(key)
            const pending = yield* store.pendingCommit(key)
            const all = yield* store.pendingCommits({})
            // The sink answers that run-2 did commit: the checkpoint catches up.
            const completed = yield* store.completeCommit({ ...key, runId: "run-2" })
            return { interrupted, checkpoint, pending, all, completed }
          })
        )
        expect(next.interrupted).toEqual(["run-2"])
        expect(Option.map(next.checkpoint, (c) => c.watermark)).toEqual(Option.some({ cursor: "1" }))
        const intent = { watermark: { cursor: "2" }, runId: "run-2", preparedAt: at("2026-03-02T10:00:00.000Z") }
        expect(next.pending).toEqual(Option.some(intent))
        expect(next.all).toEqual([{ ...key, ...intent }])
        expect(next.completed.watermark).toEqual({ cursor: "2" })
        const after = yield* session((store) => Effect.all([store.checkpoint(key), store.pendingCommit(key)]))
        expect(after).toEqual([Option.some(next.completed), Option.none()])
      })
    )

    it.effect("an intent whose sink did not commit is discarded and the checkpoint stays", () =>
      Effect.gen(function* () {
        yield* session((store) => commitRun(store, "run-1", { cursor: "1" }))
        yield* session((store) =>
          Effect.zipRight(
            startRun(store, "run-2"),
            store.prepareCommit({ ...key, runId: "run-2", watermark: { cursor: "2" } })
          )
        )
        const after = yield* session((store) =>
          Effect.gen(function* () {
            yield* store.discardPending({ ...key, runId: "run-2" })
            yield* store.discardPending({ ...key, runId: "run-2" })
            return yield* Effect.all([store.checkpoint(key), store.pendingCommit(key)])
          })
        )
        expect(Option.map(after[0], (c) => [c.runId, c.watermark])).toEqual(Option.some(["run-1", { cursor: "1" }]))
        expect(after[1]).toEqual(Option.none())
      })
    )

    it.effect("complete without the run's intent fails and changes nothing", () =>
      Effect.gen(function* () {
        yield* session((store) =>
          Effect.gen(function* () {
            yield* commitRun(store, "run-1", { cursor: "1" })
            yield* startRun(store, "run-2")
            yield* startRun(store, "run-3")
            yield* store.prepareCommit({ ...key, runId: "run-3", watermark: { cursor: "3" } })
          })
        )
        const before = yield* tables
        const errors = yield* session((store) =>
          Effect.all([
            failure(store.completeCommit({ ...key, runId: "run-2" })),
            failure(store.completeCommit({ ...key, dataset: "returns", runId: "run-2" }))
          ])
        )
        expect(errors.map((error) => error.message)).toEqual([
          "Cannot complete the commit of run run-2 for dataset sales of subscription contoso-sales: the pending commit is run run-3's",
          "Cannot complete the commit of run run-2 for dataset returns of subscription contoso-sales: it has no pending commit"
        ])
        expect(yield* tables).toEqual(before)
      })
    )

    it.effect("complete is one transaction: a failing checkpoint write keeps the intent", () =>
      Effect.gen(function* () {
        yield* session((store) =>
          Effect.gen(function* () {
            yield* commitRun(store, "run-1", { cursor: "1" })
            yield* startRun(store, "run-2")
            yield* store.prepareCommit({ ...key, runId: "run-2", watermark: { cursor: "2" } })
          })
        )
        // A real failure of the second statement, after the intent was deleted.
        yield* dialect.raw(dialect.refuseCheckpointUpdates)
        const before = yield* tables
        const error = yield* session((store) => failure(store.completeCommit({ ...key, runId: "run-2" })))
        expect(error.message).toContain("disk quota exceeded")
        expect(yield* tables).toEqual(before)
        expect((yield* tables).pending).toHaveLength(1)
      })
    )

    it.effect("complete repeated after it succeeded returns the same checkpoint", () =>
      Effect.gen(function* () {
        const [first, again] = yield* session((store) =>
          Effect.gen(function* () {
            const first = yield* commitRun(store, "run-1", { cursor: "1" })
            return [first, yield* store.completeCommit({ ...key, runId: "run-1" })] as const
          })
        )
        expect(again).toEqual(first)
      })
    )

    it.effect("prepare refuses another run's pending intent, unknown runs and other subscriptions' runs", () =>
      Effect.gen(function* () {
        const errors = yield* session((store) =>
          Effect.gen(function* () {
            yield* startRun(store, "run-1")
            yield* startRun(store, "run-2")
            yield* startRun(store, "run-x", undefined, "other-subscription")
            yield* store.prepareCommit({ ...key, runId: "run-1", watermark: { cursor: "1" } })
            // The same run may prepare again, with a later watermark.
            yield* store.prepareCommit({ ...key, runId: "run-1", watermark: { cursor: "1b" } })
            return yield* Effect.all([
              failure(store.prepareCommit({ ...key, runId: "run-2", watermark: { cursor: "2" } })),
              failure(store.prepareCommit({ ...key, runId: "run-9", watermark: { cursor: "9" } })),
              failure(store.prepareCommit({ ...key, runId: "run-x", watermark: { cursor: "x" } })),
              failure(store.prepareCommit({ ...key, runId: "run-1", watermark: 10n })),
              failure(store.prepareCommit({ ...key, runId: "run-1", watermark: undefined }))
            ])
          })
        )
        const prefix = (run: string) =>
          `Cannot prepare the commit of run ${run} for dataset sales of subscription contoso-sales: `
        expect(errors.map((error) => error.message)).toEqual([
          `${prefix("run-2")}run run-1 has a pending commit; complete or discard it first`,
          `${prefix("run-9")}there is no such run`,
          `${prefix("run-x")}the run belongs to subscription other-subscription`,
          `${prefix("run-1")}the watermark is not JSON (Do not know how to serialize a BigInt)`,
          `${prefix("run-1")}the watermark is undefined`
        ])
        const pending = yield* session((store) => store.pendingCommit(key))
        expect(Option.map(pending, (p) => [p.runId, p.watermark])).toEqual(Option.some(["run-1", { cursor: "1b" }]))
      })
    )
  })

  describe("runs", () => {
    it.effect("runs and their dataset records round-trip", () =>
      Effect.gen(function* () {
        yield* session((store) =>
          Effect.gen(function* () {
            yield* startRun(store, "run-1")
            const sales = {
              runId: "run-1",
              dataset: "sales",
              status: "running",
              startedAt: at("2026-03-01T10:00:01.000Z"),
              rows: 0,
              bytes: 0,
              files: 0
            } as const
            yield* store.recordDataset(sales)
            yield* store.recordDataset({
              ...sales,
              status: "succeeded",
              endedAt: at("2026-03-01T10:02:00.000Z"),
              rows: 1_234_567,
              bytes: 5_000_000_000,
              files: 3,
              watermark: { cursor: "9", key: ["1"] }
            })
            yield* store.recordDataset({
              runId: "run-1",
              dataset: "returns",
              status: "failed",
              startedAt: at("2026-03-01T10:00:02.000Z"),
              endedAt: at("2026-03-01T10:00:03.000Z"),
              rows: 0,
              bytes: 0,
              files: 0,
              message: "permission denied for table returns",
              watermark: null
            })
            yield* store.finishRun({
              runId: "run-1",
              status: "failed",
              endedAt: at("2026-03-01T10:02:05.000Z"),
              message: "1 of 2 datasets failed"
            })
          })
        )
        const run = yield* session((store) => store.getRun("run-1"))
        expect(run).toEqual(
          Option.some({
            runId: "run-1",
            subscription: key.subscription,
            share: "contoso/pos-sales",
            mode: "incremental",
            status: "failed",
            startedAt: at("2026-03-01T10:00:00.000Z"),
            endedAt: at("2026-03-01T10:02:05.000Z"),
            message: "1 of 2 datasets failed",
            datasets: [
              {
                runId: "run-1",
                dataset: "returns",
                status: "failed",
                startedAt: at("2026-03-01T10:00:02.000Z"),
                endedAt: at("2026-03-01T10:00:03.000Z"),
                rows: 0,
                bytes: 0,
                files: 0,
                message: "permission denied for table returns",
                watermark: null
              },
              {
                runId: "run-1",
                dataset: "sales",
                status: "succeeded",
                startedAt: at("2026-03-01T10:00:01.000Z"),
                endedAt: at("2026-03-01T10:02:00.000Z"),
                rows: 1_234_567,
                bytes: 5_000_000_000,
                files: 3,
                watermark: { cursor: "9", key: ["1"] }
              }
            ]
          })
        )
        expect(yield* session((store) => store.getRun("run-404"))).toEqual(Option.none())
      })
    )

    it.effect("refuses a taken run id, finishing twice, and datasets of unknown runs", () =>
      Effect.gen(function* () {
        const messages = yield* session((store) =>
          Effect.gen(function* () {
            yield* startRun(store, "run-1")
            yield* store.finishRun({ runId: "run-1", status: "succeeded", endedAt: at("2026-03-01T10:01:00.000Z") })
            const errors = yield* Effect.all([
              failure(startRun(store, "run-1")),
              failure(store.finishRun({ runId: "run-1", status: "canceled", endedAt: at("2026-03-01T10:02:00.000Z") })),
              failure(store.finishRun({ runId: "run-2", status: "failed", endedAt: at("2026-03-01T10:02:00.000Z") })),
              failure(
                store.recordDataset({
                  runId: "run-2",
                  dataset: "sales",
                  status: "running",
                  startedAt: at("2026-03-01T10:00:00.000Z"),
                  rows: 0,
                  bytes: 0,
                  files: 0
                })
              )
            ])
            return errors.map((error) => error.message)
          })
        )
        expect(messages).toEqual([
          `Cannot start run run-1: ${dialect.reasons.duplicateRun}`,
          "Cannot finish run run-1: it already ended as succeeded",
          "Cannot finish run run-2: there is no such run",
          `Cannot record dataset sales of run run-2: ${dialect.reasons.unknownRun}`
        ])
      })
    )

    it.effect("counts are exact integers: beyond 2^53 - 1 they are refused on write and on read", () =>
      Effect.gen(function* () {
        const record = {
          runId: "run-1",
          dataset: "sales",
          status: "succeeded",
          startedAt: at("2026-03-01T10:00:01.000Z"),
          rows: Number.MAX_SAFE_INTEGER,
          bytes: 0,
          files: 0
        } as const
        const stored = yield* session((store) =>
          Effect.gen(function* () {
            yield* startRun(store, "run-1")
            yield* store.recordDataset(record)
            return yield* store.getRun("run-1")
          })
        )
        expect(Option.map(stored, (run) => run.datasets[0]?.rows)).toEqual(Option.some(Number.MAX_SAFE_INTEGER))
        const refused = yield* session((store) =>
          Effect.all([
            failure(store.recordDataset({ ...record, bytes: 2 ** 53 })),
            failure(store.recordDataset({ ...record, files: 1.5 })),
            failure(store.recordDataset({ ...record, rows: -1 }))
          ])
        )
        expect(refused.map((error) => error.message)).toEqual([
          "Cannot record dataset sales of run run-1: the byte count must be a non-negative integer below 2^53, not 9007199254740992",
          "Cannot record dataset sales of run run-1: the file count must be a non-negative integer below 2^53, not 1.5",
          "Cannot record dataset sales of run run-1: the row count must be a non-negative integer below 2^53, not -1"
        ])
        // Written behind the store's back: a driver would round it to 2^53 as a number.
        yield* dialect.raw((sql) => sql`UPDATE run_datasets SET byte_count = 9007199254740993`)
        const error = yield* session((store) => failure(store.getRun("run-1")))
        expect(error.message).toContain("Cannot read run run-1: a stored row is malformed")
        expect(error.message).toContain("a count must be a non-negative integer below 2^53")
      })
    )

    it.effect("listRuns pages newest first, ties broken by run id, optionally per subscription", () =>
      Effect.gen(function* () {
        const starts: ReadonlyArray<readonly [string, string, string]> = [
          ["a", "2026-03-01T10:00:00.000Z", "s1"],
          ["b", "2026-03-01T11:00:00.000Z", "s2"],
          ["c", "2026-03-01T12:00:00.000Z", "s1"],
          ["d", "2026-03-01T12:00:00.000Z", "s1"],
          ["e", "2026-03-01T12:00:00.000Z", "s2"],
          ["f", "2026-03-01T13:00:00.000Z", "s1"],
          ["g", "2026-03-02T09:00:00.000Z", "s2"]
        ]
        const pages = (subscription?: string) =>
          session((store) =>
            Effect.gen(function* () {
              const seen: Array<ReadonlyArray<string>> = []
              let before: string | undefined
              for (;;) {
                const page = yield* store.listRuns({
                  limit: 3,
                  ...(subscription === undefined ? {} : { subscription }),
                  ...(before === undefined ? {} : { before })
                })
                if (page.length === 0) return seen
                seen.push(page.map((run) => run.runId))
                before = page[page.length - 1]?.runId
              }
            })
          )
        yield* session((store) =>
          Effect.forEach(starts, ([runId, startedAt, subscription]) => startRun(store, runId, startedAt, subscription))
        )
        expect(yield* pages()).toEqual([["g", "f", "e"], ["d", "c", "b"], ["a"]])
        expect(yield* pages("s1")).toEqual([["f", "d", "c"], ["a"]])
        const errors = yield* session((store) =>
          Effect.all([failure(store.listRuns({ limit: 3, before: "zz" })), failure(store.listRuns({ limit: 0 }))])
        )
        expect(errors.map((error) => error.message)).toEqual([
          "Cannot list runs before run zz: there is no such run",
          "Cannot list runs: the limit must be a positive integer"
        ])
      })
    )

    it.effect("listRuns and listRunDetails select a provider's shares, its name matched as written", () =>
      Effect.gen(function* () {
        const runs: ReadonlyArray<readonly [string, string]> = [
          ["r1", "con_oso/sales"],
          ["r2", "conxoso/sales"],
          ["r3", "con_oso/returns"],
          ["r4", "con_oso2/sales"]
        ]
        const [ids, details, none] = yield* session((store) =>
          Effect.gen(function* () {
            for (const [index, [runId, share]] of runs.entries()) {
              yield* store.startRun({
                runId,
                subscription: "fabrikam/feed",
                share,
                mode: "full",
                startedAt: at(`2026-03-01T1${index}:00:00.000Z`)
              })
            }
            for (const dataset of ["sales", "returns"]) {
              yield* store.recordDataset({
                runId: "r3",
                dataset,
                status: "succeeded",
                startedAt: at("2026-03-01T12:00:00.000Z"),
                rows: dataset.length,
                bytes: 10,
                files: 1
              })
            }
            return yield* Effect.all([
              store.listRuns({ provider: "con_oso", limit: 10 }),
              store.listRunDetails({ provider: "con_oso", limit: 10 }),
              store.listRunDetails({ provider: "nobody", limit: 10 })
            ])
          })
        )
        expect(ids.map((run) => run.runId)).toEqual(["r3", "r1"])
        expect(
          details.map((run) => [run.runId, run.datasets.map((dataset) => [dataset.dataset, dataset.rows])])
        ).toEqual([
          [
            "r3",
            [
              ["returns", 7],
              ["sales", 5]
            ]
          ],
          ["r1", []]
        ])
        expect(none).toEqual([])
      })
    )

    it.effect("markInterruptedRuns fails the runs and datasets a dead process left running", () =>
      Effect.gen(function* () {
        yield* session((store) =>
          Effect.gen(function* () {
            yield* startRun(store, "done")
            yield* store.finishRun({ runId: "done", status: "succeeded", endedAt: at("2026-03-01T10:01:00.000Z") })
            yield* startRun(store, "left-running")
            const dataset = {
              runId: "left-running",
              startedAt: at("2026-03-01T10:00:00.000Z"),
              endedAt: at("2026-03-01T10:00:30.000Z"),
              rows: 10,
              bytes: 100,
              files: 1
            }
            yield* store.recordDataset({ ...dataset, dataset: "sales", status: "succeeded" })
            yield* store.recordDataset({ ...dataset, dataset: "returns", status: "running" })
          })
        )
        const [marked, again, run, done] = yield* session((store) =>
          Effect.all([
            store.markInterruptedRuns(at("2026-03-01T12:00:00.000Z")),
            store.markInterruptedRuns(at("2026-03-01T12:00:00.000Z")),
            store.getRun("left-running"),
            store.getRun("done")
          ])
        )
        expect(marked).toEqual(["left-running"])
        expect(again).toEqual([])
        const interrupted = Option.getOrThrow(run)
        expect([interrupted.status, interrupted.message, interrupted.endedAt]).toEqual([
          "failed",
          "interrupted",
          at("2026-03-01T12:00:00.000Z")
        ])
        expect(interrupted.datasets.map((d) => [d.dataset, d.status, d.message])).toEqual([
          ["returns", "failed", "interrupted"],
          ["sales", "succeeded", undefined]
        ])
        expect(Option.map(done, (d) => d.status)).toEqual(Option.some("succeeded"))
      })
    )
  })

  it.effect("stores watermarks as JSON text", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(session((store) => commitRun(store, "run-1", [1, "two", { three: 3 }])))
      expect(Exit.isSuccess(exit)).toBe(true)
      const checkpoint = yield* dialect.raw((sql) => sql`SELECT watermark FROM checkpoints`)
      expect(checkpoint).toEqual([{ watermark: '[1,"two",{"three":3}]' }])
    })
  )
}

for (const dialect of [makeSqlite(), makePostgres()]) {
  describe(`StateStore on ${dialect.name}`, () => suite(dialect))
}
