import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"
import { localSource, LocalDatasetConfig } from "../../connectors/local/LocalSource.js"
import { ProgressDisplay } from "../../runtime/Progress.js"
import { memoryTables } from "../fixtures/plugins/memory-plugin.js"
import { collect, rowsOf, rowText } from "../conformance/Tables.js"
import {
  checkpointOf,
  csvLines,
  dataFiles,
  manifests,
  MEMORY_PLUGIN,
  runOnce,
  shareConfig,
  workspace
} from "./RunSupport.js"

const statusOf = (ran: { results: ReadonlyArray<{ datasets: ReadonlyArray<unknown> }> }) =>
  ran.results.flatMap((result) => result.datasets)

describe("run path: tables", () => {
  it.live("delivers a full snapshot, then only new rows in a new part, then nothing when nothing is new", () =>
    Effect.gen(function* () {
      const space = workspace(
        shareConfig({
          datasets: [
            "{ name: customers, source: { store: src, table: customers.csv }, incremental: { cursor: updated_at, key: [id] } }"
          ],
          mappings: ["customers: { store: out, path: customers/, format: csv }"]
        })
      )
      const target = space.out("customers")
      space.write(
        "customers.csv",
        "id,name,updated_at\n1,ann,2026-01-01T00:00:01Z\n2,bob,2026-01-01T00:00:02Z\n3,cy,2026-01-01T00:00:02Z\n"
      )
      const first = yield* runOnce(space)
      expect(statusOf(first)).toMatchObject([{ dataset: "customers", status: "succeeded", mode: "full", rows: 3 }])
      const firstRun = first.results[0]!.runId
      expect(dataFiles(target)).toEqual([`part-00000-${firstRun}.csv`])
      expect(yield* checkpointOf(space, "customers")).toEqual(
        Option.some(
          expect.objectContaining({ runId: firstRun, watermark: { cursor: "2026-01-01T00:00:02Z", key: ["3"] } })
        )
      )

      // A row sharing the watermark's cursor with a greater key, a later one, and an update of row 2.
      fs.appendFileSync(
        space.src("customers.csv"),
        "4,dee,2026-01-01T00:00:02Z\n5,eve,2026-01-01T00:00:03Z\n2,bob2,2026-01-01T00:00:04Z\n"
      )
      const second = yield* runOnce(space)
      const secondRun = second.results[0]!.runId
      expect(statusOf(second)).toMatchObject([{ status: "succeeded", mode: "incremental", rows: 3, files: 1 }])
      expect(dataFiles(target)).toEqual([`part-00000-${firstRun}.csv`, `part-00000-${secondRun}.csv`].sort())
      expect(fs.readFileSync(path.join(target, `part-00000-${secondRun}.csv`), "utf8")).toBe(
        "id,name,updated_at\n4,dee,2026-01-01T00:00:02Z\n5,eve,2026-01-01T00:00:03Z\n2,bob2,2026-01-01T00:00:04Z\n"
      )
      const advanced = yield* checkpointOf(space, "customers")
      expect(advanced).toEqual(
        Option.some(
          expect.objectContaining({ runId: secondRun, watermark: { cursor: "2026-01-01T00:00:04Z", key: ["2"] } })
        )
      )

      const third = yield* runOnce(space)
      expect(statusOf(third)).toMatchObject([{ status: "succeeded", mode: "incremental", rows: 0, files: 0 }])
      expect(third.lines.at(-1)).toMatch(/^ok +feed: customers \(incremental\): nothing new$/)
      expect(dataFiles(target)).toHaveLength(2)
      expect(manifests(target).sort()).toEqual([firstRun, secondRun].sort())
      expect(yield* checkpointOf(space, "customers")).toEqual(advanced)

      // --full delivers everything again, and its replace removes the earlier parts.
      const full = yield* runOnce(space, { full: true })
      const fullRun = full.results[0]!.runId
      expect(statusOf(full)).toMatchObject([{ status: "succeeded", mode: "full", rows: 6 }])
      expect(dataFiles(target)).toEqual([`part-00000-${fullRun}.csv`])
      expect(csvLines(target)).toHaveLength(6)
      expect((yield* checkpointOf(space, "customers")).pipe(Option.map((c) => c.runId))).toEqual(Option.some(fullRun))
      space.remove()
    })
  )

  it.live("applies columns, filter and casts", () =>
    Effect.gen(function* () {
      const space = workspace(
        shareConfig({
          datasets: [
            `{ name: sales, source: { store: src, table: sales.csv }, columns: [amount, id], filter: "region = 'EU' and amount >= 10", casts: { amount: "decimal(12,2)", id: int32 } }`
          ],
          mappings: ["sales: { store: out, path: sales/, format: jsonl }"]
        })
      )
      space.write("sales.csv", "id,region,amount,note\n1,EU,10.5,x\n2,US,99,y\n3,EU,9.99,z\n4,EU,120,w\n5,,50,v\n")
      const ran = yield* runOnce(space)
      expect(statusOf(ran)).toMatchObject([{ status: "succeeded", rows: 2 }])
      const [part] = dataFiles(space.out("sales"))
      expect(fs.readFileSync(space.out("sales", part!), "utf8")).toBe(
        '{"amount":10.50,"id":1}\n{"amount":120.00,"id":4}\n'
      )
      space.remove()
    })
  )

  it.live("a dataset that fails does not stop the others and leaves its checkpoint unchanged", () =>
    Effect.gen(function* () {
      const space = workspace(
        shareConfig({
          datasets: [
            "{ name: good, source: { store: src, table: good.csv } }",
            "{ name: bad, source: { store: src, table: bad.csv } }"
          ],
          mappings: ["good: { store: out, path: good/, format: csv }", "bad: { store: out, path: bad/, format: csv }"]
        })
      )
      space.write("good.csv", "id\n1\n2\n")
      space.write("bad.csv", "id,name\n1,a\n2,b,extra\n")
      const ran = yield* runOnce(space)
      expect(ran.results[0]!.status).toBe("failed")
      expect(statusOf(ran)).toEqual([
        expect.objectContaining({ dataset: "good", status: "succeeded", rows: 2 }),
        expect.objectContaining({
          dataset: "bad",
          status: "failed",
          message: "source src: bad.csv:3: expected 2 fields, found 3"
        })
      ])
      expect(csvLines(space.out("good"))).toEqual(["1", "2"])
      expect(dataFiles(space.out("bad"))).toEqual([])
      expect(manifests(space.out("bad"))).toEqual([])
      expect(yield* checkpointOf(space, "bad")).toEqual(Option.none())
      space.remove()
    })
  )
})

describe("run path: files", () => {
  it.live("copies new and modified files only, keeping their modification times; --full mirrors the folder", () =>
    Effect.gen(function* () {
      const space = workspace(
        shareConfig({
          datasets: ["{ name: docs, source: { store: src, files: docs/ } }"],
          mappings: ["docs: { store: out, path: received/ }"]
        })
      )
      const target = space.out("received")
      const now = Date.now()
      const put = (name: string, content: string, secondsAgo: number) => {
        const file = space.write(path.join("docs", name), content)
        const time = new Date(now - secondsAgo * 1000)
        fs.utimesSync(file, time, time)
        return time
      }
      put("a.txt", "a", 60)
      const bTime = put("sub/b.txt", "b", 50)
      const first = yield* runOnce(space)
      expect(statusOf(first)).toMatchObject([{ status: "succeeded", mode: "full", files: 2, bytes: 2 }])
      expect(dataFiles(target)).toEqual(["a.txt", "sub/b.txt"])
      // utimes takes seconds as a double, so the copy lands within a microsecond of the millisecond.
      expect(Math.round(fs.statSync(path.join(target, "sub/b.txt")).mtimeMs)).toBe(bTime.getTime())
      expect(yield* checkpointOf(space, "docs")).toEqual(
        Option.some(expect.objectContaining({ watermark: { last_modified: bTime.toISOString(), path: "sub/b.txt" } }))
      )

      put("sub/b.txt", "b2", 30)
      const cTime = put("c.txt", "c", 20)
      // Modified after the run's bound (a second before it starts): it waits for the next run.
      put("fresh.txt", "still being written?", -30)
      const second = yield* runOnce(space)
      const secondRun = second.results[0]!.runId
      expect(statusOf(second)).toMatchObject([{ status: "succeeded", mode: "incremental", files: 2 }])
      const manifest = JSON.parse(
        fs.readFileSync(path.join(target, "_ferry", "manifests", `${secondRun}.json`), "utf8")
      ) as { files: Array<{ path: string }> }
      expect(manifest.files.map((file) => file.path)).toEqual(["c.txt", "sub/b.txt"])
      expect(fs.readFileSync(path.join(target, "sub/b.txt"), "utf8")).toBe("b2")
      expect(dataFiles(target)).toEqual(["a.txt", "c.txt", "sub/b.txt"])
      expect(yield* checkpointOf(space, "docs")).toEqual(
        Option.some(expect.objectContaining({ watermark: { last_modified: cTime.toISOString(), path: "c.txt" } }))
      )

      fs.rmSync(space.src("docs", "a.txt"))
      put("fresh.txt", "done", 10)
      const full = yield* runOnce(space, { full: true })
      expect(statusOf(full)).toMatchObject([{ status: "succeeded", mode: "full", files: 3 }])
      expect(dataFiles(target)).toEqual(["c.txt", "fresh.txt", "sub/b.txt"])
      space.remove()
    })
  )
})

describe("run path: plugins and limits", () => {
  it.scopedLive("a plugin's store type from plugins: serves as a source and as a table sink", () =>
    Effect.gen(function* () {
      const table = `people-${Date.now()}`
      const space = workspace(
        shareConfig({
          top: [`plugins: [${JSON.stringify(MEMORY_PLUGIN)}]`],
          stores: [
            `mem-src: { type: memory_table, account: contoso, tables: { people: { columns: { id: int64, name: utf8, at: "timestamp(us, UTC)" }, rows: [[1, ann, "2026-01-01T00:00:01Z"], [2, bob, "2026-01-01T00:00:02Z"], [3, cy, "2026-01-01T00:00:02Z"]] } } }`,
            "mem-out: { type: memory_table, account: fabrikam }"
          ],
          datasets: [
            "{ name: people, source: { store: mem-src, table: people, batch_rows: 2 }, incremental: { cursor: at, key: [id] } }",
            "{ name: customers, source: { store: src, table: customers.csv } }"
          ],
          mappings: [
            "people: { store: out, path: people/, format: parquet }",
            `customers: { store: mem-out, table: ${table} }`
          ]
        })
      )
      space.write("customers.csv", "id,name\n7,zed\n8,yan\n")
      const ran = yield* runOnce(space)
      expect(statusOf(ran)).toMatchObject([
        { dataset: "people", status: "succeeded", rows: 3, files: 1 },
        { dataset: "customers", status: "succeeded", rows: 2 }
      ])
      const received = memoryTables.get(table)!
      expect(received.runs).toEqual([ran.results[0]!.runId])
      expect(rowsOf(received.columns, received.batches).map((row) => rowText(received.columns, row))).toEqual([
        ["7", "zed"],
        ["8", "yan"]
      ])
      expect(yield* checkpointOf(space, "people")).toEqual(
        Option.some(expect.objectContaining({ watermark: { cursor: "2026-01-01T00:00:02Z", key: ["3"] } }))
      )

      // The Parquet part reads back with its types through the local source.
      const session = yield* localSource.open({ root: space.out() }, { store: "out", baseDir: space.dir })
      const dataset = Schema.decodeUnknownSync(LocalDatasetConfig)({ table: "people/", format: "parquet" })
      const description = yield* session.describe(dataset)
      const columns = description.kind === "table" ? description.columns : []
      const pages = yield* collect(
        session.readTable!(dataset, {
          dataset: "people",
          mode: "full",
          after: Option.none(),
          columns: Option.none(),
          filter: Option.none(),
          incremental: Option.none()
        })
      )
      expect(columns.map((c) => c.type.kind)).toEqual(["int64", "utf8", "timestamp"])
      expect(
        rowsOf(
          columns,
          pages.map((page) => page.batch)
        ).map((row) => rowText(columns, row))
      ).toEqual([
        ["1", "ann", "2026-01-01T00:00:01Z"],
        ["2", "bob", "2026-01-01T00:00:02Z"],
        ["3", "cy", "2026-01-01T00:00:02Z"]
      ])
      space.remove()
    })
  )

  it.live("runs at most limits.concurrency datasets at once", () =>
    Effect.gen(function* () {
      const names = ["d1", "d2", "d3", "d4", "d5"]
      const space = workspace(
        shareConfig({
          top: [`plugins: [${JSON.stringify(MEMORY_PLUGIN)}]`, "limits: { concurrency: 2 }"],
          stores: [
            "mem-src: { type: memory_table, account: contoso, tables: { t: { columns: { id: int32 }, rows: [[1], [2]] } } }",
            "mem-out: { type: memory_table, account: fabrikam }"
          ],
          datasets: names.map((name) => `{ name: ${name}, source: { store: mem-src, table: t } }`),
          mappings: names.map((name) => `${name}: { store: mem-out, table: limit-${name}-${Date.now()} }`)
        })
      )
      let inFlight = 0
      let most = 0
      const display = Layer.succeed(ProgressDisplay, {
        // Holding each dataset a moment makes them overlap as much as the limit allows.
        start: () =>
          Effect.zipRight(
            Effect.sync(() => {
              inFlight++
              most = Math.max(most, inFlight)
            }),
            Effect.sleep("40 millis")
          ),
        update: () => Effect.void,
        finish: () => Effect.sync(() => void inFlight--),
        note: () => Effect.void
      })
      const ran = yield* runOnce(space, {}, undefined, display)
      expect(statusOf(ran)).toHaveLength(5)
      expect(ran.results[0]!.status).toBe("succeeded")
      expect(most).toBe(2)
      space.remove()
    })
  )
})
