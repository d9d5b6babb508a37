/**
 * Requests the service must refuse, each with the right status, a message that says
 * what is wrong (and, for a field, its path), and no change: every test compares what
 * the accounts read, and the audit log, before and after. Bodies that do not decode
 * (unknown fields, wrong types, invalid JSON), invitations that can no longer be
 * accepted (expired, withdrawn, already used), accepting without the terms, a mapping
 * to another account's store, schedules that are no time or no cron, a revoked
 * consumer synchronizing, `${env:…}` in settings, and cursors a list never returned.
 */
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as SchemaAST from "effect/SchemaAST"
import { randomUUID } from "node:crypto"
import { Api } from "../../../runtime/api/Api.js"
import { hashSecret, INVITATION_PREFIX, makeSecret } from "../../../runtime/control/Tokens.js"
import { ended, failure, GROUP_OWNERS, layer as harness, headers, isErrorBody, Service } from "./Harness.js"

const ACCOUNTS = ["contoso", "fabrikam", "northwind"] as const
type Account = (typeof ACCOUNTS)[number]
type Caller = Account | "operator"

const DAY = 86_400_000

/** Who reads each group's lists in the fixture below. */
const OWNERS: Record<string, Caller> = GROUP_OWNERS

/** A value the service's environment holds, which no answer may ever contain. */
const ENV_NAME = "FERRY_BAD_INPUT_SECRET"
const ENV_VALUE = "env-value-9c1d7e"
process.env[ENV_NAME] = ENV_VALUE

layer(harness(), { excludeTestServices: true })("bad input", (it) => {
  const tokens: Record<Caller, string> = { operator: "", contoso: "", fabrikam: "", northwind: "" }
  let runId = ""

  const send = (caller: Caller, method: string, path: string, body?: string) =>
    Effect.flatMap(Service, (service) =>
      service.fetch(path, {
        method,
        headers: headers(tokens[caller], body !== undefined),
        ...(body === undefined ? {} : { body })
      })
    )

  /** A refusal: its status, code and path, in the one error shape; its message names the path. */
  const refused = (
    response: { status: number; body: string },
    status: number,
    code: string,
    path?: string
  ): { code: string; message: string; path?: string } => {
    expect(isErrorBody(response.body), response.body).toBe(true)
    const { error } = JSON.parse(response.body) as { error: { code: string; message: string; path?: string } }
    expect({ status: response.status, code: error.code, path: error.path }, response.body).toEqual({
      status,
      code,
      path
    })
    if (path !== undefined && code !== "invalid_cursor") expect(error.message).toContain(path)
    expect(error.message.length).toBeGreaterThan(10)
    expect(error.message).not.toContain(ENV_VALUE)
    return error
  }

  /** Everything the accounts read, and the newest audit entry. */
  const everything = Effect.gen(function* () {
    const read = (caller: Caller, path: string) =>
      Effect.map(send(caller, "GET", path), (response) => `${caller} ${path} ${response.status} ${response.body}`)
    const views = [
      yield* read("operator", "/api/v1/accounts"),
      yield* read("operator", "/api/v1/audit?limit=1"),
      yield* read("contoso", "/api/v1/stores"),
      yield* read("contoso", "/api/v1/shares"),
      yield* read("contoso", "/api/v1/shares/retail/datasets"),
      yield* read("contoso", "/api/v1/shares/retail/invitations"),
      yield* read("contoso", "/api/v1/shares/retail/subscriptions"),
      yield* read("contoso", "/api/v1/deliveries")
    ]
    for (const account of ["fabrikam", "northwind"] as const) {
      views.push(
        yield* read(account, "/api/v1/stores"),
        yield* read(account, "/api/v1/received-invitations"),
        yield* read(account, "/api/v1/subscriptions")
      )
      const subscriptions = JSON.parse(views[views.length - 1]!.split(" 200 ")[1]!) as {
        items: Array<{ name: string }>
      }
      for (const { name } of subscriptions.items) {
        views.push(
          yield* read(account, `/api/v1/subscriptions/${name}/mappings`),
          yield* read(account, `/api/v1/subscriptions/${name}/runs`)
        )
      }
    }
    return views
  })

  /** Runs the requests and checks that the service reads the same afterwards. */
  const changesNothing = <A, E, R>(requests: Effect.Effect<A, E, R>) =>
    Effect.gen(function* () {
      const before = yield* everything
      const result = yield* requests
      expect(yield* everything).toEqual(before)
      return result
    })

  const clientOf = (caller: Caller) => Effect.flatMap(Service, (service) => service.client(tokens[caller]))

  it.effect("the fixture: contoso shares retail, fabrikam subscribes (feed) and has run it", () =>
    Effect.gen(function* () {
      const service = yield* Service
      tokens.operator = service.operatorToken
      const operator = yield* clientOf("operator")
      yield* operator.accounts.put({ path: { name: "contoso" }, payload: {} })
      yield* operator.accounts.put({ path: { name: "fabrikam" }, payload: { email: "ops@fabrikam.example" } })
      yield* operator.accounts.put({ path: { name: "northwind" }, payload: {} })
      for (const name of ACCOUNTS) {
        tokens[name] = (yield* operator.accounts.createToken({ path: { name }, payload: {} })).token
      }
      const contoso = yield* clientOf("contoso")
      const fabrikam = yield* clientOf("fabrikam")
      service.space.write("customers.csv", "id,name,updated_at\n1,Ada,2026-01-01T00:00:00Z\n")
      yield* contoso.stores.put({ path: { store: "src" }, payload: { type: "local", root: "./src" } })
      yield* contoso.shares.create({ payload: { name: "retail", description: "Customers.", terms: "No resale." } })
      yield* contoso.datasets.put({
        path: { share: "retail", dataset: "customers" },
        payload: {
          source: { store: "src", table: "customers.csv" },
          incremental: { cursor: "updated_at", key: ["id"] }
        }
      })
      const invitation = yield* contoso.invitations.create({ path: { share: "retail" }, payload: { to: "fabrikam" } })
      yield* fabrikam.receivedInvitations.accept({
        path: { id: invitation.id },
        payload: { accept_terms: true, subscription: "feed" }
      })
      yield* fabrikam.stores.put({ path: { store: "out" }, payload: { type: "local", root: "./out" } })
      yield* fabrikam.mappings.put({
        path: { subscription: "feed", dataset: "customers" },
        payload: { store: "out", path: "customers/", format: "csv" }
      })
      const queued = yield* fabrikam.runs.synchronize({ path: { subscription: "feed" }, payload: { mode: "Full" } })
      runId = queued.run_id
      expect((yield* ended(fabrikam, "feed", runId)).status).toBe("Succeeded")
    })
  )

  it.effect("an unknown field or a wrong type in a body: 400 at its path, whatever the route", () =>
    changesNothing(
      Effect.gen(function* () {
        const cases: ReadonlyArray<[Caller, string, string, unknown, string]> = [
          ["operator", "PUT", "/api/v1/accounts/contoso", { nickname: "c" }, "nickname"],
          ["operator", "PUT", "/api/v1/accounts/contoso", { email: "not an address" }, "email"],
          ["operator", "POST", "/api/v1/accounts/contoso/tokens", { description: 5 }, "description"],
          ["contoso", "PUT", "/api/v1/stores/src", { type: 5, root: "./src" }, "type"],
          ["contoso", "POST", "/api/v1/shares", { name: "new", descripton: "typo" }, "descripton"],
          ["contoso", "POST", "/api/v1/shares", { name: 5 }, "name"],
          ["contoso", "POST", "/api/v1/shares", { name: "Not A Name" }, "name"],
          ["contoso", "PATCH", "/api/v1/shares/retail", { kind: "live" }, "kind"],
          ["contoso", "PATCH", "/api/v1/shares/retail", { terms: ["a"] }, "terms"],
          [
            "contoso",
            "PUT",
            "/api/v1/shares/retail/datasets/customers",
            { source: { store: "src", table: "customers.csv" }, incremental: { cursor: "updated_at", key: "id" } },
            "incremental.key"
          ],
          [
            "contoso",
            "PUT",
            "/api/v1/shares/retail/datasets/customers",
            { source: { store: "src", table: "customers.csv" }, columns: ["id", 7] },
            "columns[1]"
          ],
          [
            "contoso",
            "PUT",
            "/api/v1/shares/retail/datasets/customers",
            { source: { store: "src", table: "customers.csv" }, allow_lossy: "yes" },
            "allow_lossy"
          ],
          ["contoso", "POST", "/api/v1/shares/retail/invitations", { to: "northwind", cc: "x" }, "cc"],
          ["contoso", "POST", "/api/v1/shares/retail/invitations", { to: "northwind", expires: 20991231 }, "expires"],
          ["contoso", "POST", "/api/v1/shares/retail/invitations", { to: "not an address" }, "to"],
          ["fabrikam", "POST", "/api/v1/subscriptions/feed/synchronize", { mode: "Everything" }, "mode"],
          ["fabrikam", "POST", "/api/v1/subscriptions/feed/synchronize", { mode: "Full", force: true }, "force"],
          ["fabrikam", "PUT", "/api/v1/subscriptions/feed/trigger", { trigger: "hourly" }, "trigger"],
          [
            "fabrikam",
            "PUT",
            "/api/v1/subscriptions/feed/mappings/customers",
            { store: "out", path: "c/", format: "xml" },
            "format"
          ],
          ["fabrikam", "PUT", "/api/v1/subscriptions/feed/mappings/customers", { path: "c/" }, "store"]
        ]
        for (const [caller, method, path, body, at] of cases) {
          refused(yield* send(caller, method, path, JSON.stringify(body)), 400, "invalid_request", at)
        }
        // Settings a connector does not name: refused by the connector, at the setting.
        refused(
          yield* send("contoso", "PUT", "/api/v1/stores/src", JSON.stringify({ type: "local", root: "./x", rooot: 1 })),
          400,
          "invalid_spec",
          "rooot"
        )
        refused(
          yield* send(
            "contoso",
            "PUT",
            "/api/v1/shares/retail/datasets/customers",
            JSON.stringify({ source: { store: "src", table: "customers.csv", sheet: 2 } })
          ),
          400,
          "invalid_spec",
          "source.sheet"
        )
        refused(
          yield* send(
            "fabrikam",
            "PUT",
            "/api/v1/subscriptions/feed/mappings/customers",
            JSON.stringify({ store: "out", path: "c/", format: "csv", csv: { delimiter: ",", quoting: "all" } })
          ),
          400,
          "invalid_spec",
          "csv.quoting"
        )
      })
    )
  )

  it.effect("invalid JSON, and JSON that is not an object: 400 that says so", () =>
    changesNothing(
      Effect.gen(function* () {
        for (const [caller, method, path] of [
          ["contoso", "POST", "/api/v1/shares"],
          ["contoso", "PUT", "/api/v1/stores/src"],
          ["contoso", "PATCH", "/api/v1/shares/retail"],
          ["fabrikam", "POST", "/api/v1/subscriptions/feed/synchronize"],
          ["operator", "PUT", "/api/v1/accounts/contoso"]
        ] as const) {
          for (const body of ["{not json", '{"name": "x",}', "[1,"]) {
            const error = refused(yield* send(caller, method, path, body), 400, "invalid_request")
            expect(error.message).toBe("the body is not valid JSON")
          }
          for (const body of ["[]", '"text"', "42", "null"]) {
            const error = refused(yield* send(caller, method, path, body), 400, "invalid_request")
            expect(error.message).toContain("JSON object")
          }
        }
      })
    )
  )

  it.effect("accepting without accept_terms, or with it false or not a boolean: 400 at accept_terms", () =>
    Effect.gen(function* () {
      const contoso = yield* clientOf("contoso")
      const invitation = yield* contoso.invitations.create({ path: { share: "retail" }, payload: { to: "northwind" } })
      yield* changesNothing(
        Effect.gen(function* () {
          const path = `/api/v1/received-invitations/${invitation.id}/accept`
          for (const body of [
            { subscription: "retail" },
            { accept_terms: false, subscription: "retail" },
            { accept_terms: "true", subscription: "retail" },
            { accept_terms: null, subscription: "retail" }
          ]) {
            refused(
              yield* send("northwind", "POST", path, JSON.stringify(body)),
              400,
              "invalid_request",
              "accept_terms"
            )
          }
        })
      )
      const received = yield* (yield* clientOf("northwind")).receivedInvitations.list({ urlParams: {} })
      expect(received.items.map((item) => [item.id, item.status])).toEqual([[invitation.id, "Pending"]])
      yield* contoso.invitations.withdraw({ path: { id: invitation.id } })
    })
  )

  it.effect("accepting an invitation that expired, was withdrawn or was used: 409, with or without its token", () =>
    Effect.gen(function* () {
      const service = yield* Service
      const contoso = yield* clientOf("contoso")
      const fabrikam = yield* clientOf("fabrikam")
      const northwind = yield* clientOf("northwind")
      // Expired: made as if three days ago, valid until yesterday.
      const expiredToken = makeSecret(INVITATION_PREFIX)
      const now = Date.now()
      const expired = yield* Effect.orDie(
        service.control.createInvitation(
          { kind: "account", account: "contoso" },
          {
            account: "contoso",
            share: "retail",
            to: "fabrikam",
            secretHash: hashSecret(expiredToken),
            at: new Date(now - 3 * DAY),
            expiresAt: new Date(now - DAY)
          }
        )
      )
      const received = yield* fabrikam.receivedInvitations.list({ urlParams: {} })
      expect(received.items.find((item) => item.id === expired.id)?.status).toBe("Expired")
      // Withdrawn, by mail address: accepted, if at all, with its token.
      const withdrawn = yield* contoso.invitations.create({
        path: { share: "retail" },
        payload: { to: "buyer@northwind.example" }
      })
      yield* contoso.invitations.withdraw({ path: { id: withdrawn.id } })
      // Used: accepted by its addressee.
      const used = yield* contoso.invitations.create({
        path: { share: "retail" },
        payload: { to: "ops@fabrikam.example" }
      })
      yield* fabrikam.receivedInvitations.accept({
        path: { id: used.id },
        payload: { accept_terms: true, subscription: "second", token: used.accept_token! }
      })
      // Used: accepted with its token by an account it was not addressed to.
      const byToken = yield* contoso.invitations.create({
        path: { share: "retail" },
        payload: { to: "someone@northwind.example" }
      })
      yield* northwind.receivedInvitations.accept({
        path: { id: byToken.id },
        payload: { accept_terms: true, subscription: "retail", token: byToken.accept_token! }
      })

      yield* changesNothing(
        Effect.gen(function* () {
          const accept = (caller: Account, id: string, token?: string) =>
            send(
              caller,
              "POST",
              `/api/v1/received-invitations/${id}/accept`,
              JSON.stringify({ accept_terms: true, subscription: "again", ...(token === undefined ? {} : { token }) })
            )
          const cases: ReadonlyArray<[Account, string, string | undefined, string]> = [
            ["fabrikam", expired.id, undefined, "expired"],
            ["fabrikam", expired.id, expiredToken, "expired"],
            ["northwind", expired.id, expiredToken, "expired"],
            ["northwind", withdrawn.id, withdrawn.accept_token!, "withdrawn"],
            ["fabrikam", used.id, undefined, "accepted"],
            ["fabrikam", used.id, used.accept_token!, "accepted"],
            ["northwind", byToken.id, byToken.accept_token!, "accepted"]
          ]
          for (const [caller, id, token, status] of cases) {
            const error = refused(yield* accept(caller, id, token), 409, "conflict")
            expect(error.message).toContain(status)
          }
          // Rejecting is refused alike.
          refused(yield* send("fabrikam", "POST", `/api/v1/received-invitations/${expired.id}/reject`), 409, "conflict")
          // A token that is not the invitation's still finds nothing.
          refused(yield* accept("northwind", withdrawn.id, makeSecret(INVITATION_PREFIX)), 404, "not_found")
          refused(yield* accept("northwind", used.id, byToken.accept_token!), 404, "not_found")
        })
      )
      const statuses = yield* contoso.invitations.list({ path: { share: "retail" }, urlParams: {} })
      const statusOf = (id: string) => statuses.items.find((item) => item.id === id)?.status
      expect([expired.id, withdrawn.id, used.id, byToken.id].map(statusOf)).toEqual([
        "Expired",
        "Withdrawn",
        "Accepted",
        "Accepted"
      ])
      expect((yield* fabrikam.subscriptions.list({ urlParams: {} })).items.map((s) => s.name)).toEqual([
        "feed",
        "second"
      ])
    })
  )

  it.effect("a mapping to another account's store: 400 at store, naming nothing of that store", () =>
    changesNothing(
      Effect.gen(function* () {
        const fabrikam = yield* clientOf("fabrikam")
        const error = yield* failure(
          fabrikam.mappings.put({
            path: { subscription: "feed", dataset: "customers" },
            payload: { store: "src", path: "stolen/", format: "csv" }
          })
        )
        expect(error).toMatchObject({ tag: "BadRequest", code: "invalid_spec", path: "store" })
        expect(error.message).toContain('no store "src" in account fabrikam')
        expect(error.message).not.toContain("./src")
        expect(error.message).not.toContain("contoso")
        // The same on a dataset the share does not have.
        const missing = yield* failure(
          fabrikam.mappings.put({
            path: { subscription: "feed", dataset: "orders" },
            payload: { store: "out", path: "o/", format: "csv" }
          })
        )
        expect(missing).toMatchObject({ tag: "BadRequest", code: "invalid_spec" })
        expect(missing.message).toContain('no dataset "orders"')
      })
    )
  )

  it.effect("a schedule at 25:00, or a cron that is none: 400 at the field, on every route that takes one", () =>
    changesNothing(
      Effect.gen(function* () {
        const cases: ReadonlyArray<[string, string, unknown, string]> = [
          ["PUT", "/api/v1/shares/retail/schedule", { every: "day", at: "25:00" }, "at"],
          ["PUT", "/api/v1/shares/retail/schedule", { every: "hour", at: "00:60" }, "at"],
          ["PUT", "/api/v1/shares/retail/schedule", { cron: "61 * * * *" }, "cron"],
          ["PUT", "/api/v1/shares/retail/schedule", { cron: "every day" }, "cron"],
          ["PUT", "/api/v1/shares/retail/schedule", { cron: "0 0 31 2 *" }, "cron"],
          ["PATCH", "/api/v1/shares/retail", { schedule: { every: "day", at: "25:00" } }, "schedule.at"],
          ["PATCH", "/api/v1/shares/retail", { schedule: { cron: "* * *" } }, "schedule.cron"],
          ["POST", "/api/v1/shares", { name: "nightly", schedule: { every: "day", at: "25:00" } }, "schedule.at"]
        ]
        for (const [method, path, body, at] of cases) {
          refused(yield* send("contoso", method, path, JSON.stringify(body)), 400, "invalid_request", at)
        }
      })
    )
  )

  it.effect("${env:…} in a store's settings, a dataset or a mapping: 400 at the field, the value never read", () =>
    changesNothing(
      Effect.gen(function* () {
        const reference = `\${env:${ENV_NAME}}`
        const cases: ReadonlyArray<[Caller, string, string, unknown, string]> = [
          ["contoso", "PUT", "/api/v1/stores/src", { type: "local", root: reference }, "root"],
          ["contoso", "PUT", "/api/v1/stores/db", { type: "postgres", url: `postgres://u:${reference}@h/d` }, "url"],
          [
            "contoso",
            "PUT",
            "/api/v1/shares/retail/datasets/customers",
            { source: { store: "src", table: `${reference}.csv` } },
            "source.table"
          ],
          [
            "contoso",
            "PUT",
            "/api/v1/shares/retail/datasets/customers",
            { source: { store: "src", table: "customers.csv" }, filter: `name = '${reference}'` },
            "filter"
          ],
          [
            "fabrikam",
            "PUT",
            "/api/v1/subscriptions/feed/mappings/customers",
            { store: "out", path: `${reference}/`, format: "csv" },
            "path"
          ]
        ]
        for (const [caller, method, path, body, at] of cases) {
          const error = refused(yield* send(caller, method, path, JSON.stringify(body)), 400, "invalid_spec", at)
          expect(error.message).toContain("${env:")
        }
      })
    )
  )

  it.effect("a consumer whose subscription was revoked: synchronize and mapping changes 403, no run queued", () =>
    Effect.gen(function* () {
      const contoso = yield* clientOf("contoso")
      const northwind = yield* clientOf("northwind")
      yield* northwind.stores.put({ path: { store: "landing" }, payload: { type: "local", root: "./landing" } })
      yield* northwind.mappings.put({
        path: { subscription: "retail", dataset: "customers" },
        payload: { store: "landing", path: "c/", format: "csv" }
      })
      yield* contoso.shareSubscriptions.revoke({
        path: { share: "retail", consumer: "northwind", subscription: "retail" }
      })
      yield* changesNothing(
        Effect.gen(function* () {
          for (const mode of ["Full", "Incremental"]) {
            const error = refused(
              yield* send("northwind", "POST", "/api/v1/subscriptions/retail/synchronize", JSON.stringify({ mode })),
              403,
              "revoked"
            )
            expect(error.message).toContain("revoked")
          }
          refused(
            yield* send(
              "northwind",
              "PUT",
              "/api/v1/subscriptions/retail/mappings/customers",
              JSON.stringify({ store: "landing", path: "d/", format: "csv" })
            ),
            403,
            "revoked"
          )
          refused(yield* send("northwind", "DELETE", "/api/v1/subscriptions/retail/mappings/customers"), 403, "revoked")
        })
      )
      expect((yield* northwind.runs.list({ path: { subscription: "retail" }, urlParams: {} })).items).toEqual([])
    })
  )

  it.effect("paging: a cursor no list returned is 400 at after on every paged route; a bad limit at limit", () =>
    changesNothing(
      Effect.gen(function* () {
        const paged = Object.values(Api.groups).flatMap((group) =>
          Object.values(group.endpoints)
            .filter(
              (endpoint) =>
                endpoint.method === "GET" &&
                Option.isSome(endpoint.urlParamsSchema) &&
                SchemaAST.getPropertySignatures(endpoint.urlParamsSchema.value.ast).some((p) => p.name === "after")
            )
            .map((endpoint) => ({ endpoint, group: group.identifier }))
        )
        expect(paged.length).toBeGreaterThanOrEqual(12)
        const values: Record<string, string> = { name: "contoso", share: "retail", subscription: "feed", run_id: runId }
        for (const { endpoint, group } of paged) {
          const caller = OWNERS[group] ?? "operator"
          const path = endpoint.path.replace(/:(\w+)/g, (_: string, name: string) => values[name] ?? name)
          for (const cursor of ["bogus", "MDE5Mw", randomUUID()]) {
            refused(yield* send(caller, "GET", `${path}?after=${cursor}`), 400, "invalid_cursor", "after")
          }
          for (const limit of ["0", "1001", "ten", "1.5"]) {
            refused(yield* send(caller, "GET", `${path}?limit=${limit}`), 400, "invalid_request", "limit")
          }
          expect((yield* send(caller, "GET", `${path}?limit=1`)).status, `${path} as ${caller}`).toBe(200)
        }
        // A cursor of one list is not one of another.
        const fabrikam = yield* clientOf("fabrikam")
        const runs = yield* fabrikam.runs.list({ path: { subscription: "feed" }, urlParams: {} })
        expect(runs.items.length).toBeGreaterThan(0)
        refused(
          yield* send("fabrikam", "GET", `/api/v1/subscriptions/second/runs?after=${runId}`),
          400,
          "invalid_cursor",
          "after"
        )
      })
    )
  )
})
