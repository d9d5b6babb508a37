/**
 * The quickstart's shape in the control store, in a fresh folder: provider contoso
 * shares `retail` (dataset `customers` from `src/customers.csv`, incremental by
 * updated_at and id) from its local store `src`; consumer fabrikam's subscription `feed`
 * receives it as CSV into its local store `out`. State and control in `state.db`.
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { builtins } from "../../../runtime/Builtins.js"
import type { Actor, Spec } from "../../../runtime/control/ControlStore.js"
import { ControlStore } from "../../../runtime/control/ControlStore.js"
import * as Stores from "../../../runtime/control/Layers.js"
import * as ExecutorLive from "../../../runtime/service/ExecutorLive.js"
import * as Metrics from "../../../runtime/service/Metrics.js"
import * as Planner from "../../../runtime/service/Planner.js"
import { StateStore } from "../../../runtime/state/StateStore.js"
import gatePlugin from "../../fixtures/plugins/gate-plugin.js"

export const CONFIG_ACTOR: Actor = { kind: "config", file: "test.yaml" }

export interface ServiceSpace {
  readonly dir: string
  readonly state: string
  readonly src: (...parts: ReadonlyArray<string>) => string
  readonly out: (...parts: ReadonlyArray<string>) => string
  readonly write: (name: string, content: string) => void
  readonly remove: () => void
}

export const serviceSpace = (): ServiceSpace => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-service-"))
  fs.mkdirSync(path.join(dir, "src"))
  const src = (...parts: ReadonlyArray<string>) => path.join(dir, "src", ...parts)
  return {
    dir,
    state: path.join(dir, "state.db"),
    src,
    out: (...parts) => path.join(dir, "out", ...parts),
    write: (name, content) => {
      fs.mkdirSync(path.dirname(src(name)), { recursive: true })
      fs.writeFileSync(src(name), content)
    },
    remove: () => fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** The stores of both sides (control and state) on the folder's database. */
export const storesLayer = (space: ServiceSpace) => Layer.orDie(Stores.layerSqlite({ filename: space.state }))

/** The planner with Ferry's connectors and the gated test store, paths relative to the folder. */
export const plannerLayer = (space: ServiceSpace) =>
  Planner.layer({ builtins: [...builtins, gatePlugin], baseDir: space.dir })

export const CUSTOMERS: Spec = {
  source: { store: "src", table: "customers.csv" },
  incremental: { cursor: "updated_at", key: ["id"] }
}

export const CUSTOMERS_MAPPING: Spec = { store: "out", path: "customers/", format: "csv" }

/** contoso, fabrikam, their stores, the share with `customers`, and the subscription `feed` mapping it. */
export const seed = (
  options: {
    readonly datasets?: ReadonlyArray<{ readonly name: string; readonly spec: Spec }>
    /** For every subscription, or by subscription name. */
    readonly mappings?:
      | ReadonlyArray<{ readonly dataset: string; readonly spec: Spec }>
      | ((subscription: string) => ReadonlyArray<{ readonly dataset: string; readonly spec: Spec }>)
    readonly stores?: ReadonlyArray<{
      readonly account: string
      readonly name: string
      readonly type: string
      readonly settings: Spec
    }>
    readonly schedule?: Spec
    readonly trigger?: "manual" | "schedule"
    readonly subscriptions?: ReadonlyArray<string>
  } = {}
) =>
  Effect.gen(function* () {
    const control = yield* ControlStore
    yield* control.putAccount(CONFIG_ACTOR, { name: "contoso" })
    yield* control.putAccount(CONFIG_ACTOR, { name: "fabrikam" })
    yield* control.putStore(CONFIG_ACTOR, {
      account: "contoso",
      name: "src",
      type: "local",
      settings: { root: "./src" }
    })
    yield* control.putStore(CONFIG_ACTOR, {
      account: "fabrikam",
      name: "out",
      type: "local",
      settings: { root: "./out" }
    })
    for (const store of options.stores ?? []) yield* control.putStore(CONFIG_ACTOR, store)
    yield* control.putShare(CONFIG_ACTOR, {
      account: "contoso",
      name: "retail",
      kind: "snapshot",
      ...(options.schedule === undefined ? {} : { schedule: options.schedule })
    })
    for (const dataset of options.datasets ?? [{ name: "customers", spec: CUSTOMERS }]) {
      yield* control.putDataset(CONFIG_ACTOR, { account: "contoso", share: "retail", ...dataset })
    }
    for (const name of options.subscriptions ?? ["feed"]) {
      yield* control.putSubscription(CONFIG_ACTOR, {
        account: "fabrikam",
        name,
        provider: "contoso",
        share: "retail",
        trigger: options.trigger ?? "manual"
      })
      const mappings = options.mappings ?? [{ dataset: "customers", spec: CUSTOMERS_MAPPING }]
      for (const mapping of typeof mappings === "function" ? mappings(name) : mappings) {
        yield* control.putMapping(CONFIG_ACTOR, { account: "fabrikam", subscription: name, ...mapping })
      }
    }
  })

/** The settings of a `gated_memory` store whose table `t` holds rows 1..count (id, updated_at), read through `gate`. */
export const gatedSettings = (gate: string, count: number): Spec => ({
  gate,
  tables: {
    t: {
      columns: { id: "int64", updated_at: "timestamp(us, UTC)" },
      rows: Array.from({ length: count }, (_, i) => [i + 1, `2026-01-01T00:00:${String(i + 1).padStart(2, "0")}Z`])
    }
  }
})

/** Dataset `customers` read from contoso's gated store `slow`, incremental by updated_at and id. */
export const GATED_CUSTOMERS: Spec = {
  source: { store: "slow", table: "t" },
  incremental: { cursor: "updated_at", key: ["id"] }
}

/** Every subscription's own target folder, `out/NAME/`, as CSV. */
export const mappingPerSubscription = (subscription: string) => [
  { dataset: "customers", spec: { store: "out", path: `${subscription}/`, format: "csv" } }
]

export interface ServiceOptions {
  readonly runs?: number
  readonly concurrency?: number
  /** How often the executor reads its queue unwoken; long where a test moves the clock by hours. */
  readonly poll?: Duration.DurationInput
}

/** Stores, planner, metrics and the executor over the folder's database. */
export const executorLayer = (space: ServiceSpace, options: ServiceOptions = {}) => {
  const base = Layer.mergeAll(Layer.provideMerge(plannerLayer(space), storesLayer(space)), Metrics.layer)
  return Layer.provideMerge(
    Layer.orDie(
      ExecutorLive.layer({
        runs: options.runs ?? 4,
        concurrency: options.concurrency ?? 4,
        ...(options.poll === undefined ? {} : { poll: options.poll })
      })
    ),
    base
  )
}

/** The run once it has ended (polled). */
export const awaitRun = (runId: string) =>
  Effect.gen(function* () {
    const state = yield* StateStore
    for (;;) {
      const run = yield* Effect.orDie(state.getRun(runId))
      if (Option.isSome(run) && run.value.status !== "running") return run.value
      yield* Effect.sleep("20 millis")
    }
  }).pipe(
    Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error(`run ${runId} did not end`) }),
    Effect.orDie
  )

/** Waits until `check` holds (polled), for at most 30 seconds. */
export const eventually = (what: string, check: () => boolean) =>
  Effect.gen(function* () {
    while (!check()) yield* Effect.sleep("10 millis")
  }).pipe(
    Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error(`timed out: ${what}`) }),
    Effect.orDie
  )
