import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as path from "node:path"
import { ControlStore } from "../../../runtime/control/ControlStore.js"
import { envReferences, Planner } from "../../../runtime/service/Planner.js"
import { CONFIG_ACTOR, plannerLayer, seed, serviceSpace, storesLayer } from "./ServiceSupport.js"

/** A test with the planner over a fresh control store, in a folder removed afterwards. */
const withPlanner = <A, E>(use: (planner: Planner["Type"]) => Effect.Effect<A, E, ControlStore>) =>
  Effect.acquireUseRelease(
    Effect.sync(serviceSpace),
    (space) =>
      Effect.flatMap(Planner, use).pipe(
        Effect.provide(Layer.provideMerge(plannerLayer(space), storesLayer(space))),
        Effect.map((result) => ({ result, space }))
      ),
    (space) => Effect.sync(space.remove)
  )

describe("Planner.plan", () => {
  it.effect("assembles the subscription's config: its share, stores and mappings, decoded by the loader", () =>
    Effect.gen(function* () {
      const { result: config, space } = yield* withPlanner((planner) =>
        Effect.zipRight(seed(), planner.plan({ account: "fabrikam", name: "feed" }))
      )
      expect(config.baseDir).toBe(space.dir)
      expect(config.subscriptions).toHaveLength(1)
      const [subscription] = config.subscriptions
      expect(subscription).toMatchObject({
        name: "feed",
        account: "fabrikam",
        share: { account: "contoso", name: "retail" }
      })
      expect(subscription!.mappings.get("customers")).toMatchObject({
        store: "out",
        format: Option.some(expect.objectContaining({ name: "csv" })),
        target: { path: "customers/" }
      })
      expect(config.shares.map((share) => share.datasets.map((dataset) => dataset.name))).toEqual([["customers"]])
      expect(config.stores.get("src")).toMatchObject({ account: "contoso", type: "local", config: { root: "./src" } })
      expect(config.stores.get("out")).toMatchObject({ account: "fabrikam", type: "local" })
      expect(path.resolve(config.baseDir, "./out")).toBe(space.out())
    })
  )

  it.effect("reports every problem with the path the API shows", () =>
    Effect.gen(function* () {
      const { result: error } = yield* withPlanner((planner) =>
        Effect.zipRight(
          seed({
            datasets: [
              {
                name: "customers",
                spec: { source: { store: "src", tabel: "customers.csv" }, incremental: { cursor: "updated_at" } }
              },
              { name: "docs", spec: { source: { store: "src", files: "docs/" } } }
            ],
            mappings: [{ dataset: "customers", spec: { store: "out", path: "customers/", format: "xml" } }]
          }),
          Effect.flip(planner.plan({ account: "fabrikam", name: "feed" }))
        )
      )
      expect(error._tag).toBe("PlanError")
      expect(error).toMatchObject({ subscription: "fabrikam/feed" })
      if (error._tag !== "PlanError") return
      expect([...error.issues].sort((a, b) => a.path.localeCompare(b.path))).toEqual([
        { path: "datasets.customers.incremental", message: 'missing required key "key"' },
        {
          path: "datasets.customers.source.tabel",
          message: expect.stringContaining('unknown key "tabel" (did you mean "table"?)')
        },
        { path: "mappings.customers.format", message: 'expected one of "csv" | "parquet" | "jsonl", got "xml"' },
        { path: "mappings.docs", message: 'dataset "docs" has no mapping' }
      ])
      expect(error.message).toMatch(/^subscription fabrikam\/feed cannot run: .+ \(and 1 more\)$/)
    })
  )

  it.effect("renames a consumer's store whose name the provider's store has, and says whose it is", () =>
    Effect.gen(function* () {
      const { result } = yield* withPlanner((planner) =>
        Effect.gen(function* () {
          yield* seed({
            stores: [{ account: "fabrikam", name: "src", type: "local", settings: { root: 5 } }],
            mappings: [{ dataset: "customers", spec: { store: "src", path: "customers/", format: "csv" } }]
          })
          const broken = yield* Effect.flip(planner.plan({ account: "fabrikam", name: "feed" }))
          const control = yield* ControlStore
          yield* control.putStore(CONFIG_ACTOR, {
            account: "fabrikam",
            name: "src",
            type: "local",
            settings: { root: "./in" }
          })
          return { broken, config: yield* planner.plan({ account: "fabrikam", name: "feed" }) }
        })
      )
      expect(result.broken).toMatchObject({
        _tag: "PlanError",
        issues: [{ path: "stores.src.root", message: "fabrikam's store: expected a string, got 5" }]
      })
      const { config } = result
      expect(config.stores.get("src")).toMatchObject({ account: "contoso", config: { root: "./src" } })
      expect(config.stores.get("fabrikam-src")).toMatchObject({ account: "fabrikam", config: { root: "./in" } })
      expect(config.subscriptions[0]!.mappings.get("customers")!.store).toBe("fabrikam-src")
    })
  )

  it.effect("keeps a stored ${env:…} text as it is, never reading the environment", () =>
    Effect.gen(function* () {
      const { result: config } = yield* withPlanner((planner) =>
        Effect.zipRight(
          seed({
            mappings: [{ dataset: "customers", spec: { store: "out", path: "${env:HOME}/", format: "csv" } }]
          }),
          planner.plan({ account: "fabrikam", name: "feed" })
        )
      )
      expect(config.subscriptions[0]!.mappings.get("customers")!.target).toEqual({ path: "${env:HOME}/" })
    })
  )

  it.effect("fails with NotFoundError for a subscription that does not exist", () =>
    Effect.gen(function* () {
      const { result: error } = yield* withPlanner((planner) =>
        Effect.flip(planner.plan({ account: "fabrikam", name: "nope" }))
      )
      expect(error).toMatchObject({ _tag: "NotFoundError", resource: "subscription:fabrikam/nope" })
    })
  )
})

describe("Planner checks", () => {
  it.effect("a store: the connector's settings, with paths in the body and values kept out of messages", () =>
    Effect.gen(function* () {
      const { result } = yield* withPlanner((planner) =>
        Effect.all({
          good: planner.checkStore("contoso", "files", { type: "local", root: "./files" }),
          unknownType: planner.checkStore("contoso", "files", { type: "locl", root: "./files" }),
          badSettings: planner.checkStore("contoso", "files", { type: "local", root: 5, extra: true }),
          secret: planner.checkStore("contoso", "db", { type: "postgres", url: "mysql://ann:hunter2-secret@db/x" }),
          env: planner.checkStore("contoso", "db", { type: "postgres", url: "${env:DATABASE_URL}", account: "x" })
        })
      )
      expect(result.good).toEqual([])
      expect(result.unknownType).toEqual([
        { path: "type", message: expect.stringContaining('unknown store type "locl" (did you mean "local"?)') }
      ])
      expect(result.badSettings).toEqual([
        { path: "root", message: "expected a string, got 5" },
        { path: "extra", message: 'unknown key "extra"; expected one of: root' }
      ])
      expect(result.secret).toEqual([
        { path: "url", message: "expected a URL starting with postgres:// (or postgresql://)" }
      ])
      expect(JSON.stringify(result)).not.toContain("hunter2")
      expect(result.env).toEqual([
        { path: "url", message: expect.stringContaining("${env:…} references are not allowed") },
        { path: "account", message: "a store belongs to the account that writes it: leave account out" }
      ])
    })
  )

  it.effect("a dataset: its store must be the provider's, and the loader's checks apply", () =>
    Effect.gen(function* () {
      const { result } = yield* withPlanner((planner) =>
        Effect.zipRight(
          seed(),
          Effect.all({
            good: planner.checkDataset("contoso", "retail", "orders", { source: { store: "src", table: "o.csv" } }),
            othersStore: planner.checkDataset("contoso", "retail", "orders", {
              source: { store: "out", table: "o.csv" }
            }),
            bad: planner.checkDataset("contoso", "retail", "orders", {
              source: { store: "src", table: "o.csv" },
              incremental: { cursor: "updated_at" },
              filter: "amount >"
            })
          })
        )
      )
      expect(result.good).toEqual([])
      expect(result.othersStore).toEqual([{ path: "source.store", message: 'no store "out" in account contoso' }])
      expect(result.bad).toEqual([
        { path: "incremental", message: 'missing required key "key"' },
        { path: "filter", message: expect.stringMatching(/^invalid filter: /) }
      ])
    })
  )

  it.effect("a mapping: its store must be the consumer's, and the sink's settings apply", () =>
    Effect.gen(function* () {
      const { result } = yield* withPlanner((planner) =>
        Effect.zipRight(
          seed(),
          Effect.all({
            good: planner.checkMapping("fabrikam", "feed", "customers", {
              store: "out",
              path: "c/",
              format: "parquet"
            }),
            providersStore: planner.checkMapping("fabrikam", "feed", "customers", { store: "src", path: "c/" }),
            bad: planner.checkMapping("fabrikam", "feed", "customers", { store: "out", path: "c/", format: "xml" }),
            noDataset: planner.checkMapping("fabrikam", "feed", "orders", { store: "out", path: "o/" }),
            noSubscription: Effect.flip(planner.checkMapping("fabrikam", "nope", "customers", { store: "out" }))
          })
        )
      )
      expect(result.good).toEqual([])
      expect(result.providersStore).toEqual([{ path: "store", message: 'no store "src" in account fabrikam' }])
      expect(result.bad).toEqual([
        { path: "format", message: 'expected one of "csv" | "parquet" | "jsonl", got "xml"' }
      ])
      expect(result.noDataset).toEqual([{ path: "", message: 'share contoso/retail has no dataset "orders"' }])
      expect(result.noSubscription).toMatchObject({ _tag: "NotFoundError" })
    })
  )

  it("envReferences finds ${env: in any string of a body, with its path", () => {
    expect(envReferences({ type: "postgres", url: "postgres://${env:PW}@h/db", list: ["a", "${env:X}"] })).toEqual([
      { path: "url", message: expect.any(String) },
      { path: "list[1]", message: expect.any(String) }
    ])
    expect(envReferences({ path: "$HOME/{env:x}", n: 1 })).toEqual([])
  })
})
