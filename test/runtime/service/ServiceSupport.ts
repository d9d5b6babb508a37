/**
 * The quickstart's shape in the control store, in a fresh folder: provider contoso
 * shares `retail` (dataset `customers` from `src/customers.csv`, incremental by
 * updated_at and id) from its local store `src`; consumer fabrikam's subscription `feed`
 * receives it as CSV into its local store `out`. State and control in `state.db`.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { builtins } from "../../../runtime/Builtins.js"
import type { Actor, Spec } from "../../../runtime/control/ControlStore.js"
import { ControlStore } from "../../../runtime/control/ControlStore.js"
import * as Stores from "../../../runtime/control/Layers.js"
import * as Planner from "../../../runtime/service/Planner.js"
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
    readonly mappings?: ReadonlyArray<{ readonly dataset: string; readonly spec: Spec }>
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
      for (const mapping of options.mappings ?? [{ dataset: "customers", spec: CUSTOMERS_MAPPING }]) {
        yield* control.putMapping(CONFIG_ACTOR, { account: "fabrikam", subscription: name, ...mapping })
      }
    }
  })
