/**
 * Table and column names in SQL. A config writes a table as PostgreSQL does
 * (`sales`, `public.sales`, `"My Schema"."Order Lines"`, with `""` for a quote inside
 * quotes; unquoted names fold to lower case). Ferry always quotes what it sends, so
 * mixed case, spaces, quotes and keywords work, and no name can end the identifier
 * and inject SQL.
 */
import * as Either from "effect/Either"

export interface TableName {
  /** `undefined`: the first schema of the connection's search_path that holds the table. */
  readonly schema: string | undefined
  readonly name: string
}

/** PostgreSQL keeps the first 63 bytes of a name and silently drops the rest. */
export const MAX_IDENTIFIER_BYTES = 63

const UNQUOTED_START = /[\p{L}_]/u
const UNQUOTED_PART = /[\p{L}\p{N}_$]/u
const encoder = new TextEncoder()

const checkName = (name: string, written: string): Either.Either<string, string> => {
  if (name.length === 0) return Either.left(`"${written}" has an empty name`)
  if (name.includes("\0")) return Either.left(`"${written}" contains a NUL character`)
  if (encoder.encode(name).length > MAX_IDENTIFIER_BYTES) {
    return Either.left(`"${name}" is longer than the ${MAX_IDENTIFIER_BYTES} bytes PostgreSQL keeps of a name`)
  }
  return Either.right(name)
}

/** Reads one name at `start`: quoted (exact) or unquoted (folded to lower case). */
const readPart = (text: string, start: number): Either.Either<{ name: string; end: number }, string> => {
  if (text[start] === '"') {
    let name = ""
    let i = start + 1
    for (;;) {
      const close = text.indexOf('"', i)
      if (close === -1) return Either.left(`"${text}" has a quoted name without its closing quote`)
      name += text.slice(i, close)
      if (text[close + 1] === '"') {
        name += '"'
        i = close + 2
      } else {
        return Either.right({ name, end: close + 1 })
      }
    }
  }
  const first = text[start]
  if (first === undefined || !UNQUOTED_START.test(first)) {
    return Either.left(
      `"${text}" is not a table name: expected a name or a "quoted name" at character ${start + 1}` +
        ` (quote names with spaces, capitals or other characters, as "Order Lines")`
    )
  }
  let end = start + 1
  while (end < text.length && UNQUOTED_PART.test(text[end]!)) end++
  return Either.right({ name: text.slice(start, end).toLowerCase(), end })
}

/**
 * Parses a table name as written in a config: `name` or `schema.name`, each part
 * unquoted (folded to lower case, as PostgreSQL does) or in double quotes (kept exact).
 */
export const parseTableName = (text: string): Either.Either<TableName, string> =>
  Either.gen(function* () {
    const trimmed = text.trim()
    const parts: Array<string> = []
    let i = 0
    for (;;) {
      while (trimmed[i] === " ") i++
      const part = yield* readPart(trimmed, i)
      parts.push(yield* checkName(part.name, text))
      i = part.end
      while (trimmed[i] === " ") i++
      if (i >= trimmed.length) break
      if (trimmed[i] !== ".") {
        return yield* Either.left(
          `"${text}" is not a table name: unexpected ${JSON.stringify(trimmed[i])} at character ${i + 1}` +
            ` (quote names with spaces, capitals or other characters, as "Order Lines")`
        )
      }
      i++
    }
    if (parts.length > 2) {
      return yield* Either.left(
        `"${text}" has ${parts.length} parts; write table or schema.table (the database is the store's)`
      )
    }
    return parts.length === 1 ? { schema: undefined, name: parts[0]! } : { schema: parts[0]!, name: parts[1]! }
  })

/** A name in double quotes, quotes inside doubled: always a single identifier, whatever it holds. */
export const quoteIdentifier = (name: string): string => `"${name.replace(/"/g, '""')}"`

/** `"schema"."name"`, or `"name"` when the schema is left to the search_path. */
export const qualifiedName = (table: TableName): string =>
  table.schema === undefined
    ? quoteIdentifier(table.name)
    : `${quoteIdentifier(table.schema)}.${quoteIdentifier(table.name)}`

const PLAIN = /^[a-z_][a-z0-9_$]*$/

/** A name for messages: bare where PostgreSQL would read it back the same, quoted otherwise. */
export const displayIdentifier = (name: string): string => (PLAIN.test(name) ? name : quoteIdentifier(name))

/** A table for messages, as a user would write it in the config. */
export const displayTableName = (table: TableName): string =>
  table.schema === undefined
    ? displayIdentifier(table.name)
    : `${displayIdentifier(table.schema)}.${displayIdentifier(table.name)}`
