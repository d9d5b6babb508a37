/**
 * Which renames publish a run's staged tree into a target directory, and which paths
 * a full snapshot then removes, computed from listings before any request is made.
 *
 * The staged tree moves in with as few renames as the target allows: a directory the
 * target does not have moves whole, in one rename (all its files appear at once); a
 * directory the target has is entered, and its entries moved one by one; a file
 * replaces the file at its path in one rename. A path where the target holds the other
 * kind (a file where the run delivers a directory, or the reverse) is cleared first when
 * the run replaces it anyway, and is a conflict otherwise.
 */

export type PathKind = "file" | "directory"

export interface PlannedPath {
  /** Relative to the target directory (and to the staging directory, for renames), with `/`. */
  readonly path: string
  readonly kind: PathKind
}

export interface RenamePlan {
  /** Paths in the way that the run replaces anyway: deleted before the renames. */
  readonly clear: ReadonlyArray<PlannedPath>
  /** Staged paths renamed into place, one request each. */
  readonly renames: ReadonlyArray<PlannedPath>
  /** Why a staged path cannot be renamed into place, one sentence each. */
  readonly conflicts: ReadonlyArray<string>
}

const parentsOf = (path: string): Array<string> => {
  const parts = path.split("/")
  return parts.slice(0, -1).map((_, index) => parts.slice(0, index + 1).join("/"))
}

/**
 * The paths of a listing by kind: the entries listed (a directory is listed as an
 * entry marked as one, with a hierarchical namespace) and every directory above them.
 */
export const pathKinds = (
  entries: ReadonlyArray<{ readonly path: string; readonly directory: boolean }>
): Map<string, PathKind> => {
  const kinds = new Map<string, PathKind>()
  for (const entry of entries) {
    for (const parent of parentsOf(entry.path)) kinds.set(parent, "directory")
    if (!kinds.has(entry.path) || entry.directory) kinds.set(entry.path, entry.directory ? "directory" : "file")
  }
  return kinds
}

/** Files of `existing` under `directory`, counted, and those of them in `removed`. */
const filesUnder = (existing: ReadonlyMap<string, PathKind>, directory: string, removed: ReadonlySet<string>) => {
  let files = 0
  let gone = 0
  for (const [path, kind] of existing) {
    if (kind === "file" && path.startsWith(`${directory}/`)) {
      files += 1
      if (removed.has(path)) gone += 1
    }
  }
  return { files, gone }
}

/**
 * The renames that move the staged files `staged` into a target whose paths are
 * `existing`, when the run removes the files `removed` (a full snapshot's old files).
 */
export const planRenames = (
  staged: ReadonlyArray<string>,
  existing: ReadonlyMap<string, PathKind>,
  removed: ReadonlySet<string>
): RenamePlan => {
  const stagedKinds = pathKinds(staged.map((path) => ({ path, directory: false })))
  const children = new Map<string, Array<string>>()
  for (const path of [...stagedKinds.keys()].sort()) {
    const parent = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ""
    children.set(parent, [...(children.get(parent) ?? []), path])
  }
  const clear: Array<PlannedPath> = []
  const renames: Array<PlannedPath> = []
  const conflicts: Array<string> = []
  const visit = (path: string): void => {
    const kind = stagedKinds.get(path)!
    const there = existing.get(path)
    if (there === undefined || (there === "file" && kind === "file")) {
      renames.push({ path, kind })
    } else if (there === "directory" && kind === "directory") {
      for (const child of children.get(path) ?? []) visit(child)
    } else if (kind === "directory") {
      if (removed.has(path)) {
        clear.push({ path, kind: "file" })
        renames.push({ path, kind })
      } else {
        conflicts.push(`the target has a file ${path} where the run delivers a directory ${path}/`)
      }
    } else {
      const under = filesUnder(existing, path, removed)
      if (under.files === under.gone) {
        clear.push({ path, kind: "directory" })
        renames.push({ path, kind })
      } else {
        conflicts.push(`the target has a directory ${path}/ where the run delivers a file ${path}`)
      }
    }
  }
  for (const child of children.get("") ?? []) visit(child)
  return { clear, renames, conflicts }
}

/**
 * What to delete so that the files `removed` are gone, once the run's files `kept` are
 * in place: a directory whose every file goes (and that holds none of the run's) in one
 * request, the other files one by one. Paths under `cleared` are gone already.
 */
export const planRemovals = (
  removed: ReadonlyArray<string>,
  existing: ReadonlyMap<string, PathKind>,
  kept: ReadonlySet<string>,
  cleared: ReadonlyArray<PlannedPath>
): ReadonlyArray<PlannedPath> => {
  const isCleared = (path: string) => cleared.some((entry) => path === entry.path || path.startsWith(`${entry.path}/`))
  const gone = new Set(removed)
  const files = new Map<string, number>()
  const going = new Map<string, number>()
  const holdsKept = new Set<string>()
  for (const [path, kind] of existing) {
    if (kind !== "file") continue
    for (const parent of parentsOf(path)) {
      files.set(parent, (files.get(parent) ?? 0) + 1)
      if (gone.has(path)) going.set(parent, (going.get(parent) ?? 0) + 1)
    }
  }
  for (const path of kept) for (const parent of parentsOf(path)) holdsKept.add(parent)
  const roots = new Map<string, PathKind>()
  for (const path of removed) {
    if (isCleared(path)) continue
    const whole = parentsOf(path).find(
      (parent) => files.get(parent) === going.get(parent) && !holdsKept.has(parent) && !isCleared(parent)
    )
    if (whole !== undefined) roots.set(whole, "directory")
    else roots.set(path, "file")
  }
  return [...roots]
    .filter(([path]) => !parentsOf(path).some((parent) => roots.get(parent) === "directory"))
    .map(([path, kind]) => ({ path, kind }))
    .sort((a, b) => (a.path < b.path ? -1 : 1))
}
