import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { ConfigError, formatConfigError } from "../../config/ConfigError.js"
import { loadConfig } from "../../config/LoadConfig.js"
import memoryPlugin from "../fixtures/plugins/memory-plugin.js"
import { BASE, loaded } from "./support.js"

const FULL = `version: 1
state: sqlite:state/ferry.db
limits: { concurrency: 8 }
accounts:
  contoso: { email: data@contoso.example, description: Contoso Retail }
  fabrikam: { email: ops@fabrikam.example }
stores:
  provider-mem:
    type: memory_table
    account: contoso
    tables:
      customers:
        columns: { id: int64, name: utf8, region: utf8, amount: "decimal(12,2)", updated_at: "timestamp(us, UTC)" }
        rows:
          - [1, Ada, EU, "120.50", "2026-01-01T00:00:00Z"]
  consumer-mem: { type: memory_table, account: fabrikam }
shares:
  - name: retail
    account: contoso
    description: Customers of the retail arm.
    terms: For demand forecasting only.
    schedule: { every: hour, at: "00:15" }
    datasets:
      - name: customers
        source: { store: provider-mem, table: customers, batch_rows: 500 }
        columns: [id, name, amount, updated_at]
        filter: "region = 'EU' and amount >= 100"
        casts: { amount: "decimal(14,2)", updated_at: "timestamp(ms, UTC)" }
        allow_lossy: true
        incremental: { cursor: updated_at, key: [id], lookback: 5m }
      - name: everything
        source: { store: provider-mem, table: customers }
    invitations:
      - { to: ops@fabrikam.example, expires: 2027-01-31 }
      - { to: fabrikam }
  - name: nightly
    account: contoso
    kind: in_place
    datasets: []
subscriptions:
  - name: retail-feed
    account: fabrikam
    share: contoso/retail
    accept_terms: true
    trigger: schedule
    mappings:
      everything: { store: consumer-mem, table: all_customers, format: parquet }
      customers: { store: consumer-mem, table: customers, format: csv, csv: { delimiter: ";" } }
`

describe("loadConfig", () => {
  it.effect("decodes a full config into the model", () =>
    Effect.gen(function* () {
      const config = yield* loaded(FULL)
      expect(config.version).toBe(1)
      expect(config.state).toEqual({ kind: "sqlite", file: path.join(config.baseDir, "state", "ferry.db") })
      expect(config.file).toBe(path.join(config.baseDir, "ferry.yaml"))
      expect(config.limits).toEqual({ concurrency: 8, runs: 4 })
      expect(config.plugins).toEqual([])
      expect([...config.registry.types.keys()]).toEqual(["memory_table"])

      expect(config.accounts.get("contoso")).toEqual({
        name: "contoso",
        email: Option.some("data@contoso.example"),
        description: Option.some("Contoso Retail")
      })
      expect([...config.stores.keys()]).toEqual(["provider-mem", "consumer-mem"])
      const provider = config.stores.get("provider-mem")!
      expect(provider.type).toBe("memory_table")
      expect(provider.account).toBe("contoso")
      expect(provider.config).toMatchObject({
        tables: { customers: { columns: { amount: { kind: "decimal", precision: 12, scale: 2 } } } }
      })
      expect(config.stores.get("consumer-mem")?.config).toEqual({ tables: {} })
      // As written, for the control store: no defaults, no decoding.
      expect(config.stores.get("consumer-mem")?.settings).toEqual({})
      expect(Object.keys(provider.settings)).toEqual(["tables"])

      const [retail, nightly] = config.shares
      expect(retail!.name).toBe("retail")
      expect(retail!.kind).toBe("snapshot")
      expect(retail!.terms).toEqual(Option.some("For demand forecasting only."))
      expect(retail!.schedule).toEqual(Option.some({ kind: "every", every: "hour", at: { hour: 0, minute: 15 } }))
      expect(nightly!.kind).toBe("in_place")
      expect(retail!.scheduleSpec).toEqual(Option.some({ every: "hour", at: "00:15" }))
      expect(nightly!.schedule).toEqual(Option.none())
      expect(nightly!.scheduleSpec).toEqual(Option.none())

      const [customers, everything] = retail!.datasets
      expect(customers!.source).toEqual({ store: "provider-mem", config: { table: "customers", batch_rows: 500 } })
      expect(customers!.columns).toEqual(Option.some(["id", "name", "amount", "updated_at"]))
      expect(customers!.filterText).toEqual(Option.some("region = 'EU' and amount >= 100"))
      expect(Option.getOrThrow(customers!.filter).kind).toBe("and")
      expect([...customers!.casts]).toEqual([
        ["amount", { kind: "decimal", precision: 14, scale: 2 }],
        ["updated_at", { kind: "timestamp", unit: "ms", timeZone: "UTC" }]
      ])
      expect(customers!.allowLossy).toBe(true)
      expect(customers!.spec).toEqual({
        source: { store: "provider-mem", table: "customers", batch_rows: 500 },
        columns: ["id", "name", "amount", "updated_at"],
        filter: "region = 'EU' and amount >= 100",
        casts: { amount: "decimal(14,2)", updated_at: "timestamp(ms, UTC)" },
        allow_lossy: true,
        incremental: { cursor: "updated_at", key: ["id"], lookback: "5m" }
      })
      const incremental = Option.getOrThrow(customers!.incremental)
      expect(incremental.cursor).toBe("updated_at")
      expect(incremental.key).toEqual(["id"])
      expect(Duration.toMillis(Option.getOrThrow(incremental.lookback))).toBe(5 * 60_000)
      expect(everything).toMatchObject({
        name: "everything",
        columns: Option.none(),
        filter: Option.none(),
        incremental: Option.none(),
        allowLossy: false
      })
      expect(everything!.casts.size).toBe(0)

      const [email, account] = retail!.invitations
      expect(email!.to).toBe("ops@fabrikam.example")
      expect(DateTime.formatIso(Option.getOrThrow(email!.expiresAt))).toBe("2027-02-01T00:00:00.000Z")
      expect(account).toEqual({ to: "fabrikam", expiresAt: Option.none() })

      const [subscription] = config.subscriptions
      expect(subscription).toMatchObject({
        name: "retail-feed",
        account: "fabrikam",
        share: { account: "contoso", name: "retail" },
        trigger: "schedule"
      })
      // In the order of the share's datasets, whatever the order in the file.
      expect([...subscription!.mappings.keys()]).toEqual(["customers", "everything"])
      expect(subscription!.mappings.get("customers")).toEqual({
        dataset: "customers",
        store: "consumer-mem",
        format: Option.some({ name: "csv", options: { delimiter: ";", quote: '"', header: true, null: "" } }),
        target: { table: "customers" },
        spec: { store: "consumer-mem", table: "customers", format: "csv", csv: { delimiter: ";" } }
      })
      expect(subscription!.mappings.get("everything")?.format).toEqual(
        Option.some({ name: "parquet", options: { compression: "snappy", row_group_rows: 131_072 } })
      )
    })
  )

  it.effect("applies the defaults", () =>
    Effect.gen(function* () {
      const config = yield* loaded(BASE)
      expect(config.state).toEqual({ kind: "sqlite", file: path.join(config.baseDir, ".ferry", "state.db") })
      expect(config.limits).toEqual({ concurrency: 4, runs: 4 })
      expect(config.smtp).toEqual(Option.none())
      expect(config.service).toEqual({ port: 8080, baseUrl: Option.none() })
      expect(config.shares[0]!.kind).toBe("snapshot")
      expect(config.shares[0]!.invitations).toEqual([])
      expect(config.subscriptions[0]!.trigger).toBe("manual")
      expect(config.subscriptions[0]!.mappings.get("customers")?.format).toEqual(Option.none())
    })
  )

  it.effect("reads the service's keys: run limit, mail server (its password redacted), port and base URL", () =>
    Effect.gen(function* () {
      const config = yield* loaded(
        BASE.replace(
          "version: 1",
          `version: 1
limits: { runs: 2 }
smtp: { host: smtp.contoso.example, port: 587, from: ferry@contoso.example, user: ferry, password: "\${env:SMTP_PASSWORD}" }
service: { port: 9090, base_url: "https://ferry.contoso.example" }`
        ),
        { env: { SMTP_PASSWORD: "mail-s3cret" } }
      )
      expect(config.limits).toEqual({ concurrency: 4, runs: 2 })
      const smtp = Option.getOrThrow(config.smtp)
      expect({ ...smtp, password: Option.map(smtp.password, Redacted.value) }).toEqual({
        host: "smtp.contoso.example",
        port: 587,
        from: "ferry@contoso.example",
        secure: false,
        user: Option.some("ferry"),
        password: Option.some("mail-s3cret")
      })
      expect(String(smtp.password)).not.toContain("mail-s3cret")
      expect(config.service).toEqual({ port: 9090, baseUrl: Option.some("https://ferry.contoso.example") })
    })
  )

  it.effect("keeps a PostgreSQL state URL redacted", () =>
    Effect.gen(function* () {
      const config = yield* loaded(
        BASE.replace("version: 1", "version: 1\nstate: postgres://ferry:${env:PW}@db/ferry"),
        {
          env: { PW: "pw" }
        }
      )
      expect(config.state.kind).toBe("postgres")
      if (config.state.kind !== "postgres") return
      expect(Redacted.value(config.state.url)).toBe("postgres://ferry:pw@db/ferry")
      expect(String(config.state.url)).not.toContain("pw@")
    })
  )

  it.effect("fails on a file that does not exist", () =>
    Effect.gen(function* () {
      const result = yield* Effect.either(loadConfig("does/not/exist.yaml", { builtins: [memoryPlugin] }))
      expect(Either.isLeft(result) && result.left.issues).toEqual([
        {
          file: "does/not/exist.yaml",
          line: 1,
          column: 1,
          path: "",
          message: "cannot read the file: it does not exist"
        }
      ])
    })
  )
})

describe("formatConfigError", () => {
  it("prints one line per issue, then the count", () => {
    const error = new ConfigError({
      file: "ferry.yaml",
      issues: [
        { file: "ferry.yaml", line: 1, column: 10, path: "version", message: "expected 1, got 2" },
        { file: "ferry.yaml", line: 3, column: 1, path: "", message: "something at the top" }
      ]
    })
    expect(formatConfigError(error)).toBe(
      "ferry.yaml:1:10: version: expected 1, got 2\nferry.yaml:3:1: something at the top\n2 errors in ferry.yaml"
    )
  })
})
