/**
 * Collects the problems of one config file as ConfigIssues: places each on its YAML
 * node, formats its path and keeps environment values out of its message.
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { ConfigIssue } from "../ConfigError.js"
import type { Secrets } from "./Interpolate.js"
import type { IssueSite } from "./Issues.js"
import { issueSites } from "./Issues.js"
import type { Path, Position, YamlFile } from "./Yaml.js"
import { locate } from "./Yaml.js"

const PLAIN_KEY = /^[A-Za-z0-9_-]+$/

/** `shares[0].datasets[1].source.table`; keys that are not plain words are quoted. */
export const formatPath = (path: Path): string => {
  let text = ""
  for (const segment of path) {
    if (typeof segment === "number") text += `[${segment}]`
    else if (PLAIN_KEY.test(segment)) text += text === "" ? segment : `.${segment}`
    else text += `[${JSON.stringify(segment)}]`
  }
  return text
}

const DECODE_OPTIONS = { errors: "all", onExcessProperty: "error" } as const

export class Reporter {
  readonly issues: Array<ConfigIssue> = []

  constructor(
    readonly file: string,
    readonly yaml: YamlFile,
    readonly secrets: Secrets
  ) {}

  /** A problem at a known file position. */
  atPosition(position: Position, path: Path, message: string): void {
    this.issues.push({ file: this.file, ...position, path: formatPath(path), message })
  }

  /** A problem about the value at `path` (or its key), in a message written by Ferry. */
  at(path: Path, message: string, anchor: "value" | "key" = "value"): void {
    this.atPosition(locate(this.yaml, path, anchor), path, message)
  }

  /** A message from elsewhere (a plugin, a parser) that may quote an environment value. */
  quoting(path: Path, message: string, position?: Position): void {
    this.atPosition(position ?? locate(this.yaml, path), path, this.secrets.redact(path, message))
  }

  parseIssue(issue: ParseResult.ParseIssue, base: Path): ReadonlyArray<IssueSite> {
    const sites = issueSites(issue, base, { isSecret: (path) => this.secrets.isSecret(path) })
    for (const site of sites) {
      const message = site.verbatim ? this.secrets.redact(site.path, site.message) : site.message
      this.atPosition(locate(this.yaml, site.path, site.anchor), site.path, message)
    }
    return sites
  }

  /** Decodes `value` (found at `path`) with every problem reported; None when it does not decode. */
  decode<A, I>(
    schema: Schema.Schema<A, I, never>,
    value: unknown,
    path: Path,
    onProblem?: (path: Path) => void
  ): Option.Option<A> {
    const result = Schema.decodeUnknownEither(schema, DECODE_OPTIONS)(value)
    if (Either.isRight(result)) return Option.some(result.right)
    for (const site of this.parseIssue(result.left.issue, path)) onProblem?.(site.path.slice(path.length))
    return Option.none()
  }

  /** Decodes without reporting: for a second attempt whose problems were reported by the first. */
  decodeSilently<A, I>(schema: Schema.Schema<A, I, never>, value: unknown): Option.Option<A> {
    return Either.getRight(Schema.decodeUnknownEither(schema, DECODE_OPTIONS)(value))
  }

  /**
   * Decodes a map with every problem reported, then, if it failed, once more without
   * the keys that failed: an entry with a wrong optional key is still checked against
   * the rest of the file. `dropped` names the keys left out, whose absence proves nothing.
   */
  decodeLenient<A, I>(schema: Schema.Schema<A, I, never>, value: unknown, path: Path): Option.Option<Lenient<A>> {
    const decode = Schema.decodeUnknownEither(schema, DECODE_OPTIONS)
    const first = decode(value)
    if (Either.isRight(first)) return Option.some({ value: first.right, dropped: new Set() })
    const sites = this.parseIssue(first.left.issue, path)
    if (typeof value !== "object" || value === null || Array.isArray(value)) return Option.none()
    const dropped = new Set(
      sites.flatMap((site) => (site.path.length > path.length ? [String(site.path[path.length])] : []))
    )
    const kept = Object.fromEntries(Object.entries(value).filter(([key]) => !dropped.has(key)))
    return Option.map(Either.getRight(decode(kept)), (decoded) => ({ value: decoded, dropped }))
  }
}

export interface Lenient<A> {
  readonly value: A
  /** Keys that failed and were left out. */
  readonly dropped: ReadonlySet<string>
}
