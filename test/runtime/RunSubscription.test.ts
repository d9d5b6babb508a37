import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import { v7 as uuidv7 } from "uuid"
import { loadConfig } from "../../config/LoadConfig.js"
import { builtins } from "../../runtime/Builtins.js"
import * as Progress from "../../runtime/Progress.js"
import { runSubscription } from "../../runtime/Run.js"
import { layerSqlite, StateStore } from "../../runtime/state/StateStore.js"
import gatePlugin, { gateCounts, openGate } from "../fixtures/plugins/gate-plugin.js"
import { checkpointOf, csvLines, dataFiles, shareConfig, workspace } from "./RunSupport.js"

const rows = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `[${from + i}, "2026-01-01T00:00:0${Math.min(from + i, 9)}Z"]`)

/** Dataset `slow` from a gated memory store (gate `gate`), with rows 1..count; dataset `fast` from a local CSV. */
const configText = (gate: string, count: number) =>
  shareConfig({
    stores: [
      `slow-src: { type: gated_memory, account: contoso, gate: ${gate}, tables: { t: { columns: { id: int64, updated_at: "timestamp(us, UTC)" }, rows: [${rows(1, count).join(", ")}] } } }`
    ],
    datasets: [
      "{ name: fast, source: { store: src, table: fast.csv } }",
      "{ name: slow, source: { store: slow-src, table: t }, incremental: { cursor: updated_at, key: [id] } }"
    ],
    mappings: ["fast: { store: out, path: fast/, format: csv }", "slow: { store: out, path: slow/, format: csv }"]
  })

const loadWith = (file: string) =>
  loadConfig(file, { builtins: [...builtins, gatePlugin] }).pipe(Effect.orDieWith((error) => new Error(error.file)))

describe("runSubscription", () => {
  it.live("an interrupted run is canceled with its datasets, its watermarks untouched; the next run picks up", () =>
    Effect.gen(function* () {
      const suffix = uuidv7()
      const space = workspace(configText(`open-${suffix}`, 3))
      space.write("fast.csv", "id\n1\n")
      const state = layerSqlite({ filename: space.state })
      const services = Layer.merge(state, Progress.layerCollect([]))
      const run = (mode: "full" | "incremental") =>
        Effect.flatMap(loadWith(space.config), (config) =>
          runSubscription(config, { runId: uuidv7(), subscription: "fabrikam/feed", mode })
        )

      yield* openGate(`open-${suffix}`)
      const first = yield* Effect.provide(run("full"), services)
      expect(first).toMatchObject({ subscription: "fabrikam/feed", share: "contoso/retail", status: "succeeded" })
      const watermark = yield* checkpointOf(space, "slow")
      expect(Option.map(watermark, (c) => c.watermark)).toEqual(
        Option.some({ cursor: "2026-01-01T00:00:03Z", key: ["3"] })
      )

      // Rows 4 and 5 arrive, and the read of them waits at a closed gate.
      const closed = `closed-${suffix}`
      fs.writeFileSync(space.config, configText(closed, 5))
      const runId = uuidv7()
      const fiber = yield* Effect.fork(
        Effect.flatMap(loadWith(space.config), (config) =>
          runSubscription(config, { runId, subscription: "fabrikam/feed", mode: "incremental" }).pipe(
            Effect.provide(services)
          )
        )
      )
      while (gateCounts(closed).waiting === 0) yield* Effect.sleep("10 millis")
      yield* Fiber.interrupt(fiber)
      expect(gateCounts(closed).waiting).toBe(0)

      const recorded = yield* Effect.flatMap(StateStore, (store) => store.getRun(runId)).pipe(
        Effect.provide(state),
        Effect.orDie
      )
      expect(recorded).toEqual(
        Option.some(
          expect.objectContaining({
            status: "canceled",
            message: "interrupted",
            subscription: "fabrikam/feed",
            datasets: expect.arrayContaining([expect.objectContaining({ dataset: "slow", status: "canceled" })])
          })
        )
      )
      expect(yield* checkpointOf(space, "slow")).toEqual(watermark)
      expect(dataFiles(space.out("slow"))).toHaveLength(1)
      expect(fs.readdirSync(space.out("slow")).filter((name) => name.startsWith(".ferry-staging-"))).toEqual([])

      yield* openGate(closed)
      const next = yield* Effect.provide(run("incremental"), services)
      expect(next.datasets).toMatchObject([
        { dataset: "fast", status: "succeeded", mode: "full" },
        { dataset: "slow", status: "succeeded", mode: "incremental", rows: 2 }
      ])
      expect(csvLines(space.out("slow")).map((line) => line.split(",")[0])).toEqual(["1", "2", "3", "4", "5"])
      space.remove()
    })
  )

  it.effect("names the subscriptions there are when asked for another", () =>
    Effect.gen(function* () {
      const space = workspace(configText("unused", 1))
      const config = yield* loadWith(space.config)
      const error = yield* runSubscription(config, {
        runId: uuidv7(),
        subscription: "contoso/feed",
        mode: "full"
      }).pipe(
        Effect.provide(Layer.merge(layerSqlite({ filename: space.state }), Progress.layerCollect([]))),
        Effect.flip
      )
      expect(error).toMatchObject({
        _tag: "RunSelectionError",
        message: "no subscription contoso/feed; subscriptions are fabrikam/feed"
      })
      space.remove()
    })
  )
})
