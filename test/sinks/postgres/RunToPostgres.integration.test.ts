/**
 * The run path into PostgreSQL: a local CSV table delivered by `ferry run`'s code into
 * a PostgreSQL table, first as a full snapshot (replace), then incrementally (merge on
 * the key: updated rows replace theirs, new rows are added), with the checkpoint
 * advancing only with what the table holds.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import { checkpointOf, runOnce, shareConfig, workspace } from "../../runtime/RunSupport.js"
import type { TestDatabase } from "../../support/postgres.js"
import { createDatabase } from "../../support/postgres.js"

let database: TestDatabase
beforeAll(async () => {
  database = await createDatabase("ferry_sink_run")
}, 30_000)
afterAll(() => database?.drop(), 30_000)

const statusOf = (ran: { results: ReadonlyArray<{ datasets: ReadonlyArray<unknown> }> }) =>
  ran.results.flatMap((result) => result.datasets)

const tableRows = () =>
  Effect.promise(() =>
    database.query<{ id: string; name: string; amount: string; updated_at: string }>(
      `SELECT id::text, name, amount::text, to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') AS updated_at
       FROM received."Customers" ORDER BY id`
    )
  )

describe("run path into PostgreSQL", () => {
  it.live("a full snapshot replaces the table, an incremental one merges on the key", () =>
    Effect.gen(function* () {
      const space = workspace(
        shareConfig({
          stores: [`pg: { type: postgres, url: "${database.url}", account: fabrikam }`],
          datasets: [
            `{ name: customers, source: { store: src, table: customers.csv }, casts: { amount: "decimal(10,2)" }, incremental: { cursor: updated_at, key: [id] } }`
          ],
          mappings: [`customers: { store: pg, table: 'received."Customers"' }`]
        })
      )
      space.write(
        "customers.csv",
        "id,name,amount,updated_at\n1,ann,10.50,2026-01-01T00:00:01Z\n2,bob,20,2026-01-01T00:00:02Z\n3,cy,30.25,2026-01-01T00:00:02Z\n"
      )
      const first = yield* runOnce(space)
      expect(statusOf(first)).toMatchObject([{ dataset: "customers", status: "succeeded", mode: "full", rows: 3 }])
      expect(yield* tableRows()).toEqual([
        { id: "1", name: "ann", amount: "10.50", updated_at: "2026-01-01T00:00:01" },
        { id: "2", name: "bob", amount: "20.00", updated_at: "2026-01-01T00:00:02" },
        { id: "3", name: "cy", amount: "30.25", updated_at: "2026-01-01T00:00:02" }
      ])

      // Row 2 changes, row 4 is new; the file keeps the old line of row 2 too, before the watermark.
      fs.appendFileSync(space.src("customers.csv"), "4,dee,40,2026-01-01T00:00:03Z\n2,bob2,21,2026-01-01T00:00:04Z\n")
      const second = yield* runOnce(space)
      expect(statusOf(second)).toMatchObject([{ status: "succeeded", mode: "incremental", rows: 2 }])
      expect(yield* tableRows()).toEqual([
        { id: "1", name: "ann", amount: "10.50", updated_at: "2026-01-01T00:00:01" },
        { id: "2", name: "bob2", amount: "21.00", updated_at: "2026-01-01T00:00:04" },
        { id: "3", name: "cy", amount: "30.25", updated_at: "2026-01-01T00:00:02" },
        { id: "4", name: "dee", amount: "40.00", updated_at: "2026-01-01T00:00:03" }
      ])
      const checkpoint = yield* checkpointOf(space, "customers")
      expect(checkpoint).toEqual(
        Option.some(
          expect.objectContaining({
            runId: second.results[0]!.runId,
            watermark: { cursor: "2026-01-01T00:00:04Z", key: ["2"] }
          })
        )
      )
      const commits = yield* Effect.promise(() =>
        database.query<{ run_id: string; mode: string; rows: string }>(
          `SELECT run_id, mode, rows::text AS rows FROM _ferry.commits ORDER BY committed_at`
        )
      )
      expect(commits).toEqual([
        { run_id: first.results[0]!.runId, mode: "replace", rows: "3" },
        { run_id: second.results[0]!.runId, mode: "merge", rows: "2" }
      ])

      // --full replaces the table with the source as it is now: the file's five lines, row 2's old one included.
      const full = yield* runOnce(space, { full: true })
      expect(statusOf(full)).toMatchObject([{ status: "succeeded", mode: "full", rows: 5 }])
      const count = yield* Effect.promise(() =>
        database.query<{ rows: string }>(`SELECT count(*)::text AS rows FROM received."Customers"`)
      )
      expect(count).toEqual([{ rows: "5" }])
      space.remove()
    })
  )
})
