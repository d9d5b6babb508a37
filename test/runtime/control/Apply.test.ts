/**
 * `applyConfig` on SQLite and PostgreSQL: a config file becomes control-store resources
 * in its own form; applying it again changes nothing; what the API made is left alone;
 * `prune` removes only what a config made and the file no longer names.
 */
import { afterEach, beforeEach, describe, expect, it } from "@effect/vitest"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { ApplyOptions, ApplyReport } from "../../../runtime/control/Apply.js"
import { applyConfig, KINDS } from "../../../runtime/control/Apply.js"
import { ControlStore } from "../../../runtime/control/ControlStore.js"
import { hashSecret } from "../../../runtime/control/Tokens.js"
import { builtins } from "../../../runtime/Builtins.js"
import { loaded } from "../../config/support.js"
import { type ControlDialect, dialects } from "./fixtures.js"

type Control = Context.Tag.Service<ControlStore>

const CONFIG = `version: 1
accounts:
  contoso: { email: data@contoso.example, description: The provider }
  fabrikam: { email: ops@fabrikam.example }
stores:
  contoso-db: { type: postgres, url: "\${env:SALES_URL}", account: contoso }
  contoso-files: { type: local, root: ./data, account: contoso }
  fabrikam-files: { type: local, root: ./received, account: fabrikam }
shares:
  - name: retail
    account: contoso
    terms: For forecasting only.
    schedule: { every: day, at: "02:00" }
    datasets:
      - name: customers
        source: { store: contoso-files, table: customers.csv }
        incremental: { cursor: updated_at, key: [customer_id] }
      - name: orders
        source: { store: contoso-db, table: public.orders }
    invitations:
      - { to: ops@fabrikam.example, expires: 2027-12-31 }
      - { to: fabrikam }
subscriptions:
  - name: contoso-retail
    account: fabrikam
    share: contoso/retail
    accept_terms: true
    trigger: schedule
    mappings:
      customers: { store: fabrikam-files, path: customers/, format: parquet }
      orders: { store: fabrikam-files, path: orders/, format: csv, csv: { delimiter: ";" } }
`

const ENV = { SALES_URL: "postgres://ferry:s3cret@db.internal/sales" }
const options = (prune = false): ApplyOptions => ({
  prune,
  actor: { kind: "config", file: "ferry.yaml" },
  now: new Date("2026-03-01T00:00:00.000Z")
})

/** The report without its unchanged lists, as `kind outcome name` lines. */
const changes = (report: ApplyReport): ReadonlyArray<string> =>
  KINDS.flatMap((kind) =>
    (["created", "updated", "removed"] as const).flatMap((outcome) =>
      report[kind][outcome].map((name) => `${kind} ${outcome} ${name}`)
    )
  )

const suite = (dialect: ControlDialect) => {
  beforeEach(() => dialect.setup())
  afterEach(() => dialect.teardown())

  const withControl = <A, E>(use: (control: Control) => Effect.Effect<A, E, ControlStore>) =>
    Effect.flatMap(ControlStore, use).pipe(Effect.provide(dialect.stores()))

  const apply = (text: string, prune = false) =>
    Effect.flatMap(loaded(text, { builtins, env: ENV }), (config) => applyConfig(config, options(prune)))

  const auditCount = dialect
    .raw((sql) => sql<{ n: number | string }>`SELECT COUNT(*) AS n FROM audit_log`)
    .pipe(Effect.map((rows) => Number(rows[0]?.n)))

  it.effect("creates every resource in the file's own form, then changes nothing the second time", () =>
    withControl((control) =>
      Effect.gen(function* () {
        const first = yield* apply(CONFIG)
        expect(changes(first)).toEqual([
          "accounts created contoso",
          "accounts created fabrikam",
          "stores created contoso/contoso-db",
          "stores created contoso/contoso-files",
          "stores created fabrikam/fabrikam-files",
          "shares created contoso/retail",
          "datasets created contoso/retail/customers",
          "datasets created contoso/retail/orders",
          "invitations created contoso/retail/ops@fabrikam.example",
          "invitations created contoso/retail/fabrikam",
          "subscriptions created fabrikam/contoso-retail",
          "mappings created fabrikam/contoso-retail/customers",
          "mappings created fabrikam/contoso-retail/orders"
        ])
        // Settings as written after interpolation: the secret is in the state database.
        const store = yield* control.getStore("contoso", "contoso-db")
        expect(Option.map(store, (s) => [s.type, s.settings, s.origin])).toEqual(
          Option.some(["postgres", { url: ENV.SALES_URL }, "config"])
        )
        expect(
          Option.map(yield* control.getShare("contoso", "retail"), (s) => [s.schedule, s.terms, s.datasetCount])
        ).toEqual(Option.some([{ every: "day", at: "02:00" }, "For forecasting only.", 2]))
        const datasets = yield* control.listDatasets("contoso", "retail", { limit: 10 })
        expect(datasets.items.map((d) => [d.name, d.position, d.spec])).toEqual([
          [
            "customers",
            0,
            {
              source: { store: "contoso-files", table: "customers.csv" },
              incremental: { cursor: "updated_at", key: ["customer_id"] }
            }
          ],
          ["orders", 1, { source: { store: "contoso-db", table: "public.orders" } }]
        ])
        const subscription = yield* control.getSubscription("fabrikam", "contoso-retail")
        expect(Option.map(subscription, (s) => [s.status, s.trigger, s.provider, s.share, s.invitationId])).toEqual(
          Option.some(["Active", "schedule", "contoso", "retail", undefined])
        )
        expect((yield* control.listMappings("fabrikam", "contoso-retail")).map((m) => m.spec)).toEqual([
          { store: "fabrikam-files", path: "customers/", format: "parquet" },
          { store: "fabrikam-files", path: "orders/", format: "csv", csv: { delimiter: ";" } }
        ])

        // Each new invitation comes with its accept token, which only the hash of is kept.
        expect(first.newInvitations.map((n) => [n.invitation.to, n.invitation.status])).toEqual([
          ["ops@fabrikam.example", "Pending"],
          ["fabrikam", "Pending"]
        ])
        const [mailed] = first.newInvitations
        expect(mailed!.invitation.expiresAt).toEqual(new Date("2028-01-01T00:00:00.000Z"))
        const byToken = yield* control.invitationByToken(hashSecret(mailed!.acceptToken), options().now)
        expect(Option.map(byToken, (i) => i.id)).toEqual(Option.some(mailed!.invitation.id))
        const audit = yield* control.listAudit({}, { limit: 100 })
        expect(new Set(audit.items.map((entry) => entry.actor))).toEqual(new Set(["config:ferry.yaml"]))
        expect(JSON.stringify(audit.items)).not.toContain("s3cret")

        const before = yield* auditCount
        const second = yield* apply(CONFIG)
        expect(changes(second)).toEqual([])
        expect(second.newInvitations).toEqual([])
        expect(second.datasets.unchanged).toEqual(["contoso/retail/customers", "contoso/retail/orders"])
        expect(yield* auditCount).toBe(before)
      })
    )
  )

  it.effect("updates what the file changed, reorders datasets, and leaves what the API made alone", () =>
    withControl((control) =>
      Effect.gen(function* () {
        yield* apply(CONFIG)
        const api = { kind: "account", account: "contoso" } as const
        yield* control.putStore(api, { account: "contoso", name: "api-store", type: "local", settings: { root: "." } })
        yield* control.putDataset(api, {
          account: "contoso",
          share: "retail",
          name: "api-dataset",
          spec: { source: { store: "api-store", table: "x.csv" } }
        })
        const changed = CONFIG.replace("terms: For forecasting only.", "terms: For forecasting and reporting.")
          .replace(
            `      - name: customers
        source: { store: contoso-files, table: customers.csv }
        incremental: { cursor: updated_at, key: [customer_id] }
      - name: orders
        source: { store: contoso-db, table: public.orders }`,
            `      - name: orders
        source: { store: contoso-db, table: public.orders }
      - name: customers
        source: { store: contoso-files, table: customers.csv }
        incremental: { cursor: updated_at, key: [customer_id] }`
          )
          .replace("trigger: schedule", "trigger: manual")
          .replace("root: ./received", "root: ./inbox")
        const report = yield* apply(changed)
        expect(changes(report)).toEqual([
          "stores updated fabrikam/fabrikam-files",
          "shares updated contoso/retail",
          "datasets updated contoso/retail/orders",
          "datasets updated contoso/retail/customers",
          "subscriptions updated fabrikam/contoso-retail"
        ])
        const datasets = yield* control.listDatasets("contoso", "retail", { limit: 10 })
        expect(datasets.items.map((d) => [d.name, d.origin])).toEqual([
          ["orders", "config"],
          ["customers", "config"],
          ["api-dataset", "api"]
        ])
        // Without prune, nothing the file does not name goes, whoever made it.
        const smaller = yield* apply(CONFIG.replace("      - { to: fabrikam }\n", ""))
        expect(changes(smaller).filter((line) => line.includes("removed"))).toEqual([])
        expect(Option.isSome(yield* control.getStore("contoso", "api-store"))).toBe(true)
      })
    )
  )

  it.effect("prune removes what a config made and the file no longer names, and nothing the API made", () =>
    withControl((control) =>
      Effect.gen(function* () {
        yield* apply(CONFIG)
        const api = { kind: "account", account: "contoso" } as const
        yield* control.putAccount({ kind: "operator" }, { name: "northwind" })
        yield* control.putStore(api, { account: "contoso", name: "api-store", type: "local", settings: { root: "." } })
        yield* control.putDataset(api, {
          account: "contoso",
          share: "retail",
          name: "api-dataset",
          spec: { source: { store: "api-store", table: "x.csv" } }
        })
        const api_invitation = yield* control.createInvitation(api, {
          account: "contoso",
          share: "retail",
          to: "northwind",
          secretHash: hashSecret("api"),
          at: options().now
        })
        const trimmed = CONFIG.replace("      - { to: fabrikam }\n", "")
          .replace(
            `      - name: orders
        source: { store: contoso-db, table: public.orders }
`,
            ""
          )
          .replace(`      orders: { store: fabrikam-files, path: orders/, format: csv, csv: { delimiter: ";" } }\n`, "")
          .replace(`  contoso-db: { type: postgres, url: "\${env:SALES_URL}", account: contoso }\n`, "")
        const report = yield* apply(trimmed, true)
        expect(changes(report)).toEqual([
          "stores removed contoso/contoso-db",
          "datasets removed contoso/retail/orders",
          "invitations removed contoso/retail/fabrikam",
          "mappings removed fabrikam/contoso-retail/orders"
        ])
        expect(yield* control.getStore("contoso", "contoso-db")).toEqual(Option.none())
        expect(Option.isSome(yield* control.getStore("contoso", "api-store"))).toBe(true)
        expect(Option.isSome(yield* control.getDataset("contoso", "retail", "api-dataset"))).toBe(true)
        expect(Option.isSome(yield* control.getAccount("northwind"))).toBe(true)
        const invitations = yield* control.listInvitations({ account: "contoso", now: options().now }, { limit: 10 })
        expect(invitations.items.map((i) => [i.to, i.status])).toEqual([
          ["ops@fabrikam.example", "Pending"],
          ["fabrikam", "Withdrawn"],
          ["northwind", "Pending"]
        ])
        expect(invitations.items[2]!.id).toBe(api_invitation.id)

        // Named again, the withdrawn invitation is sent anew; pruning again changes nothing else.
        const again = yield* apply(CONFIG, true)
        expect(changes(again)).toEqual([
          "stores created contoso/contoso-db",
          "datasets created contoso/retail/orders",
          "invitations created contoso/retail/fabrikam",
          "mappings created fabrikam/contoso-retail/orders"
        ])

        // A file with the provider's account only: the rest a config made goes, the API's store stays.
        const providerOnly = `version: 1
accounts:
  contoso: { email: data@contoso.example, description: The provider }
`
        const pruned = yield* apply(providerOnly, true)
        expect(changes(pruned)).toEqual([
          "accounts removed fabrikam",
          "stores removed contoso/contoso-db",
          "stores removed contoso/contoso-files",
          "stores removed fabrikam/fabrikam-files",
          "shares removed contoso/retail",
          "subscriptions removed fabrikam/contoso-retail"
        ])
        expect(Option.isSome(yield* control.getStore("contoso", "api-store"))).toBe(true)
      })
    )
  )
}

for (const dialect of dialects()) {
  describe(`applyConfig on ${dialect.name}`, () => suite(dialect))
}
