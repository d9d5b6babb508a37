/** What only the SQLite store has: a file, its folder, WAL, an in-memory variant. The shared suite is StateStore.test.ts. */
import { afterEach, beforeEach, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { existsSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { layerFor, layerMemory, layerSqlite, StateStore } from "../../../runtime/state/StateStore.js"
import { StateError } from "../../../runtime/state/StateError.js"
import { makeSqlite } from "./fixtures/Dialects.js"

const sqlite = makeSqlite()
beforeEach(() => sqlite.setup())
afterEach(() => sqlite.teardown())

const startRun = (runId: string) =>
  Effect.flatMap(StateStore, (store) =>
    Effect.zipRight(
      store.startRun({
        runId,
        subscription: "contoso-sales",
        share: "contoso/pos-sales",
        mode: "incremental",
        startedAt: new Date("2026-03-01T10:00:00.000Z")
      }),
      store.listRuns({ limit: 10 })
    )
  )

describe("StateStore on SQLite: the file", () => {
  it.effect("creates the folder and uses WAL", () =>
    Effect.gen(function* () {
      yield* Effect.provide(Effect.void, sqlite.layer())
      expect(existsSync(sqlite.file())).toBe(true)
      const journal = yield* sqlite.raw((sql) => sql<{ journal_mode: string }>`PRAGMA journal_mode`)
      expect(journal[0]?.journal_mode).toBe("wal")
    })
  )

  it.effect("fails with a StateError for a file that is not a database", () =>
    Effect.gen(function* () {
      const notDatabase = path.join(sqlite.dir(), "notes.db")
      writeFileSync(notDatabase, "x".repeat(4096))
      const error = yield* Effect.flip(Effect.provide(StateStore, layerSqlite({ filename: notDatabase })))
      expect(error).toBeInstanceOf(StateError)
      expect(error.message).toContain(`Cannot open the state database ${notDatabase}`)
    })
  )

  it.effect("layerMemory gives each build a fresh database", () =>
    Effect.gen(function* () {
      expect(yield* Effect.provide(startRun("run-1"), layerMemory)).toHaveLength(1)
      expect(yield* Effect.provide(startRun("run-1"), layerMemory)).toHaveLength(1)
    })
  )

  it.effect("layerFor opens the SQLite file a config names", () =>
    Effect.gen(function* () {
      const file = path.join(sqlite.dir(), ".ferry", "state.db")
      const runs = yield* Effect.provide(startRun("run-1"), layerFor({ kind: "sqlite", file }))
      expect(runs.map((run) => run.runId)).toEqual(["run-1"])
      expect(existsSync(file)).toBe(true)
    })
  )
})
