/**
 * A local store is a folder on this machine. Everything it reads or writes resolves
 * inside that folder: a dataset or target path that would leave it is refused, by
 * name and after following symbolic links.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as fs from "node:fs/promises"
import * as path from "node:path"

export const LocalStoreConfig = Schema.Struct({
  root: Schema.NonEmptyString.annotations({
    description: "The folder holding the store's data. A relative path resolves against the config file's folder.",
    examples: ["./data", "/srv/ferry/received"]
  })
}).annotations({ identifier: "LocalStoreConfig" })
export type LocalStoreConfig = typeof LocalStoreConfig.Type

/** Why a path was refused; the caller wraps it in its own error with the store's name. */
export class PathOutsideRootError extends Schema.TaggedError<PathOutsideRootError>()("PathOutsideRootError", {
  path: Schema.String,
  message: Schema.String
}) {}

export const resolveRoot = (config: LocalStoreConfig, baseDir: string): string => path.resolve(baseDir, config.root)

const isInside = (root: string, candidate: string): boolean => {
  const relative = path.relative(root, candidate)
  return relative === "" || (!relative.startsWith("..") && !path.isAbsolute(relative))
}

/** The deepest ancestor of `target` (itself included) that exists, with symbolic links resolved. */
const realAncestor = async (target: string): Promise<string> => {
  let current = target
  for (;;) {
    try {
      return await fs.realpath(current)
    } catch {
      const parent = path.dirname(current)
      if (parent === current) return current
      current = parent
    }
  }
}

/**
 * Resolves `relative` (a path as written in a config or a file listing, with `/`)
 * inside `root`, refusing absolute paths, `..` that climbs out, and symbolic links
 * that point outside.
 */
export const resolveInside = (root: string, relative: string): Effect.Effect<string, PathOutsideRootError> =>
  Effect.gen(function* () {
    const outside = (why: string) =>
      new PathOutsideRootError({ path: relative, message: `path "${relative}" ${why} the store's root ${root}` })
    if (path.isAbsolute(relative) || /^[a-zA-Z]:[\\/]/.test(relative))
      return yield* outside("is absolute; give it relative to")
    const resolved = path.resolve(root, relative)
    if (!isInside(root, resolved)) return yield* outside("is outside")
    const [realRoot, realTarget] = yield* Effect.promise(() =>
      Promise.all([realAncestor(root), realAncestor(resolved)])
    )
    if (!isInside(realRoot, realTarget)) return yield* outside("leads through a symbolic link outside")
    return resolved
  })

/** `/`-separated path of `file` relative to `folder`, as file listings and manifests carry it. */
export const relativePosix = (folder: string, file: string): string =>
  path.relative(folder, file).split(path.sep).join("/")
