/** Planning the renames that publish a staged tree, and the deletes of a full snapshot, from listings alone. */
import { describe, expect, it } from "@effect/vitest"
import { pathKinds, planRemovals, planRenames } from "../../../sinks/adls/internal/RenamePlan.js"

const files = (...paths: ReadonlyArray<string>) => pathKinds(paths.map((path) => ({ path, directory: false })))

describe("rename plan", () => {
  it("lists directories above files, and directories listed as entries", () => {
    expect([
      ...pathKinds([
        { path: "a/b/c.txt", directory: false },
        { path: "empty", directory: true },
        { path: "a", directory: true }
      ])
    ]).toEqual([
      ["a", "directory"],
      ["a/b", "directory"],
      ["a/b/c.txt", "file"],
      ["empty", "directory"]
    ])
  })

  it("moves a directory the target lacks whole, enters one it has, and replaces files at their paths", () => {
    const plan = planRenames(
      ["new/x/1.txt", "new/2.txt", "old/3.txt", "old/deep/4.txt", "top.txt", "same.txt"],
      files("old/keep.txt", "same.txt"),
      new Set()
    )
    expect(plan).toEqual({
      clear: [],
      renames: [
        { path: "new", kind: "directory" },
        { path: "old/3.txt", kind: "file" },
        { path: "old/deep", kind: "directory" },
        { path: "same.txt", kind: "file" },
        { path: "top.txt", kind: "file" }
      ],
      conflicts: []
    })
  })

  it("into an empty target, each top-level entry is one rename", () => {
    expect(planRenames(["a/b/c.txt", "a/d.txt", "e.txt"], new Map(), new Set()).renames).toEqual([
      { path: "a", kind: "directory" },
      { path: "e.txt", kind: "file" }
    ])
  })

  it("clears a path of the other kind that the run replaces, and refuses one it does not", () => {
    const existing = files("report", "logs/a.log", "logs/b.log", "data/keep.csv")
    const replacing = planRenames(
      ["report/part.csv", "logs"],
      existing,
      new Set(["report", "logs/a.log", "logs/b.log"])
    )
    expect(replacing).toEqual({
      clear: [
        { path: "logs", kind: "directory" },
        { path: "report", kind: "file" }
      ],
      renames: [
        { path: "logs", kind: "file" },
        { path: "report", kind: "directory" }
      ],
      conflicts: []
    })
    const appending = planRenames(["report/part.csv", "data"], existing, new Set())
    expect(appending.conflicts).toEqual([
      "the target has a directory data/ where the run delivers a file data",
      "the target has a file report where the run delivers a directory report/"
    ])
    // A directory only partly replaced is a conflict too.
    expect(planRenames(["logs"], existing, new Set(["logs/a.log"])).conflicts).toEqual([
      "the target has a directory logs/ where the run delivers a file logs"
    ])
  })

  it("removes a directory whose files all go in one delete, never one holding the run's files or bookkeeping", () => {
    const existing = files("gone/a", "gone/deep/b", "mixed/stay", "mixed/go", "nested/inner/x", "nested/y", "z")
    const removed = ["gone/a", "gone/deep/b", "mixed/go", "nested/inner/x", "nested/y", "z"]
    expect(planRemovals(removed, existing, new Set(["mixed/stay"]), [])).toEqual([
      { path: "gone", kind: "directory" },
      { path: "mixed/go", kind: "file" },
      { path: "nested", kind: "directory" },
      { path: "z", kind: "file" }
    ])
    // The run delivers nested/new: nested stays, its old entries go.
    expect(planRemovals(removed, existing, new Set(["mixed/stay", "nested/new"]), [])).toEqual([
      { path: "gone", kind: "directory" },
      { path: "mixed/go", kind: "file" },
      { path: "nested/inner", kind: "directory" },
      { path: "nested/y", kind: "file" },
      { path: "z", kind: "file" }
    ])
    // Paths cleared before the renames are gone already.
    expect(
      planRemovals(["gone/a", "z"], files("gone/a", "z"), new Set(), [{ path: "gone", kind: "directory" }])
    ).toEqual([{ path: "z", kind: "file" }])
  })
})
