/**
 * The control store suite, run once per database (SQLite in a temp file, PostgreSQL in a
 * schema of its own): every method, its conflicts and not-found cases, paging, the audit
 * log and deletions.
 */
import { afterEach, beforeEach, describe, expect, it } from "@effect/vitest"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Actor } from "../../../runtime/control/ControlStore.js"
import { ControlStore } from "../../../runtime/control/ControlStore.js"
import { hashSecret, makeSecret } from "../../../runtime/control/Tokens.js"
import { StateStore } from "../../../runtime/state/StateStore.js"
import { type ControlDialect, dialects } from "./fixtures.js"

type Control = Context.Tag.Service<ControlStore>
type State = Context.Tag.Service<StateStore>

const operator: Actor = { kind: "operator" }
const contoso: Actor = { kind: "account", account: "contoso" }
const fabrikam: Actor = { kind: "account", account: "fabrikam" }
const at = (iso: string) => new Date(iso)

const suite = (dialect: ControlDialect) => {
  beforeEach(() => dialect.setup())
  afterEach(() => dialect.teardown())

  const session = <A, E>(use: (control: Control, state: State) => Effect.Effect<A, E>) =>
    Effect.flatMap(Effect.all([ControlStore, StateStore]), ([control, state]) => use(control, state)).pipe(
      Effect.provide(dialect.stores())
    )

  /** Two accounts, a store each, a share of contoso's with one dataset, and fabrikam subscribed. */
  const seed = (control: Control) =>
    Effect.gen(function* () {
      yield* control.putAccount(operator, { name: "contoso", email: "data@contoso.example" })
      yield* control.putAccount(operator, { name: "fabrikam", email: "ops@fabrikam.example" })
      yield* control.putStore(contoso, {
        account: "contoso",
        name: "warehouse",
        type: "postgres",
        settings: { url: "postgres://ferry:secret@db/sales" }
      })
      yield* control.putStore(fabrikam, {
        account: "fabrikam",
        name: "lake",
        type: "local",
        settings: { path: "./in" }
      })
      yield* control.putShare(contoso, { account: "contoso", name: "sales", kind: "snapshot" })
      yield* control.putDataset(contoso, {
        account: "contoso",
        share: "sales",
        name: "orders",
        spec: { source: { store: "warehouse", table: "public.orders" } }
      })
      return yield* control.putSubscription(fabrikam, {
        account: "fabrikam",
        name: "contoso-sales",
        provider: "contoso",
        share: "sales",
        trigger: "manual"
      })
    })

  it.effect("keeps resources, writes each change to the audit log in its transaction, and hashes of secrets only", () =>
    session((control) =>
      Effect.gen(function* () {
        const subscription = yield* seed(control)
        expect(subscription).toMatchObject({ status: "Active", provider: "contoso", origin: "api" })
        const store = yield* control.getStore("contoso", "warehouse")
        expect(Option.map(store, (s) => s.settings)).toEqual(Option.some({ url: "postgres://ferry:secret@db/sales" }))
        const secret = makeSecret("ferry_")
        expect(secret).toMatch(/^ferry_[A-Za-z0-9_-]{43}$/)
        const token = yield* control.createToken(operator, { account: "contoso", secretHash: hashSecret(secret) })
        const found = yield* control.authenticate(hashSecret(secret), at("2026-03-01T10:00:00.000Z"))
        expect(Option.map(found, (t) => [t.id, t.account, t.lastUsedAt])).toEqual(
          Option.some([token.id, "contoso", at("2026-03-01T10:00:00.000Z")])
        )
        const stored = yield* dialect.raw((sql) => sql<{ secret_hash: string }>`SELECT secret_hash FROM tokens`)
        expect(stored).toEqual([{ secret_hash: hashSecret(secret) }])
        const audit = yield* control.listAudit({ account: "fabrikam" }, { limit: 100 })
        expect(audit.items.map((entry) => entry.action)).toEqual([
          "subscription.create",
          "store.create",
          "account.create"
        ])
      })
    )
  )

  it.effect("refuses a run while the subscription has one queued or running", () =>
    session((control, state) =>
      Effect.gen(function* () {
        yield* seed(control)
        const request = (runId: string) =>
          control.requestRun(fabrikam, {
            runId,
            account: "fabrikam",
            subscription: "contoso-sales",
            mode: "full",
            requestedAt: at("2026-03-01T10:00:00.000Z"),
            requestedBy: "fabrikam"
          })
        yield* request("run-1")
        expect((yield* Effect.flip(request("run-2")))._tag).toBe("ConflictError")
        yield* control.takeRunRequest("run-1")
        yield* state.startRun({
          runId: "run-1",
          subscription: "fabrikam/contoso-sales",
          share: "contoso/sales",
          mode: "full",
          startedAt: at("2026-03-01T10:00:01.000Z")
        })
        expect((yield* Effect.flip(request("run-2"))).message).toContain("run-1 in progress")
        yield* state.finishRun({ runId: "run-1", status: "succeeded", endedAt: at("2026-03-01T10:01:00.000Z") })
        yield* request("run-2")
        expect((yield* control.pendingRunRequests()).map((r) => r.runId)).toEqual(["run-2"])
      })
    )
  )
}

for (const dialect of dialects()) {
  describe(`ControlStore on ${dialect.name}`, () => suite(dialect))
}
