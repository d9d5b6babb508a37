/**
 * Row filters. A share config writes a filter as an expression over columns,
 * `region = 'EU' and amount >= 100`; it is parsed once into this tree, which SQL
 * sources turn into a parameterised WHERE clause (never text pasted into SQL) and
 * other sources evaluate on Arrow batches. The grammar is in docs/filters.md.
 */
import type * as Arrow from "apache-arrow"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { Batch } from "./Batch.js"
import { makeColumnReader } from "./Batch.js"
import { decodeUtf8, isSet, nullBits } from "./internal/columns.js"
import type { Column, LogicalType } from "./Types.js"
import { typeName } from "./Types.js"
import type { Value } from "./Values.js"
import { compareValues, parseText } from "./Values.js"

/** A literal as written; it takes its type from the column it is compared with. */
export type Literal =
  | { readonly kind: "string"; readonly text: string }
  | { readonly kind: "number"; readonly text: string }
  | { readonly kind: "boolean"; readonly value: boolean }

export type ComparisonOperator = "=" | "!=" | "<" | "<=" | ">" | ">="

export type Filter =
  | { readonly kind: "compare"; readonly column: string; readonly op: ComparisonOperator; readonly value: Literal }
  | { readonly kind: "in"; readonly column: string; readonly values: ReadonlyArray<Literal>; readonly negated: boolean }
  | {
      readonly kind: "between"
      readonly column: string
      readonly low: Literal
      readonly high: Literal
      readonly negated: boolean
    }
  | { readonly kind: "like"; readonly column: string; readonly pattern: string; readonly negated: boolean }
  | { readonly kind: "is_null"; readonly column: string; readonly negated: boolean }
  | { readonly kind: "and" | "or"; readonly left: Filter; readonly right: Filter }
  | { readonly kind: "not"; readonly operand: Filter }

/** A filter text that does not follow the grammar; `offset` is the 0-based character where it goes wrong. */
export class FilterSyntaxError extends Schema.TaggedError<FilterSyntaxError>()("FilterSyntaxError", {
  message: Schema.String,
  offset: Schema.Number
}) {}

// ---- lexing ------------------------------------------------------------------------

const KEYWORDS = ["and", "or", "not", "in", "between", "like", "is", "null", "true", "false"] as const
type Keyword = (typeof KEYWORDS)[number]
const keywordSet: ReadonlySet<string> = new Set(KEYWORDS)

type Token =
  | { readonly kind: "identifier"; readonly name: string; readonly offset: number; readonly end: number }
  | { readonly kind: "keyword"; readonly word: Keyword; readonly offset: number; readonly end: number }
  | { readonly kind: "string"; readonly text: string; readonly offset: number; readonly end: number }
  | { readonly kind: "number"; readonly text: string; readonly offset: number; readonly end: number }
  | { readonly kind: "operator"; readonly op: ComparisonOperator; readonly offset: number; readonly end: number }
  | { readonly kind: "(" | ")" | ","; readonly offset: number; readonly end: number }
  | { readonly kind: "end"; readonly offset: number; readonly end: number }

const IDENTIFIER_START = /[A-Za-z_]/
const IDENTIFIER_PART = /[A-Za-z0-9_]/
const DIGIT = /[0-9]/
const NUMBER = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/

const syntaxError = (message: string, offset: number) => new FilterSyntaxError({ message, offset })

/** Reads a quoted run (`'…'` or `"…"`) where a doubled quote stands for one. */
const readQuoted = (text: string, start: number, quote: string): { value: string; end: number } | undefined => {
  let value = ""
  let i = start + 1
  while (i < text.length) {
    const next = text.indexOf(quote, i)
    if (next === -1) return undefined
    value += text.slice(i, next)
    if (text[next + 1] === quote) {
      value += quote
      i = next + 2
    } else {
      return { value, end: next + 1 }
    }
  }
  return undefined
}

const tokenize = (text: string): Either.Either<ReadonlyArray<Token>, FilterSyntaxError> => {
  const tokens: Array<Token> = []
  let i = 0
  while (i < text.length) {
    const char = text[i]!
    if (/\s/.test(char)) {
      i++
      continue
    }
    const offset = i
    if (char === "'") {
      const quoted = readQuoted(text, i, "'")
      if (quoted === undefined) return Either.left(syntaxError(`unterminated string starting at offset ${i}`, i))
      tokens.push({ kind: "string", text: quoted.value, offset, end: quoted.end })
      i = quoted.end
    } else if (char === '"') {
      const quoted = readQuoted(text, i, '"')
      if (quoted === undefined) {
        return Either.left(syntaxError(`unterminated quoted column name starting at offset ${i}`, i))
      }
      if (quoted.value.length === 0) return Either.left(syntaxError(`empty quoted column name at offset ${i}`, i))
      tokens.push({ kind: "identifier", name: quoted.value, offset, end: quoted.end })
      i = quoted.end
    } else if (IDENTIFIER_START.test(char)) {
      let end = i + 1
      while (end < text.length && IDENTIFIER_PART.test(text[end]!)) end++
      const word = text.slice(i, end)
      const lower = word.toLowerCase()
      tokens.push(
        keywordSet.has(lower)
          ? { kind: "keyword", word: lower as Keyword, offset, end }
          : { kind: "identifier", name: word, offset, end }
      )
      i = end
    } else if (DIGIT.test(char) || ((char === "-" || char === ".") && NUMBER.test(text.slice(i, i + 3)))) {
      const match = NUMBER.exec(text.slice(i))!
      const end = i + match[0].length
      if (end < text.length && IDENTIFIER_PART.test(text[end]!)) {
        return Either.left(syntaxError(`invalid number "${text.slice(i, end + 1)}" at offset ${i}`, i))
      }
      tokens.push({ kind: "number", text: match[0], offset, end })
      i = end
    } else if (char === "(" || char === ")" || char === ",") {
      tokens.push({ kind: char, offset, end: i + 1 })
      i++
    } else {
      const two = text.slice(i, i + 2)
      const op: ComparisonOperator | undefined =
        two === "<=" || two === ">=" || two === "!="
          ? two
          : two === "<>"
            ? "!="
            : char === "=" || char === "<" || char === ">"
              ? char
              : undefined
      if (op === undefined) return Either.left(syntaxError(`unexpected character "${char}" at offset ${i}`, i))
      const end = i + (op.length === 2 || two === "<>" ? 2 : 1)
      tokens.push({ kind: "operator", op, offset, end })
      i = end
    }
  }
  tokens.push({ kind: "end", offset: text.length, end: text.length })
  return Either.right(tokens)
}

// ---- parsing -----------------------------------------------------------------------

class Parser {
  private position = 0
  constructor(
    private readonly text: string,
    private readonly tokens: ReadonlyArray<Token>
  ) {}

  parse(): Filter {
    const filter = this.parseOr()
    const next = this.peek()
    if (next.kind !== "end") {
      this.fail(`unexpected ${this.describe(next)} after a complete condition; join conditions with AND or OR`, next)
    }
    return filter
  }

  private peek(): Token {
    return this.tokens[this.position]!
  }

  private advance(): Token {
    const token = this.tokens[this.position]!
    if (token.kind !== "end") this.position++
    return token
  }

  private isKeyword(word: Keyword): boolean {
    const token = this.peek()
    return token.kind === "keyword" && token.word === word
  }

  private acceptKeyword(word: Keyword): boolean {
    if (!this.isKeyword(word)) return false
    this.position++
    return true
  }

  /** Unwinds the recursive descent; `parseFilter` catches it and returns it as a Left. */
  private fail(message: string, at: Token): never {
    throw syntaxError(message, at.offset)
  }

  private describe(token: Token): string {
    return token.kind === "end" ? "the end of the filter" : `"${this.text.slice(token.offset, token.end)}"`
  }

  private parseOr(): Filter {
    let left = this.parseAnd()
    while (this.acceptKeyword("or")) left = { kind: "or", left, right: this.parseAnd() }
    return left
  }

  private parseAnd(): Filter {
    let left = this.parseNot()
    while (this.acceptKeyword("and")) left = { kind: "and", left, right: this.parseNot() }
    return left
  }

  private parseNot(): Filter {
    if (this.acceptKeyword("not")) return { kind: "not", operand: this.parseNot() }
    return this.parsePrimary()
  }

  private parsePrimary(): Filter {
    const token = this.peek()
    if (token.kind === "(") {
      this.advance()
      const inner = this.parseOr()
      const close = this.advance()
      if (close.kind !== ")") {
        this.fail(`expected ")" to close the "(" at offset ${token.offset}, found ${this.describe(close)}`, close)
      }
      return inner
    }
    if (token.kind === "identifier") {
      this.advance()
      return this.parsePredicate(token.name)
    }
    if (token.kind === "keyword") {
      this.fail(
        `expected a column name, found the keyword ${token.word.toUpperCase()}; ` +
          `write a column of that name in double quotes ("${token.word}")`,
        token
      )
    }
    this.fail(`expected a column name or "(", found ${this.describe(token)}`, token)
  }

  private parsePredicate(column: string): Filter {
    const token = this.peek()
    if (token.kind === "operator") {
      this.advance()
      return { kind: "compare", column, op: token.op, value: this.parseLiteral(`after ${token.op}`) }
    }
    if (this.acceptKeyword("is")) {
      const negated = this.acceptKeyword("not")
      const next = this.advance()
      if (next.kind !== "keyword" || next.word !== "null") {
        this.fail(`expected NULL after IS${negated ? " NOT" : ""}, found ${this.describe(next)}`, next)
      }
      return { kind: "is_null", column, negated }
    }
    const negated = this.acceptKeyword("not")
    if (this.acceptKeyword("in")) return this.parseIn(column, negated)
    if (this.acceptKeyword("between")) {
      const low = this.parseLiteral("after BETWEEN")
      const and = this.advance()
      if (and.kind !== "keyword" || and.word !== "and") {
        this.fail(`expected AND between the two bounds of BETWEEN, found ${this.describe(and)}`, and)
      }
      return { kind: "between", column, low, high: this.parseLiteral("after BETWEEN … AND"), negated }
    }
    if (this.acceptKeyword("like")) {
      const pattern = this.advance()
      if (pattern.kind !== "string") {
        this.fail(`expected a quoted pattern after LIKE, found ${this.describe(pattern)}`, pattern)
      }
      if (/(?:^|[^\\])(?:\\\\)*\\$/.test(pattern.text)) {
        this.fail(`LIKE pattern ends with the escape character "\\"; write "\\\\" for a backslash`, pattern)
      }
      return { kind: "like", column, pattern: pattern.text, negated }
    }
    if (negated) this.fail(`expected IN, BETWEEN or LIKE after NOT, found ${this.describe(this.peek())}`, this.peek())
    this.fail(`expected a comparison operator after column ${column}, found ${this.describe(token)}`, token)
  }

  private parseIn(column: string, negated: boolean): Filter {
    const open = this.advance()
    if (open.kind !== "(") this.fail(`expected "(" after IN, found ${this.describe(open)}`, open)
    const values: Array<Literal> = [this.parseLiteral("in the IN list")]
    for (;;) {
      const next = this.advance()
      if (next.kind === ")") break
      if (next.kind !== ",") this.fail(`expected "," or ")" in the IN list, found ${this.describe(next)}`, next)
      values.push(this.parseLiteral("in the IN list"))
    }
    return { kind: "in", column, values, negated }
  }

  private parseLiteral(where: string): Literal {
    const token = this.advance()
    switch (token.kind) {
      case "string":
        return { kind: "string", text: token.text }
      case "number":
        return { kind: "number", text: token.text }
      case "keyword":
        if (token.word === "true" || token.word === "false") return { kind: "boolean", value: token.word === "true" }
        if (token.word === "null") {
          this.fail(`NULL is not a value to compare with (the comparison is never true); use IS NULL`, token)
        }
        break
      case "identifier":
        this.fail(
          `expected a value ${where}, found ${this.describe(token)}; ` +
            `write text in single quotes ('${token.name}'); columns cannot be compared with each other`,
          token
        )
    }
    this.fail(`expected a value ${where}, found ${this.describe(token)}`, token)
  }
}

/** Parses a filter expression; the error points at the character where the text stops making sense. */
export const parseFilter = (text: string): Either.Either<Filter, FilterSyntaxError> =>
  Either.flatMap(tokenize(text), (tokens) => {
    try {
      return Either.right(new Parser(text, tokens).parse())
    } catch (error) {
      if (error instanceof FilterSyntaxError) return Either.left(error)
      throw error
    }
  })

// ---- printing ----------------------------------------------------------------------

const formatIdentifier = (name: string): string =>
  /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !keywordSet.has(name.toLowerCase()) ? name : `"${name.replace(/"/g, '""')}"`

const formatLiteral = (literal: Literal): string =>
  literal.kind === "string"
    ? `'${literal.text.replace(/'/g, "''")}'`
    : literal.kind === "number"
      ? literal.text
      : String(literal.value)

/** The filter in the grammar `parseFilter` reads, fully parenthesised; for messages and logs. */
export const formatFilter = (filter: Filter): string => {
  const not = (negated: boolean) => (negated ? "not " : "")
  switch (filter.kind) {
    case "compare":
      return `${formatIdentifier(filter.column)} ${filter.op} ${formatLiteral(filter.value)}`
    case "in":
      return `${formatIdentifier(filter.column)} ${not(filter.negated)}in (${filter.values.map(formatLiteral).join(", ")})`
    case "between":
      return `${formatIdentifier(filter.column)} ${not(filter.negated)}between ${formatLiteral(filter.low)} and ${formatLiteral(filter.high)}`
    case "like":
      return `${formatIdentifier(filter.column)} ${not(filter.negated)}like ${formatLiteral({ kind: "string", text: filter.pattern })}`
    case "is_null":
      return `${formatIdentifier(filter.column)} is ${not(filter.negated)}null`
    case "and":
    case "or":
      return `(${formatFilter(filter.left)} ${filter.kind} ${formatFilter(filter.right)})`
    case "not":
      return `not (${formatFilter(filter.operand)})`
  }
}

// ---- checking against columns ------------------------------------------------------

/** The columns a filter names, each once, in order of first appearance. */
export const filterColumns = (filter: Filter): ReadonlyArray<string> => {
  const names = new Set<string>()
  const visit = (node: Filter): void => {
    switch (node.kind) {
      case "and":
      case "or":
        visit(node.left)
        visit(node.right)
        return
      case "not":
        visit(node.operand)
        return
      default:
        names.add(node.column)
    }
  }
  visit(filter)
  return [...names]
}

type Predicate = Exclude<Filter, { kind: "and" | "or" | "not" }>

const isNumeric = (type: LogicalType): boolean =>
  type.kind === "int8" ||
  type.kind === "int16" ||
  type.kind === "int32" ||
  type.kind === "int64" ||
  type.kind === "float32" ||
  type.kind === "float64" ||
  type.kind === "decimal"

/** The value of a literal in its column's type, as filters compare and SQL sources bind it. */
const bindLiteral = (column: Column, literal: Literal): Either.Either<Value, string> => {
  const type = column.type
  const where = `column ${column.name} (${typeName(type)})`
  if (literal.kind === "boolean") {
    return type.kind === "bool"
      ? Either.right(literal.value)
      : Either.left(`${where} cannot be compared with ${literal.value}`)
  }
  if (literal.kind === "number" && !isNumeric(type)) {
    return Either.left(`${where} cannot be compared with the number ${literal.text}; write it in quotes if it is text`)
  }
  return Either.mapBoth(parseText(type, literal.text), {
    onLeft: (message) => `${where}: ${message}`,
    // The column holds float32 values: the literal must be one too, or 0.1 would never equal 0.1.
    onRight: (value) => (type.kind === "float32" ? Math.fround(value as number) : value)
  })
}

/** Checks a predicate against its column and returns its literals bound to the column type. */
const bindPredicate = (
  node: Predicate,
  byName: ReadonlyMap<string, Column>
): Either.Either<{ readonly column: Column; readonly values: ReadonlyArray<Value> }, string> => {
  const column = byName.get(node.column)
  if (column === undefined) {
    const lower = node.column.toLowerCase()
    const near = [...byName.keys()].find((name) => name.toLowerCase() === lower)
    const hint = near === undefined ? "" : ` (column names are case-sensitive: did you mean ${formatIdentifier(near)}?)`
    return Either.left(`the filter names column ${node.column}, which the dataset does not have${hint}`)
  }
  const type = column.type
  if (node.kind === "is_null") return Either.right({ column, values: [] })
  if (type.kind === "list" || type.kind === "json") {
    return Either.left(`column ${column.name} is ${typeName(type)}: filters can only test it with IS [NOT] NULL`)
  }
  if (node.kind === "like") {
    if (type.kind !== "utf8") {
      return Either.left(`LIKE needs a text column, but column ${column.name} is ${typeName(type)}`)
    }
    return Either.right({ column, values: [node.pattern] })
  }
  const literals = node.kind === "compare" ? [node.value] : node.kind === "in" ? node.values : [node.low, node.high]
  return Either.map(Either.all(literals.map((literal) => bindLiteral(column, literal))), (values) => ({
    column,
    values
  }))
}

const forEachPredicate = (
  filter: Filter,
  visit: (node: Predicate) => Either.Either<void, string>
): Either.Either<void, string> => {
  switch (filter.kind) {
    case "and":
    case "or":
      return Either.flatMap(forEachPredicate(filter.left, visit), () => forEachPredicate(filter.right, visit))
    case "not":
      return forEachPredicate(filter.operand, visit)
    default:
      return visit(filter)
  }
}

const columnMap = (columns: ReadonlyArray<Column>): ReadonlyMap<string, Column> =>
  new Map(columns.map((column) => [column.name, column]))

/**
 * Checks that a filter fits a dataset: every column exists, every literal is a value
 * of its column's type, LIKE is only used on text.
 */
export const checkFilter = (filter: Filter, columns: ReadonlyArray<Column>): Either.Either<void, string> => {
  const byName = columnMap(columns)
  return forEachPredicate(filter, (node) => Either.map(bindPredicate(node, byName), () => undefined))
}

// ---- evaluation on batches ---------------------------------------------------------

/*
 * SQL's three-valued logic, one byte per row: a comparison with NULL is UNKNOWN,
 * NOT UNKNOWN is UNKNOWN, and only TRUE rows pass.
 */
const FALSE = 0
const TRUE = 1
const UNKNOWN = 2
const AND_TABLE = Uint8Array.of(FALSE, FALSE, FALSE, FALSE, TRUE, UNKNOWN, FALSE, UNKNOWN, UNKNOWN)
const OR_TABLE = Uint8Array.of(FALSE, TRUE, UNKNOWN, TRUE, TRUE, TRUE, UNKNOWN, TRUE, UNKNOWN)
const NOT_TABLE = Uint8Array.of(TRUE, FALSE, UNKNOWN)

type Evaluate = (batch: Batch) => Uint8Array

/** A filter bound to a dataset's columns, with its literals parsed once. */
export interface RowFilter {
  /** Indices of the rows of the batch the filter keeps, in order. */
  readonly select: (batch: Batch) => Int32Array
}

const REGEXP_SYNTAX = /[\\^$.*+?()[\]{}|/]/

/** A LIKE pattern as an anchored regular expression: `%` any run, `_` one character, `\` escapes. */
export const likeToRegExp = (pattern: string): RegExp => {
  let source = ""
  let escaped = false
  for (const char of pattern) {
    if (escaped) {
      source += REGEXP_SYNTAX.test(char) ? `\\${char}` : char
      escaped = false
    } else if (char === "\\") escaped = true
    else if (char === "%") source += ".*"
    else if (char === "_") source += "."
    else source += REGEXP_SYNTAX.test(char) ? `\\${char}` : char
  }
  return new RegExp(`^${source}$`, "su")
}

/** Writes TRUE or FALSE for every row into `out`; rows that are NULL are marked UNKNOWN afterwards. */
type Fill = (data: Arrow.Data, out: Uint8Array, length: number) => void

type Ordering = "=" | "<" | "<=" | ">" | ">="

const holds = (op: Ordering, order: number): boolean =>
  op === "=" ? order === 0 : op === "<" ? order < 0 : op === "<=" ? order <= 0 : op === ">" ? order > 0 : order >= 0

/** Integers, dates, times and timestamps: plain operators on the value buffer. */
const fillRawCompare =
  (op: Ordering, literal: number | bigint): Fill =>
  (data, out, length) => {
    const values = data.values as ArrayLike<number | bigint>
    switch (op) {
      case "=":
        for (let i = 0; i < length; i++) out[i] = values[i] === literal ? TRUE : FALSE
        return
      case "<":
        for (let i = 0; i < length; i++) out[i] = values[i]! < literal ? TRUE : FALSE
        return
      case "<=":
        for (let i = 0; i < length; i++) out[i] = values[i]! <= literal ? TRUE : FALSE
        return
      case ">":
        for (let i = 0; i < length; i++) out[i] = values[i]! > literal ? TRUE : FALSE
        return
      case ">=":
        for (let i = 0; i < length; i++) out[i] = values[i]! >= literal ? TRUE : FALSE
        return
    }
  }

const fillRawBetween =
  (low: number | bigint, high: number | bigint): Fill =>
  (data, out, length) => {
    const values = data.values as ArrayLike<number | bigint>
    for (let i = 0; i < length; i++) {
      const value = values[i]!
      out[i] = value >= low && value <= high ? TRUE : FALSE
    }
  }

/** Membership by SameValueZero, which agrees with compareValues: bigints by value, NaN equal to NaN, -0 to 0. */
const fillRawIn =
  (set: ReadonlySet<Value>): Fill =>
  (data, out, length) => {
    const values = data.values as ArrayLike<number | bigint>
    for (let i = 0; i < length; i++) out[i] = set.has(values[i]!) ? TRUE : FALSE
  }

/** Float order with NaN after every other value, as compareValues and PostgreSQL have it. */
const floatOrder = (x: number, y: number): number =>
  x < y ? -1 : x > y ? 1 : x === y ? 0 : Number.isNaN(x) ? (Number.isNaN(y) ? 0 : 1) : -1

const fillFloat =
  (test: (value: number) => boolean): Fill =>
  (data, out, length) => {
    const values = data.values as Float32Array | Float64Array
    for (let i = 0; i < length; i++) out[i] = test(values[i]!) ? TRUE : FALSE
  }

/** A decimal's four little-endian 32-bit words, as Decimal128 stores it. */
const decimalWords = (unscaled: bigint): Uint32Array => {
  const words = new Uint32Array(4)
  let rest = BigInt.asUintN(128, unscaled)
  for (let w = 0; w < 4; w++) {
    words[w] = Number(rest & 0xffffffffn)
    rest >>= 32n
  }
  return words
}

/** Compares a stored Decimal128 with a literal's words without building a bigint. */
const compareDecimalAt = (words: Uint32Array, row: number, literal: Uint32Array): number => {
  const base = row * 4
  const high = words[base + 3]! | 0
  const literalHigh = literal[3]! | 0
  if (high !== literalHigh) return high < literalHigh ? -1 : 1
  for (let w = 2; w >= 0; w--) {
    const a = words[base + w]!
    const b = literal[w]!
    if (a !== b) return a < b ? -1 : 1
  }
  return 0
}

const fillDecimal =
  (test: (words: Uint32Array, row: number) => boolean): Fill =>
  (data, out, length) => {
    const words = data.values as Uint32Array
    for (let i = 0; i < length; i++) out[i] = test(words, i) ? TRUE : FALSE
  }

const encoder = new TextEncoder()

const bytesEqual = (bytes: Uint8Array, start: number, end: number, literal: Uint8Array): boolean => {
  if (end - start !== literal.length) return false
  for (let k = 0; k < literal.length; k++) if (bytes[start + k] !== literal[k]) return false
  return true
}

const startsWith = (bytes: Uint8Array, start: number, end: number, prefix: Uint8Array): boolean => {
  if (end - start < prefix.length) return false
  for (let k = 0; k < prefix.length; k++) if (bytes[start + k] !== prefix[k]) return false
  return true
}

/** Text compared on its UTF-8 bytes, which needs no decoding: equality, membership, LIKE 'prefix%'. */
const fillUtf8Bytes =
  (test: (bytes: Uint8Array, start: number, end: number) => boolean): Fill =>
  (data, out, length) => {
    const offsets = data.valueOffsets as Int32Array
    const bytes = data.values as Uint8Array
    for (let i = 0; i < length; i++) out[i] = test(bytes, offsets[i]!, offsets[i + 1]!) ? TRUE : FALSE
  }

/** Text decoded for what bytes cannot answer: UTF-16 order (as compareValues) and general LIKE patterns. */
const fillUtf8Text =
  (test: (text: string) => boolean): Fill =>
  (data, out, length) => {
    const offsets = data.valueOffsets as Int32Array
    const bytes = data.values as Uint8Array
    for (let i = 0; i < length; i++) out[i] = test(decodeUtf8(bytes, offsets[i]!, offsets[i + 1]!)) ? TRUE : FALSE
  }

const fillGeneric =
  (type: LogicalType, test: (value: Value) => boolean): Fill =>
  (data, out, length) => {
    const read = makeColumnReader(type, data)
    for (let i = 0; i < length; i++) {
      const value = read(i)
      out[i] = value !== null && test(value) ? TRUE : FALSE
    }
  }

const PREFIX_PATTERN = /^[^%_\\]*%$/
const EXACT_PATTERN = /^[^%_\\]*$/

const isRawOrdered = (type: LogicalType): boolean =>
  type.kind === "int8" ||
  type.kind === "int16" ||
  type.kind === "int32" ||
  type.kind === "int64" ||
  type.kind === "date" ||
  type.kind === "time" ||
  type.kind === "timestamp"

/** The positive form of a predicate (NOT, `!=` and NULLs are applied around it) as a fill. */
const fillFor = (node: Predicate, type: LogicalType, values: ReadonlyArray<Value>): Fill => {
  if (node.kind === "like") {
    const pattern = node.pattern
    if (EXACT_PATTERN.test(pattern)) {
      const literal = encoder.encode(pattern)
      return fillUtf8Bytes((bytes, start, end) => bytesEqual(bytes, start, end, literal))
    }
    if (PREFIX_PATTERN.test(pattern)) {
      const prefix = encoder.encode(pattern.slice(0, -1))
      return fillUtf8Bytes((bytes, start, end) => startsWith(bytes, start, end, prefix))
    }
    const regexp = likeToRegExp(pattern)
    return fillUtf8Text((text) => regexp.test(text))
  }
  if (node.kind === "is_null") return () => undefined
  const op: Ordering | "in" | "between" =
    node.kind === "compare" ? (node.op === "!=" ? "=" : node.op) : node.kind === "in" ? "in" : "between"
  const first = values[0]!
  if (isRawOrdered(type)) {
    const literal = first as number | bigint
    if (op === "in") return fillRawIn(new Set(values))
    if (op === "between") return fillRawBetween(literal, values[1] as number | bigint)
    return fillRawCompare(op, literal)
  }
  if (type.kind === "float32" || type.kind === "float64") {
    if (op === "in") return fillRawIn(new Set(values))
    if (op === "between") {
      const [low, high] = values as ReadonlyArray<number>
      return fillFloat((value) => floatOrder(value, low!) >= 0 && floatOrder(value, high!) <= 0)
    }
    return fillFloat((value) => holds(op, floatOrder(value, first as number)))
  }
  if (type.kind === "decimal") {
    const literals = values.map((value) => decimalWords(value as bigint))
    if (op === "in") return fillDecimal((words, row) => literals.some((l) => compareDecimalAt(words, row, l) === 0))
    if (op === "between") {
      const [low, high] = literals
      return fillDecimal(
        (words, row) => compareDecimalAt(words, row, low!) >= 0 && compareDecimalAt(words, row, high!) <= 0
      )
    }
    const literal = literals[0]!
    return fillDecimal((words, row) => holds(op, compareDecimalAt(words, row, literal)))
  }
  if (type.kind === "utf8") {
    if (op === "=" || op === "in") {
      const literals = values.map((value) => encoder.encode(value as string))
      if (literals.length === 1) {
        const literal = literals[0]!
        return fillUtf8Bytes((bytes, start, end) => bytesEqual(bytes, start, end, literal))
      }
      return fillUtf8Bytes((bytes, start, end) => literals.some((l) => bytesEqual(bytes, start, end, l)))
    }
    if (op === "between") {
      const [low, high] = values as ReadonlyArray<string>
      return fillUtf8Text((text) => text >= low! && text <= high!)
    }
    const literal = first as string
    return fillUtf8Text((text) => holds(op, text < literal ? -1 : text > literal ? 1 : 0))
  }
  if (op === "in") return fillGeneric(type, (value) => values.some((v) => compareValues(type, value, v) === 0))
  if (op === "between") {
    return fillGeneric(
      type,
      (value) => compareValues(type, value, values[0]!) >= 0 && compareValues(type, value, values[1]!) <= 0
    )
  }
  return fillGeneric(type, (value) => holds(op, compareValues(type, value, first)))
}

const compilePredicate = (node: Predicate, column: Column, index: number, values: ReadonlyArray<Value>): Evaluate => {
  if (node.kind === "is_null") {
    return (batch) => {
      const data = batch.data.children[index]!
      const length = batch.numRows
      const out = new Uint8Array(length).fill(node.negated ? TRUE : FALSE)
      const bits = nullBits(data)
      if (bits === undefined) return out
      const offset = data.offset
      const isNull = node.negated ? FALSE : TRUE
      for (let i = 0; i < length; i++) if (!isSet(bits, offset + i)) out[i] = isNull
      return out
    }
  }
  const fill = fillFor(node, column.type, values)
  const negated = node.kind === "compare" ? node.op === "!=" : node.negated
  return (batch) => {
    const data = batch.data.children[index]!
    const length = batch.numRows
    const out = new Uint8Array(length)
    fill(data, out, length)
    if (negated) for (let i = 0; i < length; i++) out[i] = out[i]! ^ 1
    const bits = nullBits(data)
    if (bits !== undefined) {
      const offset = data.offset
      for (let i = 0; i < length; i++) if (!isSet(bits, offset + i)) out[i] = UNKNOWN
    }
    return out
  }
}

const combine =
  (table: Uint8Array, left: Evaluate, right: Evaluate): Evaluate =>
  (batch) => {
    const a = left(batch)
    const b = right(batch)
    for (let i = 0; i < a.length; i++) a[i] = table[a[i]! * 3 + b[i]!]!
    return a
  }

/** Binds a filter to the dataset's columns (checking it) and returns a function that selects rows of its batches. */
export const compileFilter = (filter: Filter, columns: ReadonlyArray<Column>): Either.Either<RowFilter, string> => {
  const byName = columnMap(columns)
  const indexOf = new Map(columns.map((column, i) => [column.name, i]))
  const compile = (node: Filter): Either.Either<Evaluate, string> => {
    switch (node.kind) {
      case "and":
      case "or":
        return Either.zipWith(compile(node.left), compile(node.right), (left, right) =>
          combine(node.kind === "and" ? AND_TABLE : OR_TABLE, left, right)
        )
      case "not":
        return Either.map(compile(node.operand), (operand) => (batch: Batch) => {
          const states = operand(batch)
          for (let i = 0; i < states.length; i++) states[i] = NOT_TABLE[states[i]!]!
          return states
        })
      default:
        return Either.map(bindPredicate(node, byName), ({ column, values }) =>
          compilePredicate(node, column, indexOf.get(column.name)!, values)
        )
    }
  }
  return Either.map(compile(filter), (evaluate) => ({
    select: (batch) => {
      const states = evaluate(batch)
      const indices = new Int32Array(states.length)
      let count = 0
      for (let i = 0; i < states.length; i++) if (states[i] === TRUE) indices[count++] = i
      return count === indices.length ? indices : indices.slice(0, count)
    }
  }))
}

/**
 * The indices of the rows of `batch` that pass the filter. For many batches,
 * `compileFilter` once and call `select` on each.
 */
export const evaluateFilter = (
  filter: Filter,
  columns: ReadonlyArray<Column>,
  batch: Batch
): Either.Either<Int32Array, string> => Either.map(compileFilter(filter, columns), (compiled) => compiled.select(batch))

// ---- SQL ---------------------------------------------------------------------------

/** The SQL spelling of each operator; `!=` is not standard SQL. */
const SQL_OPERATORS: Record<ComparisonOperator, string> = {
  "=": "=",
  "!=": "<>",
  "<": "<",
  "<=": "<=",
  ">": ">",
  ">=": ">="
}

/**
 * A WHERE clause for the filter. Identifiers go through `quoteIdentifier` and every
 * literal through `parameter`, which binds the value and returns its placeholder
 * (`$1`, `@p1`, `?`): no text from the config is ever pasted into the SQL.
 *
 * LIKE patterns carry `\` as their escape character (`ESCAPE '\'`, which PostgreSQL
 * and SQL Server both read), and `[` is escaped so that SQL Server does not read it
 * as a character class.
 */
export const filterToSql = (
  filter: Filter,
  quoteIdentifier: (name: string) => string,
  parameter: (value: Value, type: LogicalType) => string,
  columns: ReadonlyArray<Column>
): Either.Either<{ readonly sql: string }, string> => {
  const byName = columnMap(columns)
  const render = (node: Filter): Either.Either<string, string> => {
    switch (node.kind) {
      case "and":
      case "or":
        return Either.zipWith(
          render(node.left),
          render(node.right),
          (left, right) => `(${left} ${node.kind.toUpperCase()} ${right})`
        )
      case "not":
        return Either.map(render(node.operand), (operand) => `(NOT ${operand})`)
      default:
        return Either.map(bindPredicate(node, byName), ({ column, values }) => {
          const name = quoteIdentifier(column.name)
          const bind = (value: Value) => parameter(value, column.type)
          const not = node.kind !== "compare" && node.negated ? "NOT " : ""
          switch (node.kind) {
            case "is_null":
              return `${name} IS ${not}NULL`
            case "compare":
              return `${name} ${SQL_OPERATORS[node.op]} ${bind(values[0]!)}`
            case "in":
              return `${name} ${not}IN (${values.map(bind).join(", ")})`
            case "between":
              return `${name} ${not}BETWEEN ${bind(values[0]!)} AND ${bind(values[1]!)}`
            case "like":
              return `${name} ${not}LIKE ${bind(node.pattern.replace(/\[/g, "\\["))} ESCAPE '\\'`
          }
        })
    }
  }
  return Either.map(render(filter), (sql) => ({ sql }))
}
