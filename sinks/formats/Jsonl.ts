/**
 * JSON Lines both ways, streaming: one JSON object per line, UTF-8. Numbers are read
 * by a scanner that keeps their source text (see internal/JsonScanner), so int64 and
 * decimals stay exact both ways; floats that JSON cannot write (NaN, ±Infinity) are
 * the strings "NaN", "Infinity" and "-Infinity".
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import type * as Arrow from "apache-arrow"
import type { Batch, ColumnBuilder } from "../../core/Batch.js"
import { BatchBuilder, makeColumnReader } from "../../core/Batch.js"
import type { SourceError } from "../../core/Errors.js"
import { FormatError } from "../../core/Errors.js"
import type { Column, LogicalType } from "../../core/Types.js"
import { MAX_DECIMAL_PRECISION } from "../../core/Types.js"
import type { Value } from "../../core/Values.js"
import { formatText, parseText } from "../../core/Values.js"
import type { FileInput, TableFormat } from "./Format.js"
import type { JsonKind } from "./internal/JsonScanner.js"
import { Cursor, FALSE, isFractional, NESTED, NULL, NUMBER, STRING, TRUE } from "./internal/JsonScanner.js"
import { textReader } from "./internal/TextColumns.js"
import { Utf8Chunks } from "./internal/Utf8Chunks.js"
import { JsonlOptions } from "./Options.js"

/** Lines `inspect` reads to infer column types. */
export const SAMPLE_LINES = 10_000

const jsonlError = (file: string, line: number | undefined, column: string | undefined, message: string) =>
  new FormatError({
    format: "jsonl",
    file,
    ...(line === undefined ? {} : { line }),
    ...(column === undefined ? {} : { column }),
    message: `${line === undefined ? file : `${file}:${line}`}: ${column === undefined ? "" : `column "${column}": `}${message}`
  })

const describeValue = (kind: JsonKind, value: string): string => {
  switch (kind) {
    case STRING:
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
    case NESTED:
      return value.startsWith("[") ? "an array" : "an object"
    case TRUE:
      return "true"
    case FALSE:
      return "false"
    case NULL:
      return "null"
    default:
      return value
  }
}

// ---- lines -------------------------------------------------------------------------

/** Cuts a byte stream into lines, decoding UTF-8 across chunk boundaries; a leading BOM is dropped. */
class LineSplitter {
  private readonly decoder = new TextDecoder("utf-8", { fatal: true })
  private pending = ""
  /** The number of the line handed over last. */
  line = 0

  /** Hands over each complete line; stops when `onLine` returns false. Returns false when stopped. */
  push(chunk: Uint8Array, onLine: (line: string, number: number) => boolean): boolean | string {
    let text: string
    try {
      text = this.pending + this.decoder.decode(chunk, { stream: true })
    } catch {
      return `line ${this.line + 1} is not valid UTF-8`
    }
    let start = 0
    for (;;) {
      const end = text.indexOf("\n", start)
      if (end < 0) break
      this.line++
      const line = text.charCodeAt(end - 1) === 13 ? text.slice(start, end - 1) : text.slice(start, end)
      start = end + 1
      if (!onLine(line, this.line)) return false
    }
    this.pending = text.slice(start)
    return true
  }

  end(onLine: (line: string, number: number) => boolean): boolean | string {
    let rest: string
    try {
      rest = this.pending + this.decoder.decode()
    } catch {
      return `line ${this.line + 1} is not valid UTF-8`
    }
    this.pending = ""
    if (rest.length === 0) return true
    this.line++
    return onLine(rest.endsWith("\r") ? rest.slice(0, -1) : rest, this.line)
  }
}

const isBlank = (line: string): boolean => line.length === 0 || line.trim().length === 0

// ---- inspect -----------------------------------------------------------------------

const INT64_DIGITS = 18

/** What the values of one key looked like in the sample. */
class KeySniffer {
  private integers = false
  private wideIntegers = false
  private hugeIntegers = false
  private floats = false
  private booleans = false
  private strings = false
  private nested = false

  observe(kind: JsonKind, value: string): void {
    switch (kind) {
      case NUMBER:
        if (isFractional(value)) this.floats = true
        else if (value.length - (value.startsWith("-") ? 1 : 0) <= INT64_DIGITS) this.integers = true
        else if (Either.isRight(parseText({ kind: "int64" }, value))) this.integers = true
        else if (value.length - (value.startsWith("-") ? 1 : 0) <= MAX_DECIMAL_PRECISION) this.wideIntegers = true
        else this.hugeIntegers = true
        break
      case TRUE:
      case FALSE:
        this.booleans = true
        break
      case STRING:
        this.strings = true
        break
      case NESTED:
        this.nested = true
        break
    }
  }

  type(): LogicalType {
    const numbers = this.integers || this.wideIntegers || this.hugeIntegers || this.floats
    const kinds = Number(numbers) + Number(this.booleans) + Number(this.strings) + Number(this.nested)
    // Mixed kinds keep every value exactly as JSON.
    if (kinds > 1 || this.nested || this.hugeIntegers) return kinds === 0 ? { kind: "utf8" } : { kind: "json" }
    if (this.booleans) return { kind: "bool" }
    if (this.floats) return { kind: "float64" }
    if (this.wideIntegers) return { kind: "decimal", precision: 38, scale: 0 }
    if (this.integers) return { kind: "int64" }
    return { kind: "utf8" }
  }
}

class Sample {
  private readonly sniffers = new Map<string, KeySniffer>()
  private readonly lines = new LineSplitter()
  private readonly cursor = new Cursor()
  private rows = 0
  error: FormatError | undefined
  private done = false

  constructor(private readonly file: string) {}

  private readonly onMember = (key: string, kind: JsonKind, value: string): void => {
    let sniffer = this.sniffers.get(key)
    if (sniffer === undefined) {
      sniffer = new KeySniffer()
      this.sniffers.set(key, sniffer)
    }
    sniffer.observe(kind, value)
  }

  private readonly onLine = (line: string, number: number): boolean => {
    if (isBlank(line)) return true
    if (!this.cursor.reset(line).object(this.onMember)) {
      this.error = jsonlError(this.file, number, undefined, `not a JSON object: ${this.cursor.error}`)
      return false
    }
    return ++this.rows < SAMPLE_LINES
  }

  private stop(result: boolean | string): void {
    if (typeof result === "string") this.error = jsonlError(this.file, undefined, undefined, result)
    if (result !== true) this.done = true
  }

  push(chunk: Uint8Array): boolean {
    this.stop(this.lines.push(chunk, this.onLine))
    return !this.done
  }

  finish(declared: ReadonlyMap<string, LogicalType>): Either.Either<ReadonlyArray<Column>, FormatError> {
    if (!this.done) this.stop(this.lines.end(this.onLine))
    if (this.error !== undefined) return Either.left(this.error)
    const columns = [...this.sniffers].map(([name, sniffer]): Column => ({
      name,
      type: declared.get(name) ?? sniffer.type(),
      nullable: true
    }))
    // A declared key may simply be absent from the sample's lines: it is a column all the same.
    for (const [name, type] of declared) {
      if (!this.sniffers.has(name)) columns.push({ name, type, nullable: true })
    }
    return Either.right(columns)
  }
}

const inspect = (
  input: FileInput,
  _options: JsonlOptions,
  declared: ReadonlyMap<string, LogicalType>
): Effect.Effect<ReadonlyArray<Column>, FormatError | SourceError> =>
  Effect.suspend(() => {
    const sample = new Sample(input.name)
    return input.stream().pipe(
      Stream.runForEachWhile((chunk) => Effect.sync(() => sample.push(chunk))),
      Effect.flatMap(() => sample.finish(declared))
    )
  })

// ---- values ------------------------------------------------------------------------

/** A JSON value of a list's element, or a message. */
const elementValue = (type: LogicalType, kind: JsonKind, text: string): Either.Either<Value | null, string> => {
  if (kind === NULL) return Either.right(null)
  switch (type.kind) {
    case "utf8":
      return Either.right(kind === TRUE ? "true" : kind === FALSE ? "false" : text)
    case "json":
      return jsonText(kind, text)
    case "bool":
      return kind === TRUE || kind === FALSE ? Either.right(kind === TRUE) : parseText(type, text)
    case "list":
      return kind === NESTED
        ? parseList(type, text)
        : Either.left(`expected an array, got ${describeValue(kind, text)}`)
    default:
      return kind === NUMBER || kind === STRING
        ? parseText(type, text)
        : Either.left(`expected a ${type.kind} value, got ${describeValue(kind, text)}`)
  }
}

/** A list value read from its raw JSON text, exactly. */
const parseList = (type: LogicalType & { kind: "list" }, raw: string): Either.Either<Value, string> => {
  const cursor = new Cursor().reset(raw)
  const items: Array<Value | null> = []
  let problem: string | undefined
  const ok = cursor.array((kind, text) => {
    const item = elementValue(type.element, kind, text)
    if (Either.isLeft(item)) {
      problem = item.left
      return false
    }
    items.push(item.right)
    return true
  })
  if (problem !== undefined) return Either.left(`list element: ${problem}`)
  return ok && cursor.atEnd() ? Either.right(items) : Either.left(`not a JSON array: ${cursor.error}`)
}

/** The JSON text of a value of a json column. */
const jsonText = (kind: JsonKind, text: string): Either.Either<string, string> => {
  switch (kind) {
    case STRING:
      return Either.right(JSON.stringify(text))
    case TRUE:
      return Either.right("true")
    case FALSE:
      return Either.right("false")
    case NESTED:
      try {
        // The scanner only skipped over nested values; JSON.parse checks them (the raw text is kept).
        JSON.parse(text)
        return Either.right(text)
      } catch {
        return Either.left(`invalid JSON in ${describeValue(kind, text)}`)
      }
    default:
      return Either.right(text)
  }
}

/** Appends one member's value to a column; returns a message when it is not a value of the column's type. */
type Put = (builder: ColumnBuilder, kind: JsonKind, text: string) => string | undefined

const expected = (what: string, kind: JsonKind, text: string) => `expected ${what}, got ${describeValue(kind, text)}`

const fromEither = (builder: ColumnBuilder, result: Either.Either<Value, string>): string | undefined => {
  if (Either.isLeft(result)) return result.left
  builder.append(result.right)
  return undefined
}

const putterOf = (type: LogicalType): Put => {
  switch (type.kind) {
    case "int8":
    case "int16":
    case "int32":
    case "int64":
    case "float32":
    case "float64":
    case "decimal":
      // Strings too: APIs often quote big numbers, and floats write NaN and ±Infinity as strings.
      return (builder, kind, text) =>
        kind === NUMBER || kind === STRING ? builder.appendText(text) : expected("a number", kind, text)
    case "bool":
      return (builder, kind, text) => {
        if (kind === TRUE || kind === FALSE) {
          builder.append(kind === TRUE)
          return undefined
        }
        return kind === STRING ? builder.appendText(text) : expected("a boolean", kind, text)
      }
    case "utf8":
      return (builder, kind, text) => {
        builder.append(kind === TRUE ? "true" : kind === FALSE ? "false" : text)
        return undefined
      }
    case "json":
      return (builder, kind, text) => fromEither(builder, jsonText(kind, text))
    case "list":
      return (builder, kind, text) =>
        kind === NESTED && text.startsWith("[")
          ? fromEither(builder, parseList(type, text))
          : expected("an array", kind, text)
    default:
      return (builder, kind, text) =>
        kind === STRING ? builder.appendText(text) : expected(`a ${type.kind} as a string`, kind, text)
  }
}

// ---- decode ------------------------------------------------------------------------

class Decoder {
  private readonly builder: BatchBuilder
  private readonly putters: ReadonlyArray<Put>
  private readonly columnOf: Map<string, number>
  private readonly kinds: Array<JsonKind>
  private readonly texts: Array<string>
  /** The row in which each column last got a value, so that missing keys read as NULL. */
  private readonly seenInRow: Int32Array
  private row = 0
  private readonly lines = new LineSplitter()
  private readonly cursor = new Cursor()
  private batches: Array<Batch> = []
  private error: FormatError | undefined

  constructor(
    private readonly file: string,
    private readonly columns: ReadonlyArray<Column>
  ) {
    this.builder = new BatchBuilder(columns)
    this.putters = columns.map((column) => putterOf(column.type))
    this.columnOf = new Map(columns.map((column, i) => [column.name, i]))
    this.kinds = columns.map(() => NULL)
    this.texts = columns.map(() => "")
    this.seenInRow = new Int32Array(columns.length).fill(-1)
  }

  private readonly onMember = (key: string, kind: JsonKind, value: string): void => {
    const column = this.columnOf.get(key)
    if (column === undefined) return
    this.kinds[column] = kind
    this.texts[column] = value
    this.seenInRow[column] = this.row
  }

  private readonly onLine = (line: string, number: number): boolean => {
    if (isBlank(line)) return true
    if (!this.cursor.reset(line).object(this.onMember)) {
      this.error = jsonlError(this.file, number, undefined, `not a JSON object: ${this.cursor.error}`)
      return false
    }
    const builders = this.builder.builders
    for (let c = 0; c < builders.length; c++) {
      const kind = this.kinds[c]!
      if (this.seenInRow[c] !== this.row || kind === NULL) {
        builders[c]!.appendNull()
        continue
      }
      const problem = this.putters[c]!(builders[c]!, kind, this.texts[c]!)
      if (problem !== undefined) {
        this.error = jsonlError(this.file, number, this.columns[c]!.name, problem)
        return false
      }
    }
    this.row++
    if (this.builder.isFull()) this.batches.push(this.builder.finish())
    return true
  }

  private take(result: boolean | string): Either.Either<ReadonlyArray<Batch>, FormatError> {
    if (typeof result === "string" && this.error === undefined) {
      this.error = jsonlError(this.file, undefined, undefined, result)
    }
    if (this.error !== undefined) return Either.left(this.error)
    const batches = this.batches
    this.batches = []
    return Either.right(batches)
  }

  push(chunk: Uint8Array): Either.Either<ReadonlyArray<Batch>, FormatError> {
    return this.take(this.lines.push(chunk, this.onLine))
  }

  end(): Either.Either<ReadonlyArray<Batch>, FormatError> {
    const result = this.take(this.lines.end(this.onLine))
    if (Either.isLeft(result) || this.builder.rowCount === 0) return result
    return Either.right([...result.right, this.builder.finish()])
  }
}

const decode = (input: FileInput, columns: ReadonlyArray<Column>, _options: JsonlOptions) =>
  Stream.suspend(() => {
    const decoder = new Decoder(input.name, columns)
    return input.stream().pipe(
      Stream.mapEffect((chunk) => decoder.push(chunk)),
      Stream.mapConcat((batches) => batches),
      Stream.concat(Stream.fromIterableEffect(Effect.suspend(() => decoder.end())))
    )
  })

// ---- encode ------------------------------------------------------------------------

/** The JSON text of a value of `type` (list elements, which have no Arrow data of their own here). */
type Write = (value: Value) => string

/** Only whitespace can hold a raw line break in valid JSON, so a space replaces it without changing the value. */
const singleLine = (text: string): string => (/[\r\n]/.test(text) ? text.replace(/[\r\n]/g, " ") : text)

const writerOf = (type: LogicalType): Write => {
  if (type.kind !== "list") {
    const json = jsonOfText(type)
    return (value) => json(formatText(type, value))
  }
  const element = writerOf(type.element)
  return (value) => {
    let text = "["
    const items = value as ReadonlyArray<Value | null>
    for (let i = 0; i < items.length; i++) {
      if (i > 0) text += ","
      const item = items[i]!
      text += item === null ? "null" : element(item)
    }
    return text + "]"
  }
}

/** The JSON of a value from its text form (`formatText`), for every type but lists. */
const jsonOfText = (type: LogicalType): ((text: string) => string) => {
  switch (type.kind) {
    case "float32":
    case "float64":
      // NaN and ±Infinity are not JSON numbers.
      return (text) => (text.charCodeAt(0) === 78 || text.charCodeAt(text.length - 1) === 121 ? `"${text}"` : text)
    case "utf8":
    case "uuid":
      return (text) => JSON.stringify(text)
    case "json":
      return singleLine
    case "binary":
      // `\x…` with its backslash escaped for JSON.
      return (text) => `"\\${text}"`
    case "date":
    case "time":
    case "timestamp":
      // ISO text never needs escaping.
      return (text) => `"${text}"`
    default:
      return (text) => text
  }
}

/** The JSON of each value of a column, `null` for NULL. */
const jsonColumn = (type: LogicalType, data: Arrow.Data): ((row: number) => string) => {
  if (type.kind === "list") {
    const read = makeColumnReader(type, data)
    const write = writerOf(type)
    return (row) => {
      const value = read(row)
      return value === null ? "null" : write(value)
    }
  }
  const text = textReader(type, data)
  const json = jsonOfText(type)
  return (row) => {
    const value = text(row)
    return value === null ? "null" : json(value)
  }
}

const LINE_END = 10
const CLOSE_BRACE_CODE = 125

class Encoder {
  private readonly keys: ReadonlyArray<string>
  private readonly out = new Utf8Chunks()

  constructor(private readonly columns: ReadonlyArray<Column>) {
    this.keys = columns.map((column, i) => `${i === 0 ? "{" : ","}${JSON.stringify(column.name)}:`)
  }

  /** The lines of a batch as UTF-8 chunks. */
  lines(batch: Batch): Array<Uint8Array> {
    const values = this.columns.map((column, c) => jsonColumn(column.type, batch.data.children[c]!))
    const { keys, out } = this
    for (let row = 0; row < batch.numRows; row++) {
      if (values.length === 0) out.text("{")
      for (let c = 0; c < values.length; c++) {
        out.text(keys[c]!)
        out.text(values[c]!(row))
      }
      out.ascii(CLOSE_BRACE_CODE)
      out.ascii(LINE_END)
    }
    return out.take()
  }
}

const encode = <E>(columns: ReadonlyArray<Column>, batches: Stream.Stream<Batch, E>, _options: JsonlOptions) =>
  Stream.suspend(() => {
    const encoder = new Encoder(columns)
    return batches.pipe(Stream.mapConcat((batch) => encoder.lines(batch)))
  }) as Stream.Stream<Uint8Array, E | FormatError>

export const Jsonl: TableFormat<JsonlOptions> = {
  name: "jsonl",
  extensions: ["jsonl", "ndjson"],
  options: JsonlOptions,
  inspect,
  decode,
  encode
}
