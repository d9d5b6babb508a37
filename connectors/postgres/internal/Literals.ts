/**
 * Values as SQL literals, for statements that take no bind parameters (COPY). A
 * literal is rendered from a value already parsed for its column's type (never from
 * text of the config), in a form that reads back as exactly that value: quotes doubled
 * inside `'…'` (standard_conforming_strings is on for every connection, so a backslash
 * is an ordinary character), an explicit cast to the column's type, and NUL refused,
 * since PostgreSQL cannot hold it in text.
 */
import * as Either from "effect/Either"
import type { LogicalType } from "../../../core/Types.js"
import type { Value } from "../../../core/Values.js"
import { formatDate, formatDecimal, formatHex, formatTime, formatTimestamp } from "../../../core/Values.js"
import { pgTypeFor } from "../PostgresTypes.js"

/** `'…'` with quotes doubled; NUL refused. */
export const quoteString = (text: string): Either.Either<string, string> =>
  text.includes("\0")
    ? Either.left("a text value holds a NUL character, which PostgreSQL cannot store")
    : Either.right(`'${text.replace(/'/g, "''")}'`)

const YEAR_PREFIX = /^(-?\d+)(-.*)$/

/**
 * ISO dates and timestamps, with years up to 0 written the way PostgreSQL reads them:
 * year 0 is 1 BC, year -1 is 2 BC.
 */
const withEra = (iso: string): string => {
  const match = YEAR_PREFIX.exec(iso)
  if (match === null) return iso
  const year = Number(match[1])
  return year > 0 ? iso : `${String(1 - year).padStart(4, "0")}${match[2]} BC`
}

const float = (value: number): string =>
  Number.isNaN(value) ? "NaN" : value === Infinity ? "Infinity" : value === -Infinity ? "-Infinity" : String(value)

/** The text PostgreSQL's input function of the type reads back as `value`. */
const literalText = (type: LogicalType, value: Value): string => {
  switch (type.kind) {
    case "float32":
    case "float64":
      return float(value as number)
    case "decimal":
      return formatDecimal(value as bigint, type.scale)
    case "binary":
      return formatHex(value as Uint8Array)
    case "date":
      return withEra(formatDate(value as number))
    case "time":
      return formatTime(value as bigint)
    case "timestamp": {
      const text = formatTimestamp(value as bigint, type.unit, false)
      return withEra(type.timeZone === null ? text : `${text}+00`)
    }
    default:
      return String(value)
  }
}

/** A typed literal of `value`, a value of `type` in its canonical form (core/Values). */
export const sqlLiteral = (type: LogicalType, value: Value): Either.Either<string, string> => {
  if (type.kind === "bool") return Either.right(value === true ? "TRUE" : "FALSE")
  if (type.kind === "list") return Either.left("a list cannot be compared in a filter or a watermark")
  const quoted = quoteString(literalText(type, value))
  // Text stays untyped, so it takes the column's own type (text, varchar, an enum).
  if (type.kind === "utf8") return quoted
  return Either.flatMap(quoted, (text) => Either.map(pgTypeFor(type), (pgType) => `${text}::${pgType.sql}`))
}
