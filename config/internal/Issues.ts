/**
 * Turns a Schema ParseIssue tree into flat problems, each at the config path it is
 * about and saying what was expected. Messages are written here rather than taken
 * from effect's formatters: those print the whole actual value, which may be a
 * secret, and list expected keys without a hint at the one the user meant.
 */
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import { ArrayFormatter } from "effect/ParseResult"
import * as AST from "effect/SchemaAST"
import type { Path } from "./Yaml.js"

export interface IssueSite {
  readonly path: Path
  /** `key` points at the key of the pair at `path` rather than at its value. */
  readonly anchor: "value" | "key"
  readonly message: string
  /** True when the text came from a Schema (a plugin's, say) and may quote the value. */
  readonly verbatim: boolean
}

export interface IssueContext {
  /** True when the value at `path` came from the environment: it is never shown. */
  readonly isSecret: (path: Path) => boolean
}

/** Levenshtein distance, for did-you-mean hints. */
export const editDistance = (a: string, b: string): number => {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]!
}

/** The closest candidate within two edits, if any. */
export const didYouMean = (word: string, candidates: Iterable<string>): string | undefined => {
  let best: string | undefined
  let bestDistance = 3
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate)
    if (distance < bestDistance && distance < Math.max(word.length, candidate.length)) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}

export const suggestion = (word: string, candidates: Iterable<string>): string => {
  const match = didYouMean(word, candidates)
  return match === undefined ? "" : ` (did you mean ${JSON.stringify(match)}?)`
}

/** A short, safe rendering of a value for "got …". */
export const showValue = (value: unknown): string => {
  if (value === undefined) return "nothing"
  if (value === null) return "null (an empty value)"
  if (Array.isArray(value)) return "a list"
  if (typeof value === "object") return "a map"
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value)
  return String(value)
}

const annotation = <A>(ast: AST.AST, get: (annotated: AST.Annotated) => Option.Option<A>): A | undefined =>
  Option.getOrUndefined(get(ast))

/** What a schema accepts, as a noun phrase: `a string`, `one of "csv" | "parquet"`. */
export const describeAst = (ast: AST.AST): string => {
  switch (ast._tag) {
    case "Literal":
      return typeof ast.literal === "bigint" ? String(ast.literal) : JSON.stringify(ast.literal)
    case "Union": {
      const members = ast.types.filter((member) => member._tag !== "UndefinedKeyword")
      if (members.every((member) => member._tag === "Literal")) {
        const literals = members.map(describeAst)
        return literals.length === 1 ? literals[0]! : `one of ${literals.join(" | ")}`
      }
      return members.map(describeAst).join(" or ")
    }
    case "TypeLiteral":
      return "a map"
    case "TupleType":
      return "a list"
    case "BooleanKeyword":
      return "true or false"
    case "StringKeyword":
      return "a string"
    case "NumberKeyword":
      return "a number"
    case "UndefinedKeyword":
      return "nothing"
    case "Refinement":
    case "Declaration":
      return (
        annotation(ast, AST.getDescriptionAnnotation) ??
        annotation(ast, AST.getTitleAnnotation) ??
        (ast._tag === "Refinement" ? describeAst(ast.from) : "a value")
      )
    case "Transformation":
      return annotation(ast, AST.getDescriptionAnnotation) ?? describeAst(ast.from)
    case "Suspend":
      return describeAst(ast.f())
    default:
      return annotation(ast, AST.getTitleAnnotation) ?? String(ast)
  }
}

const propertyNames = (ast: AST.AST): ReadonlyArray<string> => {
  switch (ast._tag) {
    case "TypeLiteral":
      return ast.propertySignatures.map((signature) => String(signature.name))
    case "Transformation":
      return propertyNames(ast.from)
    case "Refinement":
      return propertyNames(ast.from)
    default:
      return []
  }
}

const asArray = <A>(value: A | ReadonlyArray<A>): ReadonlyArray<A> =>
  Array.isArray(value) ? (value as ReadonlyArray<A>) : [value as A]

/** The message a `message` annotation gives, through effect's own formatter. */
const annotatedMessage = (issue: ParseResult.ParseIssue): string | undefined =>
  "ast" in issue && Option.isSome(AST.getMessageAnnotation(issue.ast))
    ? ArrayFormatter.formatIssueSync(issue)[0]?.message
    : undefined

/** Message annotations in this project name what is expected ("a single character"). */
const expectation = (text: string, actual: string): string =>
  /^(expected|must|should|cannot|unknown)\b/i.test(text) ? text : `expected ${text}, got ${actual}`

export const issueSites = (issue: ParseResult.ParseIssue, base: Path, context: IssueContext): Array<IssueSite> => {
  const sites: Array<IssueSite> = []
  const got = (path: Path, actual: unknown) => (context.isSecret(path) ? "<redacted>" : showValue(actual))

  const walk = (issue: ParseResult.ParseIssue, path: Path): void => {
    switch (issue._tag) {
      case "Pointer":
        return walk(issue.issue, [
          ...path,
          ...asArray(issue.path).map((key) => (typeof key === "number" ? key : String(key)))
        ])
      case "Missing": {
        const key = path[path.length - 1]
        sites.push({
          path: path.slice(0, -1),
          anchor: "value",
          message: `missing required key ${JSON.stringify(String(key))}`,
          verbatim: false
        })
        return
      }
      case "Unexpected": {
        const key = String(path[path.length - 1])
        sites.push({ path, anchor: "key", message: `unknown key ${JSON.stringify(key)}`, verbatim: false })
        return
      }
      case "Forbidden":
        sites.push({ path, anchor: "value", message: issue.message ?? "cannot be checked here", verbatim: true })
        return
      case "Type": {
        const annotated = annotatedMessage(issue)
        if (annotated !== undefined) {
          sites.push({
            path,
            anchor: "value",
            message: expectation(annotated, got(path, issue.actual)),
            verbatim: true
          })
        } else if (issue.message !== undefined) {
          sites.push({ path, anchor: "value", message: issue.message, verbatim: true })
        } else {
          sites.push({
            path,
            anchor: "value",
            message: `expected ${describeAst(issue.ast)}, got ${got(path, issue.actual)}`,
            verbatim: false
          })
        }
        return
      }
      case "Refinement":
      case "Transformation": {
        const annotated =
          issue.kind === "Predicate" || issue.kind === "Transformation" ? annotatedMessage(issue) : undefined
        if (annotated !== undefined && issue.issue._tag === "Type" && issue.issue.message === undefined) {
          sites.push({
            path,
            anchor: "value",
            message: expectation(annotated, got(path, issue.actual)),
            verbatim: true
          })
          return
        }
        return walk(issue.issue, path)
      }
      case "Composite": {
        const issues = asArray(issue.issues)
        if (issue.ast._tag === "Union") return walkUnion(issue, issues, path)
        const keys = propertyNames(issue.ast)
        for (const child of issues) {
          if (child._tag === "Pointer" && child.issue._tag === "Unexpected") {
            const key = String(asArray(child.path)[0])
            const hint = suggestion(key, keys)
            sites.push({
              path: [...path, key],
              anchor: "key",
              message:
                keys.length === 0
                  ? `unknown key ${JSON.stringify(key)}: no keys are expected here`
                  : `unknown key ${JSON.stringify(key)}${hint}; expected one of: ${keys.join(", ")}`,
              verbatim: false
            })
          } else {
            walk(child, path)
          }
        }
        return
      }
    }
  }

  /**
   * A union whose members all failed: when a single member got past the first check
   * (the input has its shape), its problems are the useful ones; otherwise say what
   * the union accepts.
   */
  const walkUnion = (issue: ParseResult.Composite, issues: ReadonlyArray<ParseResult.ParseIssue>, path: Path): void => {
    const deeper = issues.filter((child) => child._tag !== "Type")
    if (deeper.length === 1) return walk(deeper[0]!, path)
    sites.push({
      path,
      anchor: "value",
      message: `expected ${describeAst(issue.ast)}, got ${got(path, issue.actual)}`,
      verbatim: false
    })
  }

  walk(issue, base)
  return sites
}
