/**
 * The one error a config can fail with: every problem found, each pointing at the
 * line and column of the YAML file where it is, so that a user fixes them all in one go.
 */
import * as Schema from "effect/Schema"

export const ConfigIssue = Schema.Struct({
  file: Schema.String,
  /** 1-based. */
  line: Schema.Number,
  /** 1-based. */
  column: Schema.Number,
  /** Where in the config, as `shares[0].datasets[1].source.table`; empty for the whole file. */
  path: Schema.String,
  /** What was expected; never a value that came from the environment. */
  message: Schema.String
})
export type ConfigIssue = typeof ConfigIssue.Type

export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  file: Schema.String,
  issues: Schema.Array(ConfigIssue)
}) {}

export const formatIssue = (issue: ConfigIssue): string =>
  `${issue.file}:${issue.line}:${issue.column}: ${issue.path === "" ? "" : `${issue.path}: `}${issue.message}`

/** One `file:line:column: path: message` line per issue, then how many there are. */
export const formatConfigError = (error: { readonly file: string; readonly issues: ReadonlyArray<ConfigIssue> }) => {
  const count = error.issues.length
  const lines = error.issues.map(formatIssue)
  lines.push(`${count} ${count === 1 ? "error" : "errors"} in ${error.file}`)
  return lines.join("\n")
}

/** Issues in the order they appear in the file. */
export const sortIssues = (issues: ReadonlyArray<ConfigIssue>): ReadonlyArray<ConfigIssue> =>
  issues
    .map((issue, index) => ({ issue, index }))
    .sort((a, b) => a.issue.line - b.issue.line || a.issue.column - b.issue.column || a.index - b.index)
    .map(({ issue }) => issue)
