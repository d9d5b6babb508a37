/**
 * `${env:NAME}` in string scalars. Values that came from the environment may be
 * secrets (a database password), so each is remembered by path: messages about it
 * never show it.
 */
import { isMap, isScalar, isSeq } from "yaml"
import type { Path, Position, YamlFile } from "./Yaml.js"
import { positionInScalar } from "./Yaml.js"

export type Environment = Readonly<Record<string, string | undefined>>

/** A scalar whose value was (partly) taken from the environment. */
export interface Interpolated {
  readonly path: Path
  /** The value after interpolation. */
  readonly value: string
  /** The variables' values, which may appear on their own in a message. */
  readonly pieces: ReadonlyArray<string>
}

export interface InterpolationProblem {
  readonly path: Path
  readonly position: Position
  readonly message: string
}

const REFERENCE = /(\$?)\$\{env:([^}]*)\}/g
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Replaces references in every string scalar of the document, in place. */
export const interpolate = (
  file: YamlFile,
  env: Environment
): { readonly interpolated: ReadonlyArray<Interpolated>; readonly problems: ReadonlyArray<InterpolationProblem> } => {
  const interpolated: Array<Interpolated> = []
  const problems: Array<InterpolationProblem> = []

  const visit = (node: unknown, path: Path): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key)
        visit(pair.value, [...path, key])
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => visit(item, [...path, index]))
    } else if (isScalar(node) && typeof node.value === "string" && node.value.includes("${")) {
      const text = node.value
      const pieces: Array<string> = []
      let failed = false
      const value = text.replace(REFERENCE, (match, escape: string, name: string, offset: number) => {
        if (escape === "$") return match.slice(1)
        const referenceAt = offset + escape.length
        if (!VARIABLE_NAME.test(name)) {
          failed = true
          problems.push({
            path,
            position: positionInScalar(file, node, referenceAt),
            message: `"\${env:${name}}" is not a variable reference: a name is letters, digits and _`
          })
          return match
        }
        const variable = env[name]
        if (variable === undefined) {
          failed = true
          problems.push({
            path,
            position: positionInScalar(file, node, referenceAt),
            message: `environment variable ${name} is not set`
          })
          return match
        }
        pieces.push(variable)
        return variable
      })
      if (value !== text) node.value = value
      if (pieces.length > 0 && !failed) interpolated.push({ path, value, pieces })
    }
  }
  visit(file.doc.contents, [])
  return { interpolated, problems }
}

const startsWith = (path: Path, prefix: Path): boolean =>
  prefix.length <= path.length && prefix.every((segment, i) => String(segment) === String(path[i]))

/** Knows which paths hold environment values, and takes them out of messages. */
export class Secrets {
  constructor(private readonly entries: ReadonlyArray<Interpolated>) {}

  /** True when the value at `path` came from the environment. */
  isSecret(path: Path): boolean {
    return this.entries.some((entry) => startsWith(entry.path, path) && entry.path.length === path.length)
  }

  /** Replaces every environment value at or under `path` that appears in the message. */
  redact(path: Path, message: string): string {
    const texts = this.entries
      .filter((entry) => startsWith(entry.path, path))
      .flatMap((entry) => [entry.value, ...entry.pieces])
      .filter((text) => text.length > 0)
      .flatMap((text) => [JSON.stringify(text).slice(1, -1), text])
      .sort((a, b) => b.length - a.length)
    let redacted = message
    for (const text of texts) redacted = redacted.split(text).join("<redacted>")
    return redacted
  }
}
