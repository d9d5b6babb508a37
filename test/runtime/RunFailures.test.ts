/**
 * Bad input and crashes on the run path: each fails with a message that says what and
 * where, publishes nothing, and leaves the checkpoint where it was; the next run
 * carries on from the last committed watermark without losing or repeating a row.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import { ProgressDisplay } from "../../runtime/Progress.js"
import { layerSqlite, StateStore } from "../../runtime/state/StateStore.js"
import type { Workspace } from "./RunSupport.js"
import {
  checkpointOf,
  csvLines,
  dataFiles,
  manifests,
  pendingOf,
  runOnce,
  shareConfig,
  spawnFerry,
  tree,
  workspace
} from "./RunSupport.js"

const statusOf = (ran: { results: ReadonlyArray<{ datasets: ReadonlyArray<unknown> }> }) =>
  ran.results.flatMap((result) => result.datasets)

const customers = (mapping = "customers: { store: out, path: customers/, format: csv }") =>
  workspace(
    shareConfig({
      datasets: [
        "{ name: customers, source: { store: src, table: customers.csv }, incremental: { cursor: updated_at, key: [id] } }"
      ],
      mappings: [mapping]
    })
  )

const HEADER = "id,name,updated_at\n"
const line = (id: number, second: number) =>
  `${id},name-${id},2026-01-01T${String(Math.floor(second / 3600)).padStart(2, "0")}:${String(Math.floor(second / 60) % 60).padStart(2, "0")}:${String(second % 60).padStart(2, "0")}Z\n`
/** Rows `from`..`to`, fifty to a cursor value, so that batches cut through runs of equal cursors. */
const lines = (from: number, to: number) => {
  const out: Array<string> = []
  for (let id = from; id <= to; id++) out.push(line(id, Math.floor(id / 50)))
  return out.join("")
}

/** What the consumer and the state store hold, to compare before and after a failure. */
const snapshot = (space: Workspace, target: string) =>
  Effect.map(checkpointOf(space, "customers"), (checkpoint) => ({
    files: dataFiles(target),
    manifests: manifests(target),
    checkpoint
  }))

const ids = (target: string) => csvLines(target).map((text) => Number(text.split(",")[0]))

const expectEachOnce = (delivered: ReadonlyArray<number>, count: number) => {
  expect(delivered).toHaveLength(count)
  expect(new Set(delivered).size).toBe(count)
  expect(delivered.every((id) => Number.isInteger(id) && id >= 1 && id <= count)).toBe(true)
}

describe("bad input", () => {
  it.live("a CSV row with the wrong number of fields fails the dataset, naming the file and line", () =>
    Effect.gen(function* () {
      const space = customers()
      const target = space.out("customers")
      space.write("customers.csv", HEADER + lines(1, 3))
      yield* runOnce(space)
      const before = yield* snapshot(space, target)
      fs.appendFileSync(space.src("customers.csv"), `${line(4, 9)}5,eve,2026-01-01T00:00:10Z,extra\n`)
      const ran = yield* runOnce(space)
      expect(ran.results[0]!.status).toBe("failed")
      expect(statusOf(ran)).toMatchObject([
        { status: "failed", message: "source src: customers.csv:6: expected 3 fields, found 4" }
      ])
      expect(yield* snapshot(space, target)).toEqual(before)
      expect(tree(target).filter((file) => file.startsWith(".ferry-"))).toEqual([])
      space.remove()
    })
  )

  it.live("a mapping path outside the sink's root is refused before anything is written", () =>
    Effect.gen(function* () {
      const space = customers("customers: { store: out, path: ../escape/, format: csv }")
      space.write("customers.csv", HEADER + lines(1, 3))
      const ran = yield* runOnce(space)
      expect(statusOf(ran)).toMatchObject([
        {
          status: "failed",
          message: `target out ../escape/: path "../escape/" is outside the store's root ${space.out()}`
        }
      ])
      expect(fs.existsSync(path.join(space.dir, "escape"))).toBe(false)
      expect(tree(space.out())).toEqual([])
      expect(yield* checkpointOf(space, "customers")).toEqual(Option.none())
      space.remove()
    })
  )

  it.live("a source file that cannot be read, or a folder where a file is expected, fails clearly", () =>
    Effect.gen(function* () {
      // Tests run as root, where permissions do not stop reads: a link to a missing file
      // cannot be opened whoever reads it, and a folder named like the table has no parts.
      const space = workspace(
        shareConfig({
          datasets: [
            "{ name: docs, source: { store: src, files: docs/ } }",
            "{ name: customers, source: { store: src, table: customers.csv } }"
          ],
          mappings: ["docs: { store: out, path: docs/ }", "customers: { store: out, path: customers/, format: csv }"]
        })
      )
      space.write("docs/ok.txt", "ok")
      fs.symlinkSync(space.src("docs", "gone.txt"), space.src("docs", "broken.txt"))
      fs.mkdirSync(space.src("customers.csv"))
      const ran = yield* runOnce(space)
      expect(statusOf(ran)).toMatchObject([
        { dataset: "docs", status: "failed", message: "source src: broken.txt does not exist" },
        {
          dataset: "customers",
          status: "failed",
          message: "source src: customers.csv holds no csv file, so its columns are unknown"
        }
      ])
      expect(tree(space.out("docs"))).toEqual([])
      expect(tree(space.out("customers"))).toEqual([])
      expect(yield* checkpointOf(space, "docs")).toEqual(Option.none())
      space.remove()
    })
  )

  it.live("a run that fails half way, after batches reached the staging folder, publishes none of them", () =>
    Effect.gen(function* () {
      const space = workspace(
        shareConfig({
          datasets: ["{ name: customers, source: { store: src, table: orders/, format: csv } }"],
          mappings: ["customers: { store: out, path: customers/, format: csv }"]
        })
      )
      const target = space.out("customers")
      space.write("orders/part-1.csv", HEADER + lines(1, 2000))
      space.write("orders/part-2.csv", HEADER + lines(2001, 4000))
      space.write("orders/part-3.csv", HEADER + lines(4001, 6000))
      space.write("orders/part-4.csv", `${HEADER}${lines(6001, 8000)}8001,bad\n`)
      let staged = 0
      const stagedBytes = () =>
        tree(target)
          .filter((file) => file.startsWith(".ferry-staging-"))
          .reduce((total, file) => total + fs.statSync(path.join(target, file)).size, 0)
      const display = Layer.succeed(ProgressDisplay, {
        start: () => Effect.void,
        update: () => Effect.sync(() => void (staged = Math.max(staged, stagedBytes()))),
        finish: () => Effect.void,
        note: () => Effect.void
      })
      const ran = yield* runOnce(space, {}, undefined, display)
      expect(statusOf(ran)).toMatchObject([
        { status: "failed", message: "source src: orders/part-4.csv:2002: expected 3 fields, found 2" }
      ])
      expect(staged).toBeGreaterThan(0)
      expect(tree(target)).toEqual([])
      expect(yield* checkpointOf(space, "customers")).toEqual(Option.none())
      space.remove()
    })
  )
})

describe("crashes", () => {
  it.live(
    "a run killed half way publishes nothing, and the next one resumes from the last watermark",
    () =>
      Effect.gen(function* () {
        const space = customers()
        const target = space.out("customers")
        const total = 200_000
        space.write("customers.csv", HEADER + lines(1, 1000))
        yield* runOnce(space)
        const before = yield* snapshot(space, target)
        fs.appendFileSync(space.src("customers.csv"), lines(1001, total))

        const child = spawnFerry(["run", space.config])
        let exited: { code: number | null } | undefined
        void child.exited.then((result) => (exited = result))
        const stagedPart = () =>
          tree(target).find(
            (file) => /^\.ferry-staging-[^/]+\/part-/.test(file) && fs.statSync(path.join(target, file)).size > 0
          )
        while (stagedPart() === undefined) {
          if (exited !== undefined) throw new Error(`ferry run ended before it was killed: ${JSON.stringify(exited)}`)
          yield* Effect.sleep("10 millis")
        }
        child.kill()
        const result = yield* Effect.promise(() => child.exited)
        expect(result.signal).toBe("SIGKILL")

        const left = tree(target).filter((file) => file.startsWith(".ferry-staging-"))
        expect(left.length).toBeGreaterThan(0)
        expect(yield* snapshot(space, target)).toEqual(before)
        const killedRun = /^\.ferry-staging-([^/]+)\//.exec(left[0]!)![1]!

        const resumed = yield* runOnce(space)
        expect(statusOf(resumed)).toMatchObject([{ status: "succeeded", mode: "incremental", rows: total - 1000 }])
        expect(tree(target).filter((file) => file.startsWith(".ferry-"))).toEqual([])
        expectEachOnce(ids(target), total)
        expect(dataFiles(target)).toHaveLength(2)
        const killed = yield* Effect.flatMap(StateStore, (store) => store.getRun(killedRun)).pipe(
          Effect.provide(layerSqlite({ filename: space.state })),
          Effect.orDie
        )
        expect(killed).toEqual(Option.some(expect.objectContaining({ status: "failed", message: "interrupted" })))
        space.remove()
      }),
    150_000 // a CLI process starting on a busy machine
  )

  it.live("a crash between the sink's commit and the checkpoint is completed, not delivered again", () =>
    Effect.gen(function* () {
      const space = customers()
      const target = space.out("customers")
      space.write("customers.csv", HEADER + lines(1, 3))
      const first = yield* runOnce(space)
      fs.appendFileSync(space.src("customers.csv"), lines(4, 5))

      // The process "dies" once, right after the sink published: the checkpoint is not moved.
      const dyingOnComplete = Layer.effect(
        StateStore,
        Effect.map(StateStore, (store) => ({
          ...store,
          completeCommit: () => Effect.die(new Error("the process died before its checkpoint"))
        }))
      ).pipe(Layer.provide(layerSqlite({ filename: space.state })))
      const crashed = yield* runOnce(space, {}, dyingOnComplete)
      const crashedRun = crashed.results[0]!.runId
      expect(statusOf(crashed)).toMatchObject([
        { status: "failed", message: "unexpected error: the process died before its checkpoint" }
      ])
      expect(manifests(target)).toContain(crashedRun)
      expect((yield* checkpointOf(space, "customers")).pipe(Option.map((c) => c.runId))).toEqual(
        Option.some(first.results[0]!.runId)
      )
      expect((yield* pendingOf(space, "customers")).pipe(Option.map((p) => p.runId))).toEqual(Option.some(crashedRun))

      const next = yield* runOnce(space)
      expect(statusOf(next)).toMatchObject([{ status: "succeeded", mode: "incremental", rows: 0 }])
      expect(yield* checkpointOf(space, "customers")).toEqual(
        Option.some(
          expect.objectContaining({ runId: crashedRun, watermark: { cursor: "2026-01-01T00:00:00Z", key: ["5"] } })
        )
      )
      expect(yield* pendingOf(space, "customers")).toEqual(Option.none())
      expect(dataFiles(target)).toHaveLength(2)
      expectEachOnce(ids(target), 5)
      space.remove()
    })
  )

  it.live("a crash between the intent and the sink's commit is discarded, and the rows come with the next run", () =>
    Effect.gen(function* () {
      const space = customers()
      const target = space.out("customers")
      space.write("customers.csv", HEADER + lines(1, 3))
      yield* runOnce(space)
      fs.appendFileSync(space.src("customers.csv"), lines(4, 5))

      const dyingAfterPrepare = Layer.effect(
        StateStore,
        Effect.map(StateStore, (store) => ({
          ...store,
          prepareCommit: (intent: Parameters<typeof store.prepareCommit>[0]) =>
            Effect.zipRight(store.prepareCommit(intent), Effect.die(new Error("the process died before the sink")))
        }))
      ).pipe(Layer.provide(layerSqlite({ filename: space.state })))
      const crashed = yield* runOnce(space, {}, dyingAfterPrepare)
      expect(statusOf(crashed)).toMatchObject([{ status: "failed" }])
      expect(manifests(target)).not.toContain(crashed.results[0]!.runId)
      expect(Option.isSome(yield* pendingOf(space, "customers"))).toBe(true)

      const next = yield* runOnce(space)
      expect(statusOf(next)).toMatchObject([{ status: "succeeded", mode: "incremental", rows: 2 }])
      expect(yield* pendingOf(space, "customers")).toEqual(Option.none())
      expectEachOnce(ids(target), 5)
      space.remove()
    })
  )
})
