/**
 * The control store suite, run once per database (SQLite in a temp file, PostgreSQL in a
 * schema of its own): every method, its conflicts and not-found cases, paging, the audit
 * log and deletions.
 */
import { afterEach, beforeEach, describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { Actor, Page } from "../../../runtime/control/ControlStore.js"
import { ControlStore } from "../../../runtime/control/ControlStore.js"
import { hashSecret, makeSecret } from "../../../runtime/control/Tokens.js"
import { StateStore } from "../../../runtime/state/StateStore.js"
import { type ControlDialect, dialects } from "./fixtures.js"

type Control = Context.Tag.Service<ControlStore>
type State = Context.Tag.Service<StateStore>

const operator: Actor = { kind: "operator" }
const contoso: Actor = { kind: "account", account: "contoso" }
const fabrikam: Actor = { kind: "account", account: "fabrikam" }
const northwind: Actor = { kind: "account", account: "northwind" }
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
        // Within the minute, a use is not written again; after it, it is.
        const uses = yield* Effect.forEach(["2026-03-01T10:00:59.000Z", "2026-03-01T10:01:00.000Z"], (time) =>
          Effect.zipRight(
            control.authenticate(hashSecret(secret), at(time)),
            dialect.raw((sql) => sql<{ last_used_at: string }>`SELECT last_used_at FROM tokens`)
          )
        )
        expect(uses.map((rows) => rows[0]?.last_used_at)).toEqual([
          "2026-03-01T10:00:00.000Z",
          "2026-03-01T10:01:00.000Z"
        ])
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

  /** Every page of a list, following `next`; the limit is checked on each page. */
  const allPages = <A, E>(list: (after: string | undefined) => Effect.Effect<Page<A>, E>, limit: number) =>
    Effect.gen(function* () {
      const pages: Array<ReadonlyArray<A>> = []
      let after: string | undefined
      do {
        const page = yield* list(after)
        expect(page.items.length).toBeLessThanOrEqual(limit)
        pages.push(page.items)
        after = page.next
      } while (after !== undefined)
      return pages
    })

  const auditCount = dialect
    .raw((sql) => sql<{ n: number | string }>`SELECT COUNT(*) AS n FROM audit_log`)
    .pipe(Effect.map((rows) => Number(rows[0]?.n)))

  it.effect("accounts: created, updated, unchanged without an audit entry; listed by pages; not found", () =>
    session((control) =>
      Effect.gen(function* () {
        for (const name of ["e", "a", "d", "c", "b"]) yield* control.putAccount(operator, { name })
        const before = yield* auditCount
        const same = yield* control.putAccount(operator, { name: "a" })
        expect(same).toMatchObject({ name: "a", origin: "api" })
        expect(yield* auditCount).toBe(before)
        const updated = yield* control.putAccount(
          { kind: "config", file: "ferry.yaml" },
          { name: "a", email: "a@x.example" }
        )
        expect(updated).toMatchObject({ email: "a@x.example", origin: "config" })
        expect(yield* auditCount).toBe(before + 1)
        // An API write keeps the origin of what it replaces.
        const described = yield* control.putAccount(operator, { name: "a", email: "a@x.example", description: "A" })
        expect(described.origin).toBe("config")
        const pages = yield* allPages((after) => control.listAccounts({ limit: 2, ...(after ? { after } : {}) }), 2)
        expect(pages.map((page) => page.map((account) => account.name))).toEqual([["a", "b"], ["c", "d"], ["e"]])
        expect(yield* control.getAccount("zz")).toEqual(Option.none())
        const error = yield* Effect.flip(control.deleteAccount(operator, "zz"))
        expect(error).toMatchObject({ _tag: "NotFoundError", resource: "account:zz" })
        const cursor = yield* Effect.flip(control.listAccounts({ limit: 2, after: "not-a-cursor" }))
        expect(cursor).toMatchObject({ _tag: "NotFoundError", resource: "cursor" })
        const wrongList = (yield* control.listDatasets("a", "s", { limit: 1 })).next
        expect(wrongList).toBeUndefined()
      })
    )
  )

  it.effect("tokens: an account's or the operator's, found by hash, revoked, listed", () =>
    session((control) =>
      Effect.gen(function* () {
        yield* control.putAccount(operator, { name: "contoso" })
        const missing = yield* Effect.flip(control.createToken(operator, { account: "nobody", secretHash: "h0" }))
        expect(missing).toMatchObject({ _tag: "NotFoundError", resource: "account:nobody" })
        const op = yield* control.createToken(operator, { description: "ops", secretHash: hashSecret("s1") })
        expect(op.account).toBeUndefined()
        const mine = yield* control.createToken(operator, { account: "contoso", secretHash: hashSecret("s2") })
        const again = yield* Effect.flip(control.createToken(operator, { secretHash: hashSecret("s2") }))
        expect(again._tag).toBe("StateError")
        expect(yield* control.authenticate(hashSecret("unknown"), at("2026-01-01T00:00:00.000Z"))).toEqual(
          Option.none()
        )
        const found = yield* control.authenticate(hashSecret("s1"), at("2026-01-01T00:00:00.000Z"))
        expect(Option.map(found, (token) => token.id)).toEqual(Option.some(op.id))
        const listed = yield* allPages((after) => control.listTokens({}, { limit: 1, ...(after ? { after } : {}) }), 1)
        expect(listed.flat().map((token) => token.id)).toEqual([op.id, mine.id])
        expect((yield* control.listTokens({ account: "contoso" }, { limit: 10 })).items.map((t) => t.id)).toEqual([
          mine.id
        ])
        yield* control.revokeToken(operator, mine.id)
        expect(yield* control.authenticate(hashSecret("s2"), at("2026-01-01T00:00:00.000Z"))).toEqual(Option.none())
        expect((yield* Effect.flip(control.revokeToken(operator, mine.id)))._tag).toBe("NotFoundError")
        const audit = yield* control.listAudit({ account: "contoso" }, { limit: 10 })
        expect(audit.items.map((entry) => [entry.action, entry.resource])).toEqual([
          ["token.revoke", `token:${mine.id}`],
          ["token.create", `token:${mine.id}`],
          ["account.create", "account:contoso"]
        ])
      })
    )
  )

  it.effect(
    "stores: names unique per account, replaced by a put, refused deletion while used, no settings in the audit",
    () =>
      session((control) =>
        Effect.gen(function* () {
          yield* seed(control)
          // The same name in another account is another store.
          yield* control.putStore(fabrikam, {
            account: "fabrikam",
            name: "warehouse",
            type: "local",
            settings: { path: "." }
          })
          expect(Option.map(yield* control.getStore("contoso", "warehouse"), (s) => s.type)).toEqual(
            Option.some("postgres")
          )
          const replaced = yield* control.putStore(contoso, {
            account: "contoso",
            name: "warehouse",
            type: "postgres",
            settings: { url: "postgres://ferry:other@db/sales", schema: "s" }
          })
          expect(replaced.settings).toEqual({ url: "postgres://ferry:other@db/sales", schema: "s" })
          expect(replaced.updatedAt.getTime()).toBeGreaterThanOrEqual(replaced.createdAt.getTime())
          const noStore = yield* Effect.flip(
            control.putStore(contoso, { account: "nobody", name: "x", type: "local", settings: {} })
          )
          expect(noStore._tag).toBe("NotFoundError")
          const used = yield* Effect.flip(control.deleteStore(contoso, "contoso", "warehouse"))
          expect(used).toMatchObject({ _tag: "ConflictError", resource: "store:contoso/warehouse" })
          expect(used.message).toContain("dataset orders of share sales")
          yield* control.putMapping(fabrikam, {
            account: "fabrikam",
            subscription: "contoso-sales",
            dataset: "orders",
            spec: { store: "lake", format: "csv", path: "orders" }
          })
          const mapped = yield* Effect.flip(control.deleteStore(fabrikam, "fabrikam", "lake"))
          expect(mapped.message).toContain("dataset orders of subscription contoso-sales")
          yield* control.deleteStore(fabrikam, "fabrikam", "warehouse")
          expect(yield* control.getStore("fabrikam", "warehouse")).toEqual(Option.none())
          expect((yield* Effect.flip(control.deleteStore(fabrikam, "fabrikam", "warehouse")))._tag).toBe(
            "NotFoundError"
          )
          const page = yield* control.listStores("contoso", { limit: 10 })
          expect(page).toMatchObject({ items: [{ name: "warehouse" }] })
          expect(page.next).toBeUndefined()
          const audit = yield* control.listAudit({}, { limit: 100 })
          expect(JSON.stringify(audit.items)).not.toContain("secret")
          expect(JSON.stringify(audit.items)).not.toContain("other@db")
        })
      )
  )

  it.effect(
    "shares and datasets: counted, in order, paged; deleting a share removes its datasets and invitations and revokes its subscriptions",
    () =>
      session((control) =>
        Effect.gen(function* () {
          yield* seed(control)
          for (const name of ["returns", "customers", "products"]) {
            yield* control.putDataset(contoso, {
              account: "contoso",
              share: "sales",
              name,
              spec: { source: { store: "warehouse", table: name } }
            })
          }
          yield* control.putDataset(contoso, {
            account: "contoso",
            share: "sales",
            name: "first",
            position: -1,
            spec: { source: { store: "warehouse", table: "first" } }
          })
          const share = yield* control.getShare("contoso", "sales")
          expect(Option.map(share, (s) => s.datasetCount)).toEqual(Option.some(5))
          const pages = yield* allPages(
            (after) => control.listDatasets("contoso", "sales", { limit: 2, ...(after ? { after } : {}) }),
            2
          )
          expect(pages.map((page) => page.map((d) => d.name))).toEqual([
            ["first", "orders"],
            ["returns", "customers"],
            ["products"]
          ])
          // A replaced dataset keeps its place.
          yield* control.putDataset(contoso, {
            account: "contoso",
            share: "sales",
            name: "orders",
            spec: { source: { store: "warehouse", table: "public.orders_v2" } }
          })
          expect(
            Option.map(yield* control.getDataset("contoso", "sales", "orders"), (d) => [d.position, d.spec])
          ).toEqual(Option.some([0, { source: { store: "warehouse", table: "public.orders_v2" } }]))
          const noShare = yield* Effect.flip(
            control.putDataset(contoso, { account: "contoso", share: "nope", name: "x", spec: {} })
          )
          expect(noShare).toMatchObject({ _tag: "NotFoundError", resource: "share:contoso/nope" })
          const noStore = yield* Effect.flip(
            control.putDataset(contoso, {
              account: "contoso",
              share: "sales",
              name: "x",
              spec: { source: { store: "gone" } }
            })
          )
          expect(noStore).toMatchObject({ _tag: "NotFoundError", resource: "store:contoso/gone" })
          yield* control.deleteDataset(contoso, "contoso", "sales", "first")
          expect((yield* Effect.flip(control.deleteDataset(contoso, "contoso", "sales", "first")))._tag).toBe(
            "NotFoundError"
          )

          yield* control.createInvitation(contoso, {
            account: "contoso",
            share: "sales",
            to: "someone@else.example",
            secretHash: hashSecret("invite"),
            at: at("2026-01-01T00:00:00.000Z")
          })
          yield* control.requestRun(fabrikam, {
            runId: "run-1",
            account: "fabrikam",
            subscription: "contoso-sales",
            mode: "full",
            requestedAt: at("2026-01-01T00:00:00.000Z"),
            requestedBy: "fabrikam"
          })
          yield* control.deleteShare(contoso, "contoso", "sales")
          expect(yield* control.getShare("contoso", "sales")).toEqual(Option.none())
          const left = yield* dialect.raw((sql) =>
            Effect.all({
              datasets: sql`SELECT name FROM datasets`,
              invitations: sql`SELECT id FROM invitations`,
              requests: sql`SELECT run_id FROM run_requests`
            })
          )
          expect(left).toEqual({ datasets: [], invitations: [], requests: [] })
          const subscription = yield* control.getSubscription("fabrikam", "contoso-sales")
          expect(Option.map(subscription, (s) => s.status)).toEqual(Option.some("Revoked"))
          // The consumer sees the deletion that revoked its subscription.
          const seen = yield* control.listAudit({ account: "fabrikam" }, { limit: 1 })
          expect(seen.items[0]).toMatchObject({
            action: "share.delete",
            resource: "share:contoso/sales",
            accounts: ["contoso", "fabrikam"],
            detail: { revoked_subscriptions: ["fabrikam/contoso-sales"] }
          })
          expect((yield* Effect.flip(control.deleteShare(contoso, "contoso", "sales")))._tag).toBe("NotFoundError")
        })
      )
  )

  const invite = (
    control: Control,
    to: string,
    secret: string,
    expiresAt?: Date,
    created = "2026-01-01T00:00:00.000Z"
  ) =>
    control.createInvitation(contoso, {
      account: "contoso",
      share: "sales",
      to,
      secretHash: hashSecret(secret),
      at: at(created),
      ...(expiresAt === undefined ? {} : { expiresAt })
    })

  it.effect(
    "invitations: accepted once with their token spent, expired as time passes, rejected, withdrawn, renewed",
    () =>
      session((control) =>
        Effect.gen(function* () {
          yield* seed(control)
          yield* control.putAccount(operator, { name: "northwind", email: "Data@Northwind.example" })
          const byName = yield* invite(control, "fabrikam", "t1", at("2026-02-01T00:00:00.000Z"))
          expect(byName).toMatchObject({ status: "Pending", to: "fabrikam", origin: "api" })
          const twice = yield* Effect.flip(invite(control, "fabrikam", "t1b"))
          expect(twice._tag).toBe("ConflictError")

          // Expired is computed from the time asked about.
          const later = yield* control.getInvitation(byName.id, at("2026-02-01T00:00:00.000Z"))
          expect(Option.map(later, (i) => i.status)).toEqual(Option.some("Expired"))
          const late = yield* Effect.flip(
            control.acceptInvitation(fabrikam, {
              invitationId: byName.id,
              account: "fabrikam",
              subscription: "late",
              trigger: "manual",
              at: at("2026-02-02T00:00:00.000Z")
            })
          )
          expect(late).toMatchObject({ _tag: "ConflictError", message: expect.stringContaining("expired") })

          // A name taken: nothing changes, the invitation stays pending with its token.
          const taken = yield* Effect.flip(
            control.acceptInvitation(fabrikam, {
              invitationId: byName.id,
              account: "fabrikam",
              subscription: "contoso-sales",
              trigger: "manual",
              at: at("2026-01-10T00:00:00.000Z")
            })
          )
          expect(taken).toMatchObject({ _tag: "ConflictError", resource: "subscription:fabrikam/contoso-sales" })
          const byToken = yield* control.invitationByToken(hashSecret("t1"), at("2026-01-10T00:00:00.000Z"))
          expect(Option.map(byToken, (i) => [i.id, i.status])).toEqual(Option.some([byName.id, "Pending"]))

          const accepted = yield* control.acceptInvitation(fabrikam, {
            invitationId: byName.id,
            account: "fabrikam",
            subscription: "sales-2",
            trigger: "schedule",
            at: at("2026-01-10T00:00:00.000Z")
          })
          expect(accepted.invitation).toMatchObject({
            status: "Accepted",
            respondedBy: "fabrikam",
            subscription: "sales-2"
          })
          expect(accepted.subscription).toMatchObject({
            account: "fabrikam",
            name: "sales-2",
            provider: "contoso",
            share: "sales",
            status: "Active",
            trigger: "schedule",
            invitationId: byName.id
          })
          // The token is spent.
          expect(yield* control.invitationByToken(hashSecret("t1"), at("2026-01-10T00:00:00.000Z"))).toEqual(
            Option.none()
          )
          const again = yield* Effect.flip(
            control.acceptInvitation(fabrikam, {
              invitationId: byName.id,
              account: "fabrikam",
              subscription: "sales-3",
              trigger: "manual",
              at: at("2026-01-11T00:00:00.000Z")
            })
          )
          expect(again).toMatchObject({ _tag: "ConflictError", message: expect.stringContaining("accepted") })

          // Addressed by e-mail, whatever its case; rejected once.
          const byEmail = yield* invite(control, "data@northwind.example", "t2", undefined, "2026-01-02T00:00:00.000Z")
          const received = yield* control.listReceivedInvitations(
            { account: "northwind", now: at("2026-01-03T00:00:00.000Z") },
            { limit: 10 }
          )
          expect(received.items.map((i) => i.id)).toEqual([byEmail.id])
          const rejected = yield* control.rejectInvitation(
            northwind,
            byEmail.id,
            "northwind",
            at("2026-01-03T00:00:00.000Z")
          )
          expect(rejected).toMatchObject({ status: "Rejected", respondedBy: "northwind" })
          expect(
            (yield* Effect.flip(
              control.rejectInvitation(northwind, byEmail.id, "northwind", at("2026-01-04T00:00:00.000Z"))
            ))._tag
          ).toBe("ConflictError")

          // Renewed: a new token replaces the old one; then withdrawn, and the token goes with it.
          const pending = yield* invite(control, "other@x.example", "t3", undefined, "2026-01-03T00:00:00.000Z")
          const renewed = yield* control.renewInvitation(contoso, pending.id, {
            secretHash: hashSecret("t4"),
            sentAt: at("2026-01-04T00:00:00.000Z")
          })
          expect(renewed.sentAt).toEqual(at("2026-01-04T00:00:00.000Z"))
          expect(yield* control.invitationByToken(hashSecret("t3"), at("2026-01-05T00:00:00.000Z"))).toEqual(
            Option.none()
          )
          expect(
            Option.map(yield* control.invitationByToken(hashSecret("t4"), at("2026-01-05T00:00:00.000Z")), (i) => i.id)
          ).toEqual(Option.some(pending.id))
          yield* control.markInvitationSent(pending.id, at("2026-01-06T00:00:00.000Z"))
          expect(
            Option.map(yield* control.getInvitation(pending.id, at("2026-01-06T00:00:00.000Z")), (i) => i.sentAt)
          ).toEqual(Option.some(at("2026-01-06T00:00:00.000Z")))
          const withdrawn = yield* control.withdrawInvitation(contoso, pending.id, at("2026-01-07T00:00:00.000Z"))
          expect(withdrawn.status).toBe("Withdrawn")
          expect(yield* control.invitationByToken(hashSecret("t4"), at("2026-01-07T00:00:00.000Z"))).toEqual(
            Option.none()
          )
          expect(
            (yield* Effect.flip(control.withdrawInvitation(contoso, pending.id, at("2026-01-08T00:00:00.000Z"))))._tag
          ).toBe("ConflictError")
          expect(
            (yield* Effect.flip(control.renewInvitation(contoso, pending.id, { secretHash: hashSecret("t5") })))._tag
          ).toBe("ConflictError")
          expect(
            (yield* Effect.flip(control.withdrawInvitation(contoso, "missing", at("2026-01-08T00:00:00.000Z"))))._tag
          ).toBe("NotFoundError")

          const pages = yield* allPages(
            (after) =>
              control.listInvitations(
                { account: "contoso", share: "sales", now: at("2026-01-20T00:00:00.000Z") },
                { limit: 2, ...(after ? { after } : {}) }
              ),
            2
          )
          expect(pages.flat().map((i) => [i.to, i.status])).toEqual([
            ["fabrikam", "Accepted"],
            ["data@northwind.example", "Rejected"],
            ["other@x.example", "Withdrawn"]
          ])
          expect(pages).toHaveLength(2)
          const noShare = yield* Effect.flip(
            control.createInvitation(contoso, {
              account: "contoso",
              share: "nope",
              to: "x@y.example",
              secretHash: "h",
              at: at("2026-01-01T00:00:00.000Z")
            })
          )
          expect(noShare._tag).toBe("NotFoundError")
        })
      )
  )

  it.effect(
    "subscriptions and mappings: one name per account, listed for consumer and provider, revoked and reinstated, deleted with their mappings",
    () =>
      session((control) =>
        Effect.gen(function* () {
          yield* seed(control)
          yield* control.putShare(contoso, {
            account: "contoso",
            name: "stock",
            kind: "snapshot",
            schedule: { every: "day", at: "02:00" }
          })
          yield* control.putDataset(contoso, {
            account: "contoso",
            share: "sales",
            name: "customers",
            position: -1,
            spec: { source: { store: "warehouse", table: "customers" } }
          })
          const other = yield* Effect.flip(
            control.putSubscription(fabrikam, {
              account: "fabrikam",
              name: "contoso-sales",
              provider: "contoso",
              share: "stock",
              trigger: "manual"
            })
          )
          expect(other).toMatchObject({ _tag: "ConflictError", resource: "subscription:fabrikam/contoso-sales" })
          const noShare = yield* Effect.flip(
            control.putSubscription(fabrikam, {
              account: "fabrikam",
              name: "x",
              provider: "contoso",
              share: "nope",
              trigger: "manual"
            })
          )
          expect(noShare._tag).toBe("NotFoundError")
          // The same share again sets the trigger.
          const scheduled = yield* control.putSubscription(fabrikam, {
            account: "fabrikam",
            name: "contoso-sales",
            provider: "contoso",
            share: "sales",
            trigger: "schedule"
          })
          expect(scheduled.trigger).toBe("schedule")
          yield* control.putSubscription(fabrikam, {
            account: "fabrikam",
            name: "a-stock",
            provider: "contoso",
            share: "stock",
            trigger: "schedule"
          })
          yield* control.putSubscription(contoso, {
            account: "contoso",
            name: "own-stock",
            provider: "contoso",
            share: "stock",
            trigger: "manual"
          })
          expect((yield* control.listSubscriptions("fabrikam", { limit: 10 })).items.map((s) => s.name)).toEqual([
            "a-stock",
            "contoso-sales"
          ])
          const provided = yield* allPages(
            (after) =>
              control.listShareSubscriptions({ provider: "contoso" }, { limit: 2, ...(after ? { after } : {}) }),
            2
          )
          expect(provided.flat().map((s) => `${s.share}:${s.account}/${s.name}`)).toEqual([
            "sales:fabrikam/contoso-sales",
            "stock:contoso/own-stock",
            "stock:fabrikam/a-stock"
          ])
          expect(
            (yield* control.listShareSubscriptions({ provider: "contoso", share: "sales" }, { limit: 10 })).items
          ).toHaveLength(1)
          expect((yield* control.scheduledSubscriptions("contoso", "stock")).map((s) => s.name)).toEqual(["a-stock"])
          const manual = yield* control.setTrigger(fabrikam, "fabrikam", "a-stock", "manual")
          expect(manual.trigger).toBe("manual")
          expect(yield* control.scheduledSubscriptions("contoso", "stock")).toEqual([])
          expect((yield* Effect.flip(control.setTrigger(fabrikam, "fabrikam", "nope", "manual")))._tag).toBe(
            "NotFoundError"
          )

          // Mappings, in the order of the share's datasets.
          for (const dataset of ["orders", "customers"]) {
            yield* control.putMapping(fabrikam, {
              account: "fabrikam",
              subscription: "contoso-sales",
              dataset,
              spec: { store: "lake", format: "parquet", path: dataset }
            })
          }
          expect((yield* control.listMappings("fabrikam", "contoso-sales")).map((m) => m.dataset)).toEqual([
            "customers",
            "orders"
          ])
          const noLake = yield* Effect.flip(
            control.putMapping(fabrikam, {
              account: "fabrikam",
              subscription: "contoso-sales",
              dataset: "orders",
              spec: { store: "warehouse" }
            })
          )
          expect(noLake).toMatchObject({ _tag: "NotFoundError", resource: "store:fabrikam/warehouse" })
          yield* control.deleteMapping(fabrikam, "fabrikam", "contoso-sales", "customers")
          expect(
            (yield* Effect.flip(control.deleteMapping(fabrikam, "fabrikam", "contoso-sales", "customers")))._tag
          ).toBe("NotFoundError")

          // Revoked: its queued run goes, and no run can be queued until it is reinstated.
          const request = (runId: string) =>
            control.requestRun(fabrikam, {
              runId,
              account: "fabrikam",
              subscription: "contoso-sales",
              mode: "incremental",
              requestedAt: at("2026-01-01T00:00:00.000Z"),
              requestedBy: "fabrikam"
            })
          yield* request("run-1")
          const revoked = yield* control.setSubscriptionStatus(
            contoso,
            { account: "fabrikam", name: "contoso-sales" },
            "Revoked",
            at("2026-01-02T00:00:00.000Z")
          )
          expect(revoked).toMatchObject({ status: "Revoked", revokedAt: at("2026-01-02T00:00:00.000Z") })
          expect(yield* control.pendingRunRequests()).toEqual([])
          expect((yield* Effect.flip(request("run-2"))).message).toContain("revoked")
          const reinstated = yield* control.setSubscriptionStatus(
            contoso,
            { account: "fabrikam", name: "contoso-sales" },
            "Active",
            at("2026-01-03T00:00:00.000Z")
          )
          expect(reinstated.status).toBe("Active")
          expect(reinstated.revokedAt).toBeUndefined()
          yield* request("run-2")
          expect(Option.map(yield* control.takeRunRequest("run-2"), (r) => r.mode)).toEqual(Option.some("incremental"))
          expect(yield* control.takeRunRequest("run-2")).toEqual(Option.none())
          const unknown = yield* Effect.flip(
            control.requestRun(fabrikam, {
              runId: "r",
              account: "fabrikam",
              subscription: "nope",
              mode: "full",
              requestedAt: at("2026-01-01T00:00:00.000Z"),
              requestedBy: "fabrikam"
            })
          )
          expect(unknown._tag).toBe("NotFoundError")

          yield* control.deleteSubscription(fabrikam, "fabrikam", "contoso-sales")
          expect(yield* control.getSubscription("fabrikam", "contoso-sales")).toEqual(Option.none())
          expect(yield* control.listMappings("fabrikam", "contoso-sales")).toEqual([])
          expect((yield* Effect.flip(control.deleteSubscription(fabrikam, "fabrikam", "contoso-sales")))._tag).toBe(
            "NotFoundError"
          )
          const provider = yield* control.listAudit(
            { account: "contoso", resource: "subscription:fabrikam/contoso-sales" },
            { limit: 10 }
          )
          expect(provider.items.map((entry) => entry.action)).toEqual([
            "subscription.delete",
            "subscription.reinstate",
            "subscription.revoke",
            "subscription.update",
            "subscription.create"
          ])
        })
      )
  )

  it.effect("schedule ticks: none, then the last one recorded", () =>
    session((control) =>
      Effect.gen(function* () {
        yield* seed(control)
        expect(yield* control.lastTick("contoso", "sales")).toEqual(Option.none())
        yield* control.recordTick("contoso", "sales", at("2026-01-01T02:00:00.000Z"))
        yield* control.recordTick("contoso", "sales", at("2026-01-02T02:00:00.000Z"))
        expect(yield* control.lastTick("contoso", "sales")).toEqual(Option.some(at("2026-01-02T02:00:00.000Z")))
      })
    )
  )

  it.effect(
    "the audit log: newest first by pages, each entry seen by the accounts it concerns, all by the operator; a failed write leaves none",
    () =>
      session((control) =>
        Effect.gen(function* () {
          yield* seed(control)
          yield* control.audit(
            { kind: "service" },
            {
              accounts: ["contoso", "fabrikam"],
              action: "run.succeed",
              resource: "run:r1",
              detail: { rows: 3 },
              at: at("2026-01-01T00:00:00.000Z")
            }
          )
          const all = yield* allPages((after) => control.listAudit({}, { limit: 3, ...(after ? { after } : {}) }), 3)
          const entries = all.flat()
          expect(entries[0]).toMatchObject({
            actor: "service",
            action: "run.succeed",
            accounts: ["contoso", "fabrikam"],
            detail: { rows: 3 },
            at: at("2026-01-01T00:00:00.000Z")
          })
          const ids = entries.map((entry) => entry.id)
          expect(ids).toEqual([...ids].sort((a, b) => b - a))
          expect(new Set(ids).size).toBe(ids.length)
          expect(entries.map((entry) => entry.action).reverse()).toEqual([
            "account.create",
            "account.create",
            "store.create",
            "store.create",
            "share.create",
            "dataset.create",
            "subscription.create",
            "run.succeed"
          ])
          const fabrikamSees = (yield* control.listAudit({ account: "fabrikam" }, { limit: 100 })).items
          expect(fabrikamSees.map((entry) => entry.resource)).toEqual([
            "run:r1",
            "subscription:fabrikam/contoso-sales",
            "store:fabrikam/lake",
            "account:fabrikam"
          ])
          const contosoSees = (yield* control.listAudit({ account: "contoso" }, { limit: 100 })).items
          expect(contosoSees.map((entry) => entry.resource)).not.toContain("store:fabrikam/lake")
          expect(contosoSees.every((entry) => entry.accounts.includes("contoso"))).toBe(true)
          const before = yield* auditCount
          yield* Effect.flip(control.deleteStore(contoso, "contoso", "warehouse"))
          yield* Effect.flip(control.putShare(contoso, { account: "nobody", name: "x", kind: "snapshot" }))
          expect(yield* auditCount).toBe(before)
        })
      )
  )

  it.effect(
    "deleting an account: refused while another account subscribes to its shares, then removes all it owns",
    () =>
      session((control) =>
        Effect.gen(function* () {
          yield* seed(control)
          yield* control.createToken(operator, { account: "contoso", secretHash: hashSecret("c") })
          yield* control.putMapping(fabrikam, {
            account: "fabrikam",
            subscription: "contoso-sales",
            dataset: "orders",
            spec: { store: "lake" }
          })
          const refused = yield* Effect.flip(control.deleteAccount(operator, "contoso"))
          expect(refused).toMatchObject({ _tag: "ConflictError", resource: "account:contoso" })
          expect(refused.message).toContain("fabrikam")
          yield* control.deleteAccount(operator, "fabrikam")
          yield* control.deleteAccount(operator, "contoso")
          const left = yield* dialect.raw((sql) =>
            Effect.all({
              accounts: sql`SELECT name FROM accounts`,
              tokens: sql`SELECT id FROM tokens`,
              stores: sql`SELECT name FROM stores`,
              shares: sql`SELECT name FROM shares`,
              datasets: sql`SELECT name FROM datasets`,
              subscriptions: sql`SELECT name FROM subscriptions`,
              mappings: sql`SELECT dataset FROM mappings`
            })
          )
          expect(left).toEqual({
            accounts: [],
            tokens: [],
            stores: [],
            shares: [],
            datasets: [],
            subscriptions: [],
            mappings: []
          })
          // The audit log keeps its history.
          expect((yield* control.listAudit({ account: "contoso" }, { limit: 1 })).items[0]?.action).toBe(
            "account.delete"
          )
        })
      )
  )

  it.scopedLive("two processes queueing a run of one subscription at once: one queues it, the other is refused", () =>
    Effect.gen(function* () {
      yield* session(seed)
      // Two clients on one database, as two processes would open it.
      const open = Effect.map(Layer.build(dialect.stores()), (context) => Context.get(context, ControlStore))
      const [one, two] = yield* Effect.all([open, open])
      const request = (control: Control, runId: string) =>
        Effect.either(
          control.requestRun(fabrikam, {
            runId,
            account: "fabrikam",
            subscription: "contoso-sales",
            mode: "full",
            requestedAt: new Date(),
            requestedBy: "fabrikam"
          })
        )
      for (let round = 0; round < 5; round++) {
        const outcomes = yield* Effect.all([request(one, `a-${round}`), request(two, `b-${round}`)], {
          concurrency: 2
        })
        expect(outcomes.filter(Either.isRight)).toHaveLength(1)
        expect(outcomes.filter(Either.isLeft).map((outcome) => outcome.left._tag)).toEqual(["ConflictError"])
        const queued = yield* one.pendingRunRequests()
        expect(queued).toHaveLength(1)
        yield* one.takeRunRequest(queued[0]!.runId)
      }
    })
  )
}

for (const dialect of dialects()) {
  describe(`ControlStore on ${dialect.name}`, () => suite(dialect))
}
