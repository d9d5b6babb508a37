import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { Plugin } from "../../core/Plugin.js"
import memoryPlugin, { memorySink, memorySource } from "../fixtures/plugins/memory-plugin.js"
import * as Option from "effect/Option"
import { builtins } from "../../runtime/Builtins.js"
import { BASE, issuesOf, loaded, PRELUDE, variant } from "./support.js"

const DATASET_LINE = "        source: { store: provider-mem, table: customers }"
const MAPPING_LINE = "      customers: { store: consumer-mem, table: out }"

/** Adds lines after the dataset's `source:` line (line 16), so the first added line is 17. */
const withDatasetLines = (...lines: ReadonlyArray<string>) =>
  variant([DATASET_LINE, [DATASET_LINE, ...lines].join("\n")])

describe("YAML", () => {
  it.effect("reports a syntax error at its line and column", () =>
    Effect.gen(function* () {
      expect(yield* issuesOf("version: 1\naccounts:\n  contoso: { email: x\nstores: {}\n")).toEqual([
        "4:1 flow map in block collection must be sufficiently indented and end with a }"
      ])
    })
  )

  it.effect("reports a duplicate key where it is repeated", () =>
    Effect.gen(function* () {
      expect(yield* issuesOf(BASE.replace("  fabrikam: {}\n", "  fabrikam: {}\n  contoso: {}\n"))).toEqual([
        '5:3 duplicate key "contoso"'
      ])
    })
  )

  it.effect("wants a map at the top", () =>
    Effect.gen(function* () {
      expect(yield* issuesOf("- version: 1\n")).toEqual([
        "1:1 expected a map with version: 1, stores, shares and subscriptions, got a list"
      ])
    })
  )
})

describe("the config's own keys", () => {
  it.effect("points at an unknown key and suggests the one meant", () =>
    Effect.gen(function* () {
      expect(yield* issuesOf(withDatasetLines("        colums: [id]"))).toEqual([
        '17:9 shares[0].datasets[0].colums: unknown key "colums" (did you mean "columns"?); expected one of: name, source, columns, filter, casts, allow_lossy, incremental'
      ])
      expect(yield* issuesOf(BASE.replace("subscriptions:", "subscription:"))).toEqual([
        '17:1 subscription: unknown key "subscription" (did you mean "subscriptions"?); expected one of: version, state, plugins, limits, smtp, service, accounts, stores, shares, subscriptions'
      ])
    })
  )

  it.effect("says which literals are allowed", () =>
    Effect.gen(function* () {
      expect(
        yield* issuesOf(
          variant(["    account: contoso\n    datasets:", "    account: contoso\n    kind: snapshots\n    datasets:"])
        )
      ).toEqual(['14:11 shares[0].kind: expected one of "snapshot" | "in_place", got "snapshots"'])
    })
  )

  it.effect("points a missing key at the map that lacks it, without cascading", () =>
    Effect.gen(function* () {
      expect(yield* issuesOf(variant(["  - name: retail\n    account: contoso\n", "  - name: retail\n"]))).toEqual([
        '12:5 shares[0]: missing required key "account"'
      ])
    })
  )

  it.effect("checks the version and the limits", () =>
    Effect.gen(function* () {
      expect(yield* issuesOf(BASE.replace("version: 1", "version: 2\nlimits: { concurrency: 0 }"))).toEqual([
        "1:10 version: expected 1 (the only config format version), got 2",
        "2:24 limits.concurrency: expected a number between 1 and 64, got 0"
      ])
    })
  )

  it.effect("checks the mail server and the service", () =>
    Effect.gen(function* () {
      expect(
        yield* issuesOf(
          BASE.replace(
            "version: 1",
            "version: 1\nsmtp: { host: mail, port: 70000, from: nobody }\nservice: { port: 0, base_url: ftp://x }"
          )
        )
      ).toEqual([
        "2:27 smtp.port: expected a port number between 1 and 65535, got 70000",
        '2:40 smtp.from: expected an e-mail address such as ops@fabrikam.example, got "nobody"',
        "3:18 service.port: expected a port number between 1 and 65535, got 0",
        '3:31 service.base_url: expected an http:// or https:// URL, got "ftp://x"'
      ])
    })
  )

  it.effect("checks names used as keys", () =>
    Effect.gen(function* () {
      expect(yield* issuesOf(BASE.replace("  fabrikam: {}", "  fabrikam: {}\n  Northwind: {}"))).toEqual([
        '5:3 accounts.Northwind: "Northwind" is not a valid account name: use lowercase letters, digits, - and _, starting with a letter or digit'
      ])
    })
  )

  it.effect("checks schedules", () =>
    Effect.gen(function* () {
      const withSchedule = (schedule: string) =>
        issuesOf(
          variant([
            "    account: contoso\n    datasets:",
            `    account: contoso\n    schedule: ${schedule}\n    datasets:`
          ])
        )
      expect(yield* withSchedule('{ every: week, at: "02:00" }')).toEqual([
        '14:24 shares[0].schedule.every: expected one of "hour" | "day", got "week"'
      ])
      expect(yield* withSchedule('{ cron: "61 * * * *" }')).toEqual([
        '14:23 shares[0].schedule.cron: minute field: "61" is not a minute (0-59)'
      ])
      expect(yield* withSchedule('{ every: day, cron: "0 2 * * *" }')).toEqual([
        "14:35 shares[0].schedule.cron: give either `every` (with `at`) or `cron`, not both"
      ])
      expect(yield* withSchedule('{ every: hour, at: "02:15" }')).toEqual([
        '14:34 shares[0].schedule.at: with every: hour, at is the minutes past each hour, written "00:MM"'
      ])
      expect(yield* withSchedule('{ every: day, at: "2:00" }')).toEqual([
        '14:33 shares[0].schedule.at: expected a UTC time of day as "HH:MM", such as "02:00", got "2:00"'
      ])
    })
  )

  it.effect("checks incremental settings and casts", () =>
    Effect.gen(function* () {
      expect(
        yield* issuesOf(withDatasetLines('        incremental: { cursor: "", key: [id], lookback: 5min }'))
      ).toEqual([
        '17:32 shares[0].datasets[0].incremental.cursor: expected a column name (not empty), got ""',
        '17:57 shares[0].datasets[0].incremental.lookback: expected a duration such as 30s, 5m, 2h or 1d, got "5min"'
      ])
      const [cast] = yield* issuesOf(withDatasetLines('        casts: { name: "varchar(10)" }'))
      expect(cast).toMatch(
        /^17:24 shares\[0\]\.datasets\[0\]\.casts\.name: unknown type "varchar\(10\)"; expected one of int8/
      )
    })
  )

  it.effect("checks columns named by casts and incremental against the projection", () =>
    Effect.gen(function* () {
      expect(
        yield* issuesOf(
          withDatasetLines(
            "        columns: [id, name, id]",
            "        casts: { amount: int32 }",
            "        incremental: { cursor: updated_at, key: [id] }"
          )
        )
      ).toEqual([
        '17:18 shares[0].datasets[0].columns: column "id" is listed more than once',
        '18:18 shares[0].datasets[0].casts.amount: cast column "amount" is not among the dataset\'s columns: id, name, id',
        '19:32 shares[0].datasets[0].incremental.cursor: cursor column "updated_at" is not among the dataset\'s columns: id, name, id'
      ])
    })
  )

  it.effect("refuses deletes: reconcile from a store that cannot list keys, or into one that cannot delete rows", () =>
    Effect.gen(function* () {
      const config = `version: 1
accounts: { contoso: {}, fabrikam: {} }
stores:
  sales-db: { type: postgres, url: "postgres://ferry@db.internal/sales", account: contoso }
  files: { type: local, root: ./files, account: contoso }
  out: { type: local, root: ./out, account: fabrikam }
  warehouse: { type: postgres, url: "postgres://ferry@db.internal/dw", account: fabrikam }
shares:
  - name: retail
    account: contoso
    datasets:
      - name: sales
        source: { store: sales-db, table: public.sales }
        incremental: { cursor: updated_at, key: [id], deletes: reconcile }
      - name: lines
        source: { store: files, table: lines.csv }
        casts: { id: int64 }
        incremental: { cursor: updated_at, key: [id], deletes: reconcile }
subscriptions:
  - name: feed
    account: fabrikam
    share: contoso/retail
    accept_terms: true
    mappings:
      sales: { store: out, path: sales/, format: parquet }
      lines: { store: warehouse, table: lines }
`
      expect(yield* issuesOf(config, { builtins })).toEqual([
        '14:64 shares[0].datasets[0].incremental.deletes: deletes: reconcile needs a sink that can delete rows, and subscription fabrikam/feed maps dataset "sales" to store "out" (type local), which cannot; use deletes: ignore, or map the dataset to a store that can (postgres)',
        "17:22 shares[0].datasets[1].casts.id: key column \"id\" cannot be cast when deletes: reconcile compares the source's keys with the target's",
        '18:64 shares[0].datasets[1].incremental.deletes: deletes: reconcile needs a source that can list a dataset\'s keys, and store "files" (type local) cannot; use deletes: ignore'
      ])
      // Into PostgreSQL, from PostgreSQL, the same dataset validates.
      const fine = config.replace(
        "sales: { store: out, path: sales/, format: parquet }",
        "sales: { store: warehouse, table: sales }"
      )
      const lines = fine.split("\n")
      const kept = [...lines.slice(0, 14), ...lines.slice(18, -2), ""].join("\n")
      const valid = yield* loaded(kept, { builtins })
      expect(valid.shares[0]!.datasets[0]!.incremental).toMatchObject(Option.some({ deletes: "reconcile" }))
    })
  )

  it.effect("requires accepting the terms", () =>
    Effect.gen(function* () {
      expect(yield* issuesOf(variant(["accept_terms: true", "accept_terms: false"]))).toEqual([
        "21:19 subscriptions[0].accept_terms: must be true: subscribing accepts the share's terms"
      ])
    })
  )
})

describe("filters", () => {
  it.effect("point inside a plain scalar at the character that is wrong", () =>
    Effect.gen(function* () {
      const [issue] = yield* issuesOf(withDatasetLines("        filter: region = 'EU' and and amount >= 100"))
      expect(issue).toMatch(/^17:35 shares\[0\]\.datasets\[0\]\.filter: invalid filter: /)
    })
  )

  it.effect("point inside a double-quoted scalar past its escapes", () =>
    Effect.gen(function* () {
      const [issue] = yield* issuesOf(withDatasetLines(`        filter: "region = '\\u00e9' and and amount >= 1"`))
      expect(issue).toMatch(/^17:40 shares\[0\]\.datasets\[0\]\.filter: invalid filter: /)
    })
  )

  it.effect("point inside a single-quoted scalar past doubled quotes", () =>
    Effect.gen(function* () {
      const [issue] = yield* issuesOf(withDatasetLines(`        filter: 'region = ''EU'' or or x'`))
      // Value: region = 'EU' or or x; the second "or" is at offset 17, after two doubled quotes that take a column each.
      expect(issue).toMatch(/^17:37 shares\[0\]\.datasets\[0\]\.filter: invalid filter: /)
    })
  )

  it.effect("point at the start of a block scalar", () =>
    Effect.gen(function* () {
      const [issue] = yield* issuesOf(withDatasetLines("        filter: >", "          region = 'EU' and and amount"))
      expect(issue).toMatch(/^17:17 shares\[0\]\.datasets\[0\]\.filter: invalid filter: /)
    })
  )
})

describe("references", () => {
  it.effect("report an unknown store type with the known ones", () =>
    Effect.gen(function* () {
      expect(
        yield* issuesOf(variant(["type: memory_table, account: fabrikam", "type: memory_tabel, account: fabrikam"]))
      ).toEqual([
        '10:25 stores.consumer-mem.type: unknown store type "memory_tabel" (did you mean "memory_table"?); known types are: memory_table'
      ])
    })
  )

  it.effect("report an unknown store or account with the existing ones", () =>
    Effect.gen(function* () {
      expect(yield* issuesOf(variant(["store: provider-mem,", "store: provider-memm,"]))).toEqual([
        '16:26 shares[0].datasets[0].source.store: unknown store "provider-memm" (did you mean "provider-mem"?); stores are: provider-mem, consumer-mem'
      ])
      expect(
        yield* issuesOf(variant(["    account: contoso\n    datasets:", "    account: contosso\n    datasets:"]))
      ).toEqual([
        '13:14 shares[0].account: unknown account "contosso" (did you mean "contoso"?); accounts are: contoso, fabrikam'
      ])
    })
  )

  it.effect("require stores to belong to the share's or the subscription's account", () =>
    Effect.gen(function* () {
      expect(
        yield* issuesOf(
          variant(
            ["store: provider-mem,", "store: consumer-mem,"],
            ["store: consumer-mem, table: out", "store: provider-mem, table: out"]
          )
        )
      ).toEqual([
        '16:26 shares[0].datasets[0].source.store: store "consumer-mem" belongs to account "fabrikam", not to the share\'s account "contoso"',
        '23:27 subscriptions[0].mappings.customers.store: store "provider-mem" belongs to account "contoso", not to the subscription\'s account "fabrikam"'
      ])
    })
  )

  it.effect("require a source side to read and a sink side to write", () =>
    Effect.gen(function* () {
      const readOnly: Plugin = { name: "read-only", sources: [{ ...memorySource, type: "read_only" }] }
      const writeOnly: Plugin = { name: "write-only", sinks: [{ ...memorySink, type: "write_only" }] }
      const text = variant(
        ["    type: memory_table", "    type: write_only"],
        ["type: memory_table, account: fabrikam", "type: read_only, account: fabrikam"]
      )
      expect(yield* issuesOf(text, { builtins: [memoryPlugin, readOnly, writeOnly] })).toEqual([
        '16:26 shares[0].datasets[0].source.store: store "provider-mem" is of type "write_only", which can be written to but not read from',
        '23:27 subscriptions[0].mappings.customers.store: store "consumer-mem" is of type "read_only", which can be read from but not written to'
      ])
    })
  )

  it.effect("report an unknown share", () =>
    Effect.gen(function* () {
      expect(yield* issuesOf(variant(["share: contoso/retail", "share: contoso/retial"]))).toEqual([
        '20:12 subscriptions[0].share: unknown share "contoso/retial" (did you mean "contoso/retail"?); shares are: contoso/retail'
      ])
    })
  )

  it.effect("require a mapping for each dataset and a dataset for each mapping", () =>
    Effect.gen(function* () {
      expect(yield* issuesOf(variant(["      customers: { store", "      customer: { store"]))).toEqual([
        '22:5 subscriptions[0].mappings: dataset "customers" of share contoso/retail has no mapping',
        '23:7 subscriptions[0].mappings.customer: share contoso/retail has no dataset "customer" (did you mean "customers"?); its datasets are: customers'
      ])
    })
  )

  it.effect("report duplicate names", () =>
    Effect.gen(function* () {
      expect(
        yield* issuesOf(
          withDatasetLines(
            "      - name: customers",
            DATASET_LINE,
            "  - name: retail",
            "    account: contoso",
            "    datasets: []"
          )
        )
      ).toEqual([
        '17:15 shares[0].datasets[1].name: dataset "customers" is already defined at shares[0].datasets[0]',
        "19:11 shares[1].name: share contoso/retail is already defined at shares[0]"
      ])
    })
  )

  it.effect("want a schedule on the share when the subscription follows it", () =>
    Effect.gen(function* () {
      expect(yield* issuesOf(variant(["accept_terms: true", "accept_terms: true\n    trigger: schedule"]))).toEqual([
        "22:14 subscriptions[0].trigger: trigger: schedule, but share contoso/retail has no schedule; use trigger: manual or give the share a schedule"
      ])
    })
  )
})

describe("connector settings", () => {
  it.effect("are checked against the store type's Schemas", () =>
    Effect.gen(function* () {
      expect(
        yield* issuesOf(
          variant(
            ["account: fabrikam }", "account: fabrikam, tabels: {} }"],
            ["table: customers }", "tabel: customers }"],
            ["{ store: consumer-mem, table: out }", "{ store: consumer-mem }"]
          )
        )
      ).toEqual([
        '10:58 stores.consumer-mem.tabels: unknown key "tabels" (did you mean "tables"?); expected one of: tables',
        '16:17 shares[0].datasets[0].source: missing required key "table"',
        '16:40 shares[0].datasets[0].source.tabel: unknown key "tabel" (did you mean "table"?); expected one of: table, batch_rows',
        '23:18 subscriptions[0].mappings.customers: missing required key "table"'
      ])
    })
  )

  it.effect("report format options that do not match the format", () =>
    Effect.gen(function* () {
      expect(
        yield* issuesOf(
          variant([MAPPING_LINE, "      customers: { store: consumer-mem, table: out, format: parquet, csv: {} }"])
        )
      ).toEqual(["23:70 subscriptions[0].mappings.customers.csv: csv options do not apply to format: parquet"])
      expect(
        yield* issuesOf(
          variant([MAPPING_LINE, "      customers: { store: consumer-mem, table: out, parquet: { compression: lz4 } }"])
        )
      ).toEqual([
        '23:77 subscriptions[0].mappings.customers.parquet.compression: expected one of "snappy" | "zstd" | "none", got "lz4"'
      ])
    })
  )
})

describe("all at once", () => {
  it.effect("reports every problem, in file order", () =>
    Effect.gen(function* () {
      const issues = yield* issuesOf(
        variant(
          ["version: 1", "version: 2"],
          ["type: memory_table, account: fabrikam", "type: memory_tabel, account: fabrikam"],
          ["    account: contoso\n    datasets:", "    account: contoso\n    kind: snapshots\n    datasets:"],
          ["accept_terms: true", "accept_terms: false"],
          ["store: provider-mem,", "store: provider-memm,"]
        )
      )
      expect(issues.map((issue) => issue.split(" ")[0])).toEqual(["1:10", "10:25", "14:11", "17:26", "22:19"])
    })
  )

  it("is stable for the prelude used by these tests", () => {
    expect(PRELUDE.split("\n")).toHaveLength(11)
    expect(BASE.split("\n")).toHaveLength(24)
  })
})
