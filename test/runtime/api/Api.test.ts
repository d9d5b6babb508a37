/**
 * The API end to end: the real server on a free port, a SQLite control and state store
 * in a temporary folder, the planner, the executor, driven through the typed client.
 * The tests run in order on one service: later ones use what earlier ones made. The
 * last one looks through every response body of the suite for a store's secret.
 */
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Api } from "../../../runtime/api/Api.js"
import { WRITE_ONLY } from "../../../runtime/api/Redact.js"
import { openGate } from "../../fixtures/plugins/gate-plugin.js"
import { Accounts, ended, failure, headers, layerWithAccounts, Service } from "./Harness.js"

const SECRET_PASSWORD = "s3cret-pw-7f1c"
const SECRET_URL = `postgres://ferry:${SECRET_PASSWORD}@db.contoso.example:5432/sales`

const clients = Effect.gen(function* () {
  const service = yield* Service
  const tokens = yield* Accounts
  return {
    service,
    tokens,
    operator: yield* service.client(tokens.operator),
    contoso: yield* service.client(tokens.contoso),
    fabrikam: yield* service.client(tokens.fabrikam),
    northwind: yield* service.client(tokens.northwind),
    anonymous: yield* service.client()
  }
})

layer(layerWithAccounts(), { excludeTestServices: true })("the API", (it) => {
  it.effect("401 without a token and with an unknown one, before anything else is looked at", () =>
    Effect.gen(function* () {
      const { anonymous, service } = yield* clients
      expect(yield* failure(anonymous.shares.list({ urlParams: {} }))).toMatchObject({
        tag: "Unauthorized",
        code: "unauthorized"
      })
      const unknown = yield* service.client("ferry_not-a-token")
      expect(yield* failure(unknown.stores.list({ urlParams: {} }))).toMatchObject({ tag: "Unauthorized" })
      const raw = yield* service.fetch("/api/v1/shares/retail", { headers: headers("nope", false) })
      expect(raw.status).toBe(401)
      expect(JSON.parse(raw.body)).toEqual({
        error: { code: "unauthorized", message: "the bearer token is not known" }
      })
    })
  )

  it.effect("403: the operator's token on an account route, an account's on an operator route", () =>
    Effect.gen(function* () {
      const { contoso, operator } = yield* clients
      expect(yield* failure(operator.shares.list({ urlParams: {} }))).toMatchObject({
        tag: "Forbidden",
        code: "forbidden"
      })
      expect(yield* failure(contoso.accounts.list({ urlParams: {} }))).toMatchObject({ tag: "Forbidden" })
      expect(yield* failure(contoso.accounts.createToken({ path: { name: "contoso" }, payload: {} }))).toMatchObject({
        tag: "Forbidden"
      })
    })
  )

  it.effect("accounts and tokens: the operator creates, pages, reads, issues and revokes tokens, deletes", () =>
    Effect.gen(function* () {
      const { operator, service } = yield* clients
      const created = yield* operator.accounts.put({
        path: { name: "tailspin" },
        payload: { email: "data@tailspin.example", description: "Tailspin Toys" }
      })
      expect(created).toMatchObject({ name: "tailspin", email: "data@tailspin.example" })
      const first = yield* operator.accounts.list({ urlParams: { limit: 2 } })
      expect(first.items.map((account) => account.name)).toHaveLength(2)
      expect(first.next).toBeDefined()
      const rest = yield* operator.accounts.list({ urlParams: { limit: 100, after: first.next! } })
      expect([...first.items, ...rest.items].map((account) => account.name).sort()).toEqual([
        "contoso",
        "fabrikam",
        "northwind",
        "tailspin"
      ])
      expect(rest.next).toBeUndefined()

      const token = yield* operator.accounts.createToken({ path: { name: "tailspin" }, payload: { description: "ci" } })
      expect(token).toMatchObject({ account: "tailspin", description: "ci" })
      expect(token.token).toMatch(/^ferry_/)
      const tailspin = yield* service.client(token.token)
      expect((yield* tailspin.stores.list({ urlParams: {} })).items).toEqual([])
      const listed = yield* operator.accounts.listTokens({ path: { name: "tailspin" }, urlParams: {} })
      expect(listed.items.map((item) => [item.id, item.description])).toEqual([[token.id, "ci"]])
      expect(JSON.stringify(listed)).not.toContain(token.token)
      // A token is revoked through its own account only.
      expect(yield* failure(operator.accounts.revokeToken({ path: { name: "contoso", id: token.id } }))).toMatchObject({
        tag: "NotFound"
      })
      expect((yield* tailspin.stores.list({ urlParams: {} })).items).toEqual([])
      yield* operator.accounts.revokeToken({ path: { name: "tailspin", id: token.id } })
      expect(yield* failure(tailspin.stores.list({ urlParams: {} }))).toMatchObject({ tag: "Unauthorized" })

      yield* operator.accounts.delete({ path: { name: "tailspin" } })
      expect(yield* failure(operator.accounts.get({ path: { name: "tailspin" } }))).toMatchObject({
        tag: "NotFound",
        code: "not_found"
      })
      expect(yield* failure(operator.accounts.createToken({ path: { name: "tailspin" }, payload: {} }))).toMatchObject({
        tag: "NotFound"
      })
    })
  )

  it.effect("stores: written with their secrets, read back with secrets write-only", () =>
    Effect.gen(function* () {
      const { contoso, fabrikam } = yield* clients
      const src = yield* contoso.stores.put({ path: { store: "src" }, payload: { type: "local", root: "./src" } })
      expect(src).toMatchObject({ name: "src", type: "local", settings: { root: "./src" } })
      const db = yield* contoso.stores.put({
        path: { store: "sales-db" },
        payload: { type: "postgres", url: SECRET_URL, pool_size: 4 }
      })
      expect(db.settings).toEqual({ url: WRITE_ONLY, pool_size: 4 })
      expect((yield* contoso.stores.get({ path: { store: "sales-db" } })).settings).toEqual({
        url: WRITE_ONLY,
        pool_size: 4
      })
      const listed = yield* contoso.stores.list({ urlParams: {} })
      expect(listed.items.map((store) => [store.name, store.settings])).toEqual([
        ["sales-db", { url: WRITE_ONLY, pool_size: 4 }],
        ["src", { root: "./src" }]
      ])
      yield* fabrikam.stores.put({ path: { store: "out" }, payload: { type: "local", root: "./out" } })
      // Names are the account's own: contoso's stores are not fabrikam's.
      expect(yield* failure(fabrikam.stores.get({ path: { store: "src" } }))).toMatchObject({ tag: "NotFound" })
    })
  )

  it.effect("stores: 400 with the path for what the connector refuses, and for ${env:…}", () =>
    Effect.gen(function* () {
      const { contoso } = yield* clients
      expect(
        yield* failure(
          contoso.stores.put({ path: { store: "bad" }, payload: { type: "local", root: "./x", rooot: "y" } })
        )
      ).toMatchObject({ tag: "BadRequest", code: "invalid_spec", path: "rooot" })
      expect(
        yield* failure(contoso.stores.put({ path: { store: "bad" }, payload: { type: "local", root: 5 } }))
      ).toMatchObject({ tag: "BadRequest", path: "root" })
      const env = yield* failure(
        contoso.stores.put({ path: { store: "bad" }, payload: { type: "postgres", url: "${env:DATABASE_URL}" } })
      )
      expect(env).toMatchObject({ tag: "BadRequest", path: "url" })
      expect(env.message).toContain("${env:")
      expect(yield* failure(contoso.stores.put({ path: { store: "bad" }, payload: { type: "ftp" } }))).toMatchObject({
        tag: "BadRequest",
        code: "invalid_spec"
      })
      expect(yield* failure(contoso.stores.get({ path: { store: "bad" } }))).toMatchObject({ tag: "NotFound" })
    })
  )

  it.effect("shares: create, 409 on a taken name, patch, schedule, read, list", () =>
    Effect.gen(function* () {
      const { contoso, service, tokens } = yield* clients
      const share = yield* contoso.shares.create({
        payload: { name: "retail", description: "Customers, refreshed daily.", terms: "Forecasting only." }
      })
      expect(share).toMatchObject({ name: "retail", kind: "snapshot", dataset_count: 0 })
      expect(yield* failure(contoso.shares.create({ payload: { name: "retail" } }))).toMatchObject({
        tag: "Conflict",
        code: "conflict"
      })
      const patched = yield* contoso.shares.update({
        path: { share: "retail" },
        payload: { description: "Customers." }
      })
      expect(patched).toMatchObject({ description: "Customers.", terms: "Forecasting only." })
      const scheduled = yield* contoso.shares.putSchedule({
        path: { share: "retail" },
        payload: { cron: "15 2 * * *" }
      })
      expect(scheduled.schedule).toEqual({ cron: "15 2 * * *" })
      // The typed client refuses to send what the Schema refuses: sent as it is.
      const both = yield* service.fetch("/api/v1/shares/retail/schedule", {
        method: "PUT",
        headers: headers(tokens.contoso),
        body: JSON.stringify({ every: "day", cron: "* * * * *" })
      })
      expect(both.status).toBe(400)
      expect(JSON.parse(both.body).error).toMatchObject({ code: "invalid_request", path: "cron" })
      const unscheduled = yield* contoso.shares.deleteSchedule({ path: { share: "retail" } })
      expect(unscheduled.schedule).toBeUndefined()
      yield* contoso.shares.update({ path: { share: "retail" }, payload: { schedule: { every: "day", at: "02:00" } } })
      expect((yield* contoso.shares.get({ path: { share: "retail" } })).schedule).toEqual({ every: "day", at: "02:00" })
      yield* contoso.shares.create({ payload: { name: "archive", kind: "snapshot" } })
      const listed = yield* contoso.shares.list({ urlParams: {} })
      expect(listed.items.map((share) => share.name)).toEqual(["archive", "retail"])
    })
  )

  it.effect("400 with the path: an unknown field and a wrong type, at any depth, and invalid JSON", () =>
    Effect.gen(function* () {
      const { service, tokens } = yield* clients
      const post = (body: string) =>
        service.fetch("/api/v1/shares", { method: "POST", headers: headers(tokens.contoso), body })
      const unknown = yield* post(JSON.stringify({ name: "x", descripton: "typo" }))
      expect(unknown.status).toBe(400)
      expect(JSON.parse(unknown.body).error).toMatchObject({ code: "invalid_request", path: "descripton" })
      const wrong = yield* post(JSON.stringify({ name: "x", kind: 5 }))
      expect(wrong.status).toBe(400)
      expect(JSON.parse(wrong.body).error).toMatchObject({ code: "invalid_request", path: "kind" })
      const nested = yield* service.fetch("/api/v1/shares/retail/datasets/customers", {
        method: "PUT",
        headers: headers(tokens.contoso),
        body: JSON.stringify({
          source: { store: "src", table: "c.csv" },
          incremental: { cursor: "u", key: ["id"], extra: 1 }
        })
      })
      expect(JSON.parse(nested.body).error).toMatchObject({ path: "incremental.extra" })
      const item = yield* service.fetch("/api/v1/shares/retail/datasets/customers", {
        method: "PUT",
        headers: headers(tokens.contoso),
        body: JSON.stringify({ source: { store: "src", table: "c.csv" }, columns: ["id", 7] })
      })
      expect(JSON.parse(item.body).error).toMatchObject({ path: "columns[1]" })
      const invalid = yield* post("{not json")
      expect(invalid.status).toBe(400)
      expect(JSON.parse(invalid.body)).toEqual({
        error: { code: "invalid_request", message: "the body is not valid JSON" }
      })
      const query = yield* service.fetch("/api/v1/shares?limit=0", { headers: headers(tokens.contoso, false) })
      expect(query.status).toBe(400)
      expect(JSON.parse(query.body).error).toMatchObject({ path: "limit" })
      const route = yield* service.fetch("/api/v1/nowhere", { headers: headers(tokens.contoso, false) })
      expect(route.status).toBe(404)
      expect(JSON.parse(route.body).error.code).toBe("not_found")
    })
  )

  it.effect("datasets: checked by the source connector, then listed and read; 409 for a store in use", () =>
    Effect.gen(function* () {
      const { contoso, service } = yield* clients
      service.space.write(
        "customers.csv",
        "id,name,updated_at\n1,Ada,2026-01-01T00:00:00Z\n2,Grace,2026-01-02T00:00:00Z\n"
      )
      const dataset = yield* contoso.datasets.put({
        path: { share: "retail", dataset: "customers" },
        payload: {
          source: { store: "src", table: "customers.csv" },
          incremental: { cursor: "updated_at", key: ["id"] }
        }
      })
      expect(dataset).toMatchObject({ name: "customers", source: { store: "src", table: "customers.csv" } })
      expect(
        yield* failure(
          contoso.datasets.put({
            path: { share: "retail", dataset: "orders" },
            payload: { source: { store: "nope", table: "o.csv" } }
          })
        )
      ).toMatchObject({ tag: "BadRequest", code: "invalid_spec", path: "source.store" })
      expect(
        yield* failure(
          contoso.datasets.put({
            path: { share: "retail", dataset: "orders" },
            payload: { source: { store: "src", table: "o.csv", frob: true } }
          })
        )
      ).toMatchObject({ tag: "BadRequest", path: "source.frob" })
      expect(
        yield* failure(
          contoso.datasets.put({
            path: { share: "nope", dataset: "orders" },
            payload: { source: { store: "src", table: "o.csv" } }
          })
        )
      ).toMatchObject({ tag: "NotFound" })
      const listed = yield* contoso.datasets.list({ path: { share: "retail" }, urlParams: {} })
      expect(listed.items.map((dataset) => dataset.name)).toEqual(["customers"])
      expect((yield* contoso.shares.get({ path: { share: "retail" } })).dataset_count).toBe(1)
      expect(yield* failure(contoso.stores.delete({ path: { store: "src" } }))).toMatchObject({ tag: "Conflict" })
      yield* contoso.datasets.put({
        path: { share: "archive", dataset: "old" },
        payload: { source: { store: "src", table: "customers.csv" } }
      })
      yield* contoso.datasets.delete({ path: { share: "archive", dataset: "old" } })
      expect(yield* failure(contoso.datasets.get({ path: { share: "archive", dataset: "old" } }))).toMatchObject({
        tag: "NotFound"
      })
    })
  )

  it.effect("404 for another account's share, whatever the route", () =>
    Effect.gen(function* () {
      const { fabrikam, northwind } = yield* clients
      expect(yield* failure(northwind.shares.get({ path: { share: "retail" } }))).toMatchObject({ tag: "NotFound" })
      expect(yield* failure(fabrikam.datasets.list({ path: { share: "retail" }, urlParams: {} }))).toMatchObject({
        tag: "NotFound"
      })
      expect(
        yield* failure(fabrikam.invitations.create({ path: { share: "retail" }, payload: { to: "fabrikam" } }))
      ).toMatchObject({ tag: "NotFound" })
      expect(yield* failure(northwind.shares.delete({ path: { share: "retail" } }))).toMatchObject({ tag: "NotFound" })
    })
  )

  it.effect("invitations: without SMTP the accept token is returned once; accept, reject, withdraw, 409s", () =>
    Effect.gen(function* () {
      const { contoso, fabrikam, northwind } = yield* clients
      const invitation = yield* contoso.invitations.create({ path: { share: "retail" }, payload: { to: "fabrikam" } })
      expect(invitation).toMatchObject({ share: "retail", to: "fabrikam", status: "Pending" })
      expect(invitation.accept_token).toMatch(/^ferry_inv_/)
      expect(invitation.sent_at).toBeUndefined()
      const listed = yield* contoso.invitations.list({ path: { share: "retail" }, urlParams: {} })
      expect(listed.items.map((item) => [item.id, item.accept_token])).toEqual([[invitation.id, undefined]])

      const received = yield* fabrikam.receivedInvitations.list({ urlParams: {} })
      expect(received.items).toEqual([
        expect.objectContaining({
          id: invitation.id,
          provider: "contoso",
          share: "retail",
          description: "Customers.",
          terms: "Forecasting only.",
          dataset_count: 1,
          status: "Pending"
        })
      ])
      expect((yield* northwind.receivedInvitations.list({ urlParams: {} })).items).toEqual([])
      expect(
        yield* failure(
          northwind.receivedInvitations.accept({
            path: { id: invitation.id },
            payload: { accept_terms: true, subscription: "stolen" }
          })
        )
      ).toMatchObject({ tag: "NotFound" })

      const subscription = yield* fabrikam.receivedInvitations.accept({
        path: { id: invitation.id },
        payload: { accept_terms: true, subscription: "feed" }
      })
      expect(subscription).toMatchObject({ name: "feed", provider: "contoso", share: "retail", status: "Active" })
      expect(
        yield* failure(
          fabrikam.receivedInvitations.accept({
            path: { id: invitation.id },
            payload: { accept_terms: true, subscription: "again" }
          })
        )
      ).toMatchObject({ tag: "Conflict" })
      expect(yield* failure(contoso.invitations.resend({ path: { id: invitation.id } }))).toMatchObject({
        tag: "Conflict"
      })

      // Addressed to an e-mail address no account has: accepted with the token.
      const byMail = yield* contoso.invitations.create({
        path: { share: "retail" },
        payload: { to: "buyer@northwind.example", expires: "2999-12-31" }
      })
      expect(byMail.expires_at?.toISOString()).toBe("3000-01-01T00:00:00.000Z")
      expect(
        yield* failure(
          northwind.receivedInvitations.accept({
            path: { id: byMail.id },
            payload: { accept_terms: true, subscription: "retail", token: "ferry_inv_wrong" }
          })
        )
      ).toMatchObject({ tag: "NotFound" })
      const northwindSub = yield* northwind.receivedInvitations.accept({
        path: { id: byMail.id },
        payload: { accept_terms: true, subscription: "retail", trigger: "schedule", token: byMail.accept_token! }
      })
      expect(northwindSub).toMatchObject({ name: "retail", trigger: "schedule", invitation_id: byMail.id })

      // Rejected, withdrawn.
      const declined = yield* contoso.invitations.create({ path: { share: "archive" }, payload: { to: "fabrikam" } })
      expect((yield* fabrikam.receivedInvitations.reject({ path: { id: declined.id } })).status).toBe("Rejected")
      const pending = yield* contoso.invitations.create({ path: { share: "archive" }, payload: { to: "x@y.example" } })
      const resent = yield* contoso.invitations.resend({ path: { id: pending.id } })
      expect(resent.accept_token).toMatch(/^ferry_inv_/)
      expect(resent.accept_token).not.toBe(pending.accept_token)
      expect((yield* contoso.invitations.withdraw({ path: { id: pending.id } })).status).toBe("Withdrawn")
      expect(yield* failure(contoso.invitations.withdraw({ path: { id: pending.id } }))).toMatchObject({
        tag: "Conflict"
      })
      expect(yield* failure(fabrikam.invitations.withdraw({ path: { id: declined.id } }))).toMatchObject({
        tag: "NotFound"
      })
      expect(
        yield* failure(
          contoso.invitations.create({ path: { share: "archive" }, payload: { to: "fabrikam", expires: "2020-01-01" } })
        )
      ).toMatchObject({ tag: "BadRequest", path: "expires" })
    })
  )

  it.effect("subscriptions and mappings: the consumer's view, checked by the sink", () =>
    Effect.gen(function* () {
      const { fabrikam } = yield* clients
      expect((yield* fabrikam.subscriptions.list({ urlParams: {} })).items.map((s) => s.name)).toEqual(["feed"])
      const datasets = yield* fabrikam.subscriptions.datasets({ path: { subscription: "feed" }, urlParams: {} })
      expect(datasets.items).toEqual([{ name: "customers", kind: "table" }])
      expect(
        yield* failure(
          fabrikam.mappings.put({
            path: { subscription: "feed", dataset: "customers" },
            payload: { store: "elsewhere", path: "c/" }
          })
        )
      ).toMatchObject({ tag: "BadRequest", code: "invalid_spec", path: "store" })
      expect(
        yield* failure(
          fabrikam.mappings.put({
            path: { subscription: "feed", dataset: "customers" },
            payload: { store: "out", path: "c/", format: "csv", csv: { delimiter: ";;" } }
          })
        )
      ).toMatchObject({ tag: "BadRequest", path: "csv.delimiter" })
      const mapping = yield* fabrikam.mappings.put({
        path: { subscription: "feed", dataset: "customers" },
        payload: { store: "out", path: "customers/", format: "csv" }
      })
      expect(mapping).toMatchObject({ dataset: "customers", store: "out", format: "csv", path: "customers/" })
      expect((yield* fabrikam.mappings.list({ path: { subscription: "feed" } })).items).toHaveLength(1)
      expect((yield* fabrikam.mappings.get({ path: { subscription: "feed", dataset: "customers" } })).path).toBe(
        "customers/"
      )
      expect(
        yield* failure(fabrikam.mappings.get({ path: { subscription: "feed", dataset: "orders" } }))
      ).toMatchObject({
        tag: "NotFound"
      })
      const trigger = yield* fabrikam.subscriptions.setTrigger({
        path: { subscription: "feed" },
        payload: { trigger: "schedule" }
      })
      expect(trigger.trigger).toBe("schedule")
    })
  )

  it.effect("synchronize: 202 Queued, then the run and what it delivered, for both sides", () =>
    Effect.gen(function* () {
      const { contoso, fabrikam } = yield* clients
      const queued = yield* fabrikam.runs.synchronize({ path: { subscription: "feed" }, payload: { mode: "Full" } })
      expect(queued.status).toBe("Queued")
      const run = yield* ended(fabrikam, "feed", queued.run_id)
      expect(run).toMatchObject({ run_id: queued.run_id, subscription: "feed", mode: "Full", status: "Succeeded" })
      expect(run.datasets).toEqual([expect.objectContaining({ dataset: "customers", status: "Succeeded", rows: 2 })])
      expect(run.duration_seconds).toBeGreaterThanOrEqual(0)
      const runs = yield* fabrikam.runs.list({ path: { subscription: "feed" }, urlParams: {} })
      expect(runs.items.map((item) => item.run_id)).toEqual([queued.run_id])
      const deliveries = yield* contoso.deliveries.list({ urlParams: {} })
      expect(deliveries.items).toEqual([
        expect.objectContaining({
          run_id: queued.run_id,
          consumer: "fabrikam",
          subscription: "feed",
          share: "retail",
          status: "Succeeded",
          rows: 2
        })
      ])
      expect((yield* fabrikam.deliveries.list({ urlParams: {} })).items).toEqual([])
      expect(yield* failure(northwindRun(queued.run_id))).toMatchObject({ tag: "NotFound" })
    })
  )

  it.effect("a run going: synchronize 409, cancel, the run Canceled, cancel again 409", () =>
    Effect.gen(function* () {
      const { contoso, fabrikam } = yield* clients
      yield* contoso.stores.put({
        path: { store: "gated" },
        payload: { type: "gated_memory", gate: "api-test", tables: { t: { columns: { id: "int64" }, rows: [[1]] } } }
      })
      yield* contoso.shares.create({ payload: { name: "live" } })
      yield* contoso.datasets.put({
        path: { share: "live", dataset: "t" },
        payload: { source: { store: "gated", table: "t" } }
      })
      const invitation = yield* contoso.invitations.create({ path: { share: "live" }, payload: { to: "fabrikam" } })
      yield* fabrikam.receivedInvitations.accept({
        path: { id: invitation.id },
        payload: { accept_terms: true, subscription: "live" }
      })
      yield* fabrikam.mappings.put({
        path: { subscription: "live", dataset: "t" },
        payload: { store: "out", path: "t/", format: "jsonl" }
      })
      const queued = yield* fabrikam.runs.synchronize({
        path: { subscription: "live" },
        payload: { mode: "Incremental" }
      })
      expect(
        yield* failure(fabrikam.runs.synchronize({ path: { subscription: "live" }, payload: { mode: "Full" } }))
      ).toMatchObject({ tag: "Conflict", code: "conflict" })
      expect(yield* fabrikam.runs.cancel({ path: { subscription: "live", run_id: queued.run_id } })).toEqual({
        run_id: queued.run_id,
        canceled: true
      })
      const run = yield* ended(fabrikam, "live", queued.run_id)
      expect(run.status).toBe("Canceled")
      expect(
        yield* failure(fabrikam.runs.cancel({ path: { subscription: "live", run_id: queued.run_id } }))
      ).toMatchObject({
        tag: "Conflict"
      })
      yield* openGate("api-test")
    })
  )

  it.effect("revocation: the provider revokes, the consumer's synchronize and mapping writes get 403, reinstated", () =>
    Effect.gen(function* () {
      const { contoso, fabrikam } = yield* clients
      const subscriptions = yield* contoso.shareSubscriptions.list({ path: { share: "retail" }, urlParams: {} })
      expect(subscriptions.items.map((item) => [item.consumer, item.subscription, item.status]).sort()).toEqual([
        ["fabrikam", "feed", "Active"],
        ["northwind", "retail", "Active"]
      ])
      const path = { share: "retail", consumer: "fabrikam", subscription: "feed" }
      expect(yield* contoso.shareSubscriptions.revoke({ path })).toMatchObject({ status: "Revoked" })
      expect(
        yield* failure(fabrikam.runs.synchronize({ path: { subscription: "feed" }, payload: { mode: "Full" } }))
      ).toMatchObject({ tag: "Forbidden", code: "revoked" })
      expect(
        yield* failure(
          fabrikam.mappings.put({
            path: { subscription: "feed", dataset: "customers" },
            payload: { store: "out", path: "x/" }
          })
        )
      ).toMatchObject({ tag: "Forbidden", code: "revoked" })
      expect(
        yield* failure(fabrikam.mappings.delete({ path: { subscription: "feed", dataset: "customers" } }))
      ).toMatchObject({ tag: "Forbidden", code: "revoked" })
      expect((yield* fabrikam.subscriptions.get({ path: { subscription: "feed" } })).status).toBe("Revoked")
      expect(yield* failure(contoso.shareSubscriptions.revoke({ path: { ...path, share: "archive" } }))).toMatchObject({
        tag: "NotFound"
      })
      expect(yield* failure(fabrikam.shareSubscriptions.revoke({ path }))).toMatchObject({ tag: "NotFound" })
      expect(yield* contoso.shareSubscriptions.reinstate({ path })).toMatchObject({ status: "Active" })
      const queued = yield* fabrikam.runs.synchronize({
        path: { subscription: "feed" },
        payload: { mode: "Incremental" }
      })
      expect((yield* ended(fabrikam, "feed", queued.run_id)).status).toBe("Succeeded")
    })
  )

  it.effect("paging: ?limit=&after= gives every item once; a cursor the list did not make is a 400", () =>
    Effect.gen(function* () {
      const { contoso, fabrikam } = yield* clients
      const names: Array<string> = []
      let after: string | undefined
      let pages = 0
      do {
        const page = yield* contoso.stores.list({ urlParams: after === undefined ? { limit: 1 } : { limit: 1, after } })
        names.push(...page.items.map((store) => store.name))
        after = page.next
        pages++
      } while (after !== undefined)
      expect(names).toEqual(["gated", "sales-db", "src"])
      expect(pages).toBe(3)
      expect(yield* failure(contoso.stores.list({ urlParams: { after: "bogus" } }))).toMatchObject({
        tag: "BadRequest",
        code: "invalid_cursor",
        path: "after"
      })
      const first = yield* fabrikam.runs.list({ path: { subscription: "feed" }, urlParams: { limit: 1 } })
      expect(first.items).toHaveLength(1)
      const second = yield* fabrikam.runs.list({
        path: { subscription: "feed" },
        urlParams: { limit: 1, after: first.next! }
      })
      expect(second.items).toHaveLength(1)
      expect(second.items[0]!.run_id).not.toBe(first.items[0]!.run_id)
      expect(second.next).toBeUndefined()
      expect(
        yield* failure(fabrikam.runs.list({ path: { subscription: "live" }, urlParams: { after: first.next! } }))
      ).toMatchObject({ tag: "BadRequest", code: "invalid_cursor" })
      const deliveries = yield* contoso.deliveries.list({ urlParams: { limit: 1 } })
      expect(deliveries.items).toHaveLength(1)
      expect(deliveries.next).toBeDefined()
    })
  )

  it.effect("audit: an account reads what concerns it, the operator everything", () =>
    Effect.gen(function* () {
      const { contoso, northwind, operator } = yield* clients
      const mine = yield* contoso.audit.list({ urlParams: { limit: 1000 } })
      expect(mine.items.map((entry) => entry.action)).toEqual(expect.arrayContaining(["share.create"]))
      expect(mine.items.every((entry) => entry.accounts.includes("contoso"))).toBe(true)
      const theirs = yield* northwind.audit.list({ urlParams: { limit: 1000 } })
      expect(theirs.items.every((entry) => entry.accounts.includes("northwind"))).toBe(true)
      expect(theirs.items.some((entry) => entry.resource === "share:contoso/archive")).toBe(false)
      const all = yield* operator.audit.list({ urlParams: { limit: 1000 } })
      expect(all.items.length).toBeGreaterThan(mine.items.length)
      const about = yield* operator.audit.list({ urlParams: { resource: "share:contoso/retail" } })
      expect(about.items.length).toBeGreaterThan(0)
      expect(about.items.every((entry) => entry.resource === "share:contoso/retail")).toBe(true)
    })
  )

  it.effect("deletes: a subscription, a share, a store", () =>
    Effect.gen(function* () {
      const { contoso, northwind } = yield* clients
      yield* northwind.subscriptions.delete({ path: { subscription: "retail" } })
      expect(yield* failure(northwind.subscriptions.get({ path: { subscription: "retail" } }))).toMatchObject({
        tag: "NotFound"
      })
      yield* contoso.shares.delete({ path: { share: "archive" } })
      expect(yield* failure(contoso.shares.get({ path: { share: "archive" } }))).toMatchObject({ tag: "NotFound" })
      yield* contoso.stores.delete({ path: { store: "sales-db" } })
      expect(yield* failure(contoso.stores.delete({ path: { store: "sales-db" } }))).toMatchObject({ tag: "NotFound" })
    })
  )

  it.effect("/healthz, /metrics and the OpenAPI document, without a token", () =>
    Effect.gen(function* () {
      const { service } = yield* clients
      const health = yield* service.fetch("/healthz")
      expect(health.status).toBe(200)
      expect(JSON.parse(health.body)).toEqual({ status: "ok" })
      const metrics = yield* service.fetch("/metrics")
      expect(metrics.status).toBe(200)
      expect(metrics.type).toMatch(/^text\/plain; version=0\.0\.4/)
      expect(metrics.body).toMatch(/^ferry_runs_total\{status="succeeded"\} [1-9]/m)

      const document = yield* service.fetch("/api/v1/openapi.json")
      expect(document.status).toBe(200)
      const spec = JSON.parse(document.body) as {
        paths: Record<string, Record<string, { security?: Array<unknown>; responses: Record<string, unknown> }>>
        components: { schemas: Record<string, unknown> }
      }
      const routes = Object.values(Api.groups).flatMap((group) =>
        Object.values(group.endpoints).map(
          (endpoint) => `${endpoint.method.toLowerCase()} ${endpoint.path.replace(/:(\w+)/g, "{$1}")}`
        )
      )
      const documented = Object.entries(spec.paths).flatMap(([path, operations]) =>
        Object.keys(operations).map((method) => `${method} ${path}`)
      )
      expect(routes.length).toBeGreaterThan(40)
      expect(documented.sort()).toEqual(routes.sort())
      for (const operations of Object.values(spec.paths)) {
        for (const operation of Object.values(operations)) {
          expect(operation.security).toEqual([{ bearer: [] }])
          expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(["400", "401", "403", "404", "409"]))
        }
      }
      expect(document.body).not.toContain("HttpApiDecodeError")
      expect(spec.components.schemas["Store"]).toMatchObject({ description: expect.any(String) })
    })
  )

  it.effect("no response of the suite contains a store's secret", () =>
    Effect.gen(function* () {
      const { service } = yield* clients
      expect(service.bodies.length).toBeGreaterThan(100)
      expect(service.bodies.some((body) => body.includes(WRITE_ONLY))).toBe(true)
      for (const body of service.bodies) {
        expect(body).not.toContain(SECRET_PASSWORD)
        expect(body).not.toContain("db.contoso.example")
      }
    })
  )
})

/** A run of fabrikam's read by northwind, through a subscription name it does not have. */
const northwindRun = (runId: string) =>
  Effect.flatMap(clients, ({ northwind }) => northwind.runs.get({ path: { subscription: "feed", run_id: runId } }))
