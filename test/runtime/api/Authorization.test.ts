/**
 * Who may call what, over every endpoint of the API definition (runtime/api/Api.ts): the
 * routes are read from the HttpApi itself, so a route added later is in the matrix (and
 * fails it until it has a sample body below). For each route, with the path filled with
 * names that exist: no token and an unknown token are 401; an account's token on an
 * operator route, and the operator's on an account route, 403; another account's token
 * 404, never a success, and its answer names nothing of the owner's. Every error body is
 * `{ error: { code, message } }`. Refused requests change nothing: the owners read the
 * same resources afterwards, and the audit log has no entry from them.
 */
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Api } from "../../../runtime/api/Api.js"
import { makeSecret } from "../../../runtime/control/Tokens.js"
import type { RawResponse } from "./Harness.js"
import { ended, GROUP_OWNERS, layer as harness, headers, isErrorBody, Service } from "./Harness.js"

type Caller = "none" | "unknown" | "operator" | "contoso" | "fabrikam" | "northwind"
type Owner = "operator" | "contoso" | "fabrikam" | "anyone"

/** Whose resources each group's routes act on; the audit log is everyone's own. */
const OWNERS: Record<string, Owner> = { ...GROUP_OWNERS, audit: "anyone" }

/** A valid body for every route that takes one. */
const PAYLOADS: Record<string, unknown> = {
  "accounts.put": { description: "changed" },
  "accounts.createToken": { description: "stolen" },
  "stores.put": { type: "local", root: "./elsewhere" },
  "shares.create": { name: "retail" },
  "shares.update": { description: "changed" },
  "shares.putSchedule": { cron: "0 3 * * *" },
  "datasets.put": { source: { store: "src", table: "other.csv" } },
  "invitations.create": { to: "northwind" },
  "receivedInvitations.accept": { accept_terms: true, subscription: "taken" },
  "subscriptions.setTrigger": { trigger: "schedule" },
  "mappings.put": { store: "out", path: "elsewhere/", format: "csv" },
  "runs.synchronize": { mode: "Full" }
}

/**
 * Routes that write a name of the caller's own account (`PUT /stores/src`,
 * `POST /shares {name}`): another account's token creates its own resource of that
 * name, which is no access to the owner's. They run after the others.
 */
const OWN_NAMESPACE = new Set(["stores.put", "shares.create"])

/** Strings of each owner's data that no other account reads through these routes. */
const PRIVATE: Record<string, ReadonlyArray<string>> = {
  contoso: ["contoso-private-root", "contoso-private.csv", "PRIVATE description", "PRIVATE terms"],
  fabrikam: ["fabrikam-private-root", "fabrikam-private-path"]
}

const ACCOUNTS = ["contoso", "fabrikam", "northwind"] as const

interface Route {
  readonly key: string
  readonly group: string
  readonly method: string
  readonly template: string
  readonly owner: Owner
  readonly payload: unknown
  /** A GET of a list of the caller's own, without a name in the path. */
  readonly ownList: boolean
  readonly ownNamespace: boolean
}

const routes: ReadonlyArray<Route> = Object.values(Api.groups).flatMap((group) =>
  Object.values(group.endpoints).map((endpoint): Route => {
    const key = `${group.identifier}.${endpoint.name}`
    return {
      key,
      group: group.identifier,
      method: endpoint.method,
      template: endpoint.path,
      owner: OWNERS[group.identifier] ?? (`no owner for group ${group.identifier}` as Owner),
      payload: Option.isSome(endpoint.payloadSchema) && endpoint.method !== "GET" ? PAYLOADS[key] : undefined,
      ownList: endpoint.method === "GET" && !endpoint.path.includes(":"),
      ownNamespace: OWN_NAMESPACE.has(key)
    }
  })
)

layer(harness(), { excludeTestServices: true })("authorization over every route", (it) => {
  const tokens: Record<"operator" | (typeof ACCOUNTS)[number], string> = {
    operator: "",
    contoso: "",
    fabrikam: "",
    northwind: ""
  }
  const names: Record<string, string> = {}
  const unknownToken = makeSecret()
  /** What the owners read, and the last audit entry, once the fixture is made. */
  const baseline = { before: [] as ReadonlyArray<string>, audited: 0 }

  /** The route's path with the names of the fixture. */
  const fill = (route: Route) =>
    route.template.replace(/:(\w+)/g, (_, param: string) => {
      const value = param === "id" ? names[route.group === "accounts" ? "token" : "invitation"] : names[param]
      if (value === undefined) throw new Error(`no value for :${param} of ${route.key}`)
      return encodeURIComponent(value)
    })

  const call = (route: Route, caller: Caller, raw?: string) =>
    Effect.gen(function* () {
      const service = yield* Service
      const token = caller === "none" ? undefined : caller === "unknown" ? unknownToken : tokens[caller]
      const url = fill(route)
      const response = yield* service.fetch(url, {
        method: route.method,
        headers: headers(token, route.payload !== undefined),
        ...(route.payload === undefined ? {} : { body: raw ?? JSON.stringify(route.payload) })
      })
      return { url, ...response }
    })

  const expectError = (
    route: Route,
    caller: Caller,
    response: RawResponse & { url: string },
    status: number,
    code: string
  ) => {
    const where = `${route.method} ${response.url} as ${caller}: ${response.status} ${response.body}`
    expect(response.status, where).toBe(status)
    expect(isErrorBody(response.body), where).toBe(true)
    expect((JSON.parse(response.body) as { error: { code: string } }).error.code, where).toBe(code)
  }

  /**
   * An answer to anyone but the owner: nothing of another account's data; a refusal names
   * no account the request did not name.
   */
  const expectNoLeak = (route: Route, caller: Caller, response: RawResponse & { url: string }) => {
    const where = `${route.method} ${response.url} as ${caller}: ${response.body}`
    for (const [owner, texts] of Object.entries(PRIVATE)) {
      if (owner !== caller) for (const text of texts) expect(response.body, where).not.toContain(text)
    }
    if (response.status < 400) return
    for (const account of ACCOUNTS) {
      if (account !== caller && !response.url.includes(account)) expect(response.body, where).not.toContain(account)
    }
  }

  /** What the owners read of their resources. */
  const ownersView = Effect.gen(function* () {
    const service = yield* Service
    const read = (token: string, path: string) =>
      Effect.map(service.fetch(path, { headers: headers(token, false) }), (response) => {
        expect(response.status, `${path}: ${response.body}`).toBe(200)
        return response.body
      })
    return [
      yield* read(tokens.operator, "/api/v1/accounts"),
      yield* read(tokens.contoso, "/api/v1/stores"),
      yield* read(tokens.contoso, "/api/v1/shares/retail"),
      yield* read(tokens.contoso, "/api/v1/shares/retail/datasets"),
      yield* read(tokens.contoso, "/api/v1/shares/retail/invitations"),
      yield* read(tokens.contoso, "/api/v1/shares/retail/subscriptions"),
      yield* read(tokens.fabrikam, "/api/v1/stores"),
      yield* read(tokens.fabrikam, "/api/v1/subscriptions"),
      yield* read(tokens.fabrikam, "/api/v1/subscriptions/feed/mappings"),
      yield* read(tokens.fabrikam, "/api/v1/subscriptions/feed/runs"),
      yield* read(tokens.fabrikam, "/api/v1/received-invitations")
    ]
  })

  const newestAudit = Effect.gen(function* () {
    const service = yield* Service
    const operator = yield* service.client(tokens.operator)
    return (yield* operator.audit.list({ urlParams: { limit: 1 } })).items[0]?.id ?? 0
  })

  it.effect("the fixture: accounts, tokens, a store, a share and dataset, invitations, a subscription and a run", () =>
    Effect.gen(function* () {
      const service = yield* Service
      tokens.operator = service.operatorToken
      const operator = yield* service.client(tokens.operator)
      yield* operator.accounts.put({ path: { name: "contoso" }, payload: { email: "data@contoso.example" } })
      yield* operator.accounts.put({ path: { name: "fabrikam" }, payload: { email: "ops@fabrikam.example" } })
      yield* operator.accounts.put({ path: { name: "northwind" }, payload: {} })
      for (const name of ACCOUNTS) {
        const made = yield* operator.accounts.createToken({ path: { name }, payload: {} })
        tokens[name] = made.token
        if (name === "contoso") names["token"] = made.id
      }
      const contoso = yield* service.client(tokens.contoso)
      const fabrikam = yield* service.client(tokens.fabrikam)
      service.space.write("../contoso-private-root/contoso-private.csv", "id,name\n1,Ada\n")
      yield* contoso.stores.put({ path: { store: "src" }, payload: { type: "local", root: "./contoso-private-root" } })
      yield* contoso.shares.create({
        payload: { name: "retail", description: "PRIVATE description", terms: "PRIVATE terms" }
      })
      yield* contoso.datasets.put({
        path: { share: "retail", dataset: "customers" },
        payload: { source: { store: "src", table: "contoso-private.csv" } }
      })
      const first = yield* contoso.invitations.create({ path: { share: "retail" }, payload: { to: "fabrikam" } })
      yield* fabrikam.receivedInvitations.accept({
        path: { id: first.id },
        payload: { accept_terms: true, subscription: "feed" }
      })
      const pending = yield* contoso.invitations.create({ path: { share: "retail" }, payload: { to: "fabrikam" } })
      yield* fabrikam.stores.put({
        path: { store: "out" },
        payload: { type: "local", root: "./fabrikam-private-root" }
      })
      yield* fabrikam.mappings.put({
        path: { subscription: "feed", dataset: "customers" },
        payload: { store: "out", path: "fabrikam-private-path/", format: "csv" }
      })
      const queued = yield* fabrikam.runs.synchronize({ path: { subscription: "feed" }, payload: { mode: "Full" } })
      // The run ends before the matrix starts, so that nothing changes under it.
      expect((yield* ended(fabrikam, "feed", queued.run_id)).status).toBe("Succeeded")
      Object.assign(names, {
        name: "contoso",
        store: "src",
        share: "retail",
        dataset: "customers",
        invitation: pending.id,
        subscription: "feed",
        consumer: "fabrikam",
        run_id: queued.run_id
      })
      baseline.before = yield* ownersView
      baseline.audited = yield* newestAudit
    })
  )

  it("every route of the definition has an owner and, if it takes one, a sample body", () => {
    expect(routes.length).toBeGreaterThan(40)
    for (const route of routes) {
      expect(Object.values(OWNERS), route.key).toContain(route.owner)
    }
    const withBody = Object.values(Api.groups).flatMap((group) =>
      Object.values(group.endpoints)
        .filter((endpoint) => Option.isSome(endpoint.payloadSchema) && endpoint.method !== "GET")
        .map((endpoint) => `${group.identifier}.${endpoint.name}`)
    )
    expect(withBody.filter((key) => PAYLOADS[key] === undefined)).toEqual([])
  })

  it.effect("the owners reach every route with these names (so that the refusals below mean something)", () =>
    Effect.gen(function* () {
      for (const route of routes.filter((route) => route.method === "GET")) {
        const owner = route.owner === "anyone" ? "contoso" : route.owner
        const response = yield* call(route, owner)
        expect(response.status, `${route.key} as ${owner}: ${response.body}`).toBe(200)
      }
      const invitations = yield* call(
        routes.find((route) => route.key === "receivedInvitations.list")!,
        "fabrikam"
      )
      expect(invitations.body).toContain(names["invitation"])
    })
  )

  it.effect("no token, or one Ferry does not know: 401 on every route, before its body is read", () =>
    Effect.gen(function* () {
      for (const route of routes) {
        for (const caller of ["none", "unknown"] as const) {
          const response = yield* call(route, caller)
          expectError(route, caller, response, 401, "unauthorized")
          expectNoLeak(route, caller, response)
          if (route.payload !== undefined) {
            const unreadable = yield* call({ ...route, payload: "{not json" }, caller, "{not json")
            expectError(route, caller, unreadable, 401, "unauthorized")
          }
        }
      }
    })
  )

  it.effect(
    "the wrong kind of token: 403 (accounts' tokens on operator routes, the operator's on account routes)",
    () =>
      Effect.gen(function* () {
        for (const route of routes) {
          const callers: ReadonlyArray<Caller> =
            route.owner === "operator" ? ACCOUNTS : route.owner === "anyone" ? [] : ["operator"]
          for (const caller of callers) {
            const response = yield* call(route, caller)
            expectError(route, caller, response, 403, "forbidden")
            expectNoLeak(route, caller, response)
          }
        }
      })
  )

  it.effect("another account's token: 404 on the owner's resources, and nothing of the owner's in any answer", () =>
    Effect.gen(function* () {
      const { audited, before } = baseline
      const accountRoutes = routes.filter((route) => route.owner !== "operator")
      const check = (route: Route) =>
        Effect.gen(function* () {
          for (const caller of ACCOUNTS.filter((account) => account !== route.owner)) {
            const response = yield* call(route, caller)
            const where = `${route.method} ${response.url} as ${caller}: ${response.status} ${response.body}`
            if (route.ownList || route.owner === "anyone") {
              expect(response.status, where).toBe(200)
            } else if (route.ownNamespace) {
              expect(response.status, where).toBeLessThan(300)
            } else {
              expectError(route, caller, response, 404, "not_found")
            }
            expectNoLeak(route, caller, response)
          }
        })
      const service = yield* Service
      const operator = yield* service.client(tokens.operator)
      const auditedSince = (id: number) =>
        Effect.map(operator.audit.list({ urlParams: { limit: 1000 } }), (page) =>
          page.items
            .filter((entry) => entry.id > id)
            .map((entry) => `${entry.actor} ${entry.action} ${entry.resource}`)
            .sort()
        )
      yield* Effect.forEach(
        accountRoutes.filter((route) => !route.ownNamespace),
        check
      )
      // Nothing the refused requests named changed, and none of them was audited.
      expect(yield* ownersView).toEqual(before)
      expect(yield* auditedSince(audited)).toEqual([])

      // Writes of the caller's own names, last: they make the caller a resource of that name, not the owner's.
      const [contosoStores, contosoShare] = before
      yield* Effect.forEach(
        accountRoutes.filter((route) => route.ownNamespace),
        check
      )
      const [storesAfter, shareAfter] = yield* ownersView
      expect([storesAfter, shareAfter]).toEqual([contosoStores, contosoShare])
      expect(yield* auditedSince(audited)).toEqual([
        "fabrikam share.create share:fabrikam/retail",
        "fabrikam store.create store:fabrikam/src",
        "northwind share.create share:northwind/retail",
        "northwind store.create store:northwind/src"
      ])
      // The token the operator routes named by id was not revoked by any of them.
      const contoso = yield* service.client(tokens.contoso)
      expect((yield* contoso.shares.get({ path: { share: "retail" } })).description).toBe("PRIVATE description")
    })
  )
})
