/**
 * CSV (RFC 4180) both ways, streaming. Reading uses csv-parse; writing is a small
 * hand-written encoder (see docs/formats.md for why and how fast).
 *
 * NULL is the `null` option's text written unquoted: by default an empty unquoted
 * field is NULL and a quoted empty field ("") is the empty string, as PostgreSQL's
 * COPY and DuckDB do. A value equal to the marker is always written quoted, so the
 * two never meet.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import type { Batch } from "../../core/Batch.js"
import { BatchBuilder } from "../../core/Batch.js"
import type { SourceError } from "../../core/Errors.js"
import { FormatError } from "../../core/Errors.js"
import type { Column, LogicalType } from "../../core/Types.js"
import type { FileInput, TableFormat } from "./Format.js"
import type { CsvSyntaxError } from "./internal/CsvRecords.js"
import { CsvRecordReader } from "./internal/CsvRecords.js"
import { textReader } from "./internal/TextColumns.js"
import { Utf8Chunks } from "./internal/Utf8Chunks.js"
import { ColumnSniffer } from "./internal/TextInference.js"
import { CsvOptions } from "./Options.js"

/** Rows `inspect` reads to infer column types. */
export const SAMPLE_ROWS = 10_000

const csvError = (file: string, line: number | undefined, column: string | undefined, message: string) =>
  new FormatError({
    format: "csv",
    file,
    ...(line === undefined ? {} : { line }),
    ...(column === undefined ? {} : { column }),
    message: `${line === undefined ? file : `${file}:${line}`}: ${column === undefined ? "" : `column "${column}": `}${message}`
  })

const syntaxError = (file: string, error: CsvSyntaxError) => csvError(file, error.line, undefined, error.message)

const isNull = (text: string, quoted: boolean, nullMarker: string): boolean => !quoted && text === nullMarker

/** A blank line between records: skipped, except in a one-column file where it is a NULL. */
const isBlankLine = (fields: ReadonlyArray<string>, quoted: ReadonlyArray<boolean>, width: number): boolean =>
  width > 1 && fields.length === 1 && fields[0] === "" && quoted[0] !== true

const defaultNames = (count: number): ReadonlyArray<string> =>
  Array.from({ length: count }, (_, i) => `column_${i + 1}`)

const checkHeader = (file: string, names: ReadonlyArray<string>): FormatError | undefined => {
  const seen = new Map<string, number>()
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!
    if (name.trim() === "") return csvError(file, 1, undefined, `column ${i + 1} of the header has no name`)
    const first = seen.get(name)
    if (first !== undefined) {
      return csvError(
        file,
        1,
        undefined,
        `column "${name}" appears twice in the header (columns ${first + 1} and ${i + 1})`
      )
    }
    seen.set(name, i)
  }
  return undefined
}

const wrongFieldCount = (file: string, line: number, expected: number, got: number) =>
  csvError(file, line, undefined, `expected ${expected} fields, found ${got}`)

/** The shape of the file learned from its first record: column names and the field count of every row. */
class Layout {
  names: ReadonlyArray<string> = []
  width = -1

  /** Takes the first record; returns an error, or true when the record was the header (not data). */
  first(file: string, fields: ReadonlyArray<string>, header: boolean): FormatError | boolean {
    this.width = fields.length
    if (!header) {
      this.names = defaultNames(fields.length)
      return false
    }
    this.names = fields.slice()
    return checkHeader(file, this.names) ?? true
  }
}

// ---- inspect -----------------------------------------------------------------------

class Sample {
  readonly layout = new Layout()
  private sniffers: Array<ColumnSniffer> = []
  private rows = 0
  error: FormatError | undefined
  private readonly reader: CsvRecordReader

  constructor(
    private readonly file: string,
    private readonly options: CsvOptions
  ) {
    this.reader = new CsvRecordReader(options, this.onRecord)
  }

  private readonly onRecord = (fields: ReadonlyArray<string>, quoted: ReadonlyArray<boolean>, line: number) => {
    if (this.layout.width < 0) {
      const first = this.layout.first(this.file, fields, this.options.header)
      if (first instanceof FormatError) return this.fail(first)
      this.sniffers = this.layout.names.map(() => new ColumnSniffer())
      if (first) return true
    }
    if (fields.length !== this.layout.width) {
      if (isBlankLine(fields, quoted, this.layout.width)) return true
      return this.fail(wrongFieldCount(this.file, line, this.layout.width, fields.length))
    }
    for (let i = 0; i < fields.length; i++) {
      if (!isNull(fields[i]!, quoted[i]!, this.options.null)) this.sniffers[i]!.observe(fields[i]!)
    }
    return ++this.rows < SAMPLE_ROWS
  }

  private fail(error: FormatError): false {
    this.error = error
    return false
  }

  /** Feeds bytes; false once the sample is complete or broken. */
  push(chunk: Uint8Array): boolean {
    const error = this.reader.push(chunk)
    if (error !== undefined) this.error = syntaxError(this.file, error)
    return !this.reader.isStopped
  }

  finish(declared: ReadonlyMap<string, LogicalType>): Either.Either<ReadonlyArray<Column>, FormatError> {
    if (!this.reader.isStopped) {
      const error = this.reader.end()
      if (error !== undefined) this.error = syntaxError(this.file, error)
    }
    if (this.error !== undefined) return Either.left(this.error)
    if (this.layout.width < 0 && this.options.header) {
      return Either.left(csvError(this.file, undefined, undefined, "the file is empty; expected a header line"))
    }
    const names = this.layout.names
    const missing = [...declared.keys()].filter((name) => !names.includes(name))
    if (missing.length > 0) {
      return Either.left(
        csvError(
          this.file,
          undefined,
          undefined,
          `declared column${missing.length > 1 ? "s" : ""} ${missing.map((name) => `"${name}"`).join(", ")} ` +
            `not found in the file; its columns are ${names.map((name) => `"${name}"`).join(", ")}`
        )
      )
    }
    return Either.right(
      names.map((name, i): Column => ({ name, type: declared.get(name) ?? this.sniffers[i]!.type(), nullable: true }))
    )
  }
}

const inspect = (
  input: FileInput,
  options: CsvOptions,
  declared: ReadonlyMap<string, LogicalType>
): Effect.Effect<ReadonlyArray<Column>, FormatError | SourceError> =>
  Effect.suspend(() => {
    const sample = new Sample(input.name, options)
    return input.stream().pipe(
      Stream.runForEachWhile((chunk) => Effect.sync(() => sample.push(chunk))),
      Effect.flatMap(() => sample.finish(declared))
    )
  })

// ---- decode ------------------------------------------------------------------------

class Decoder {
  private readonly layout = new Layout()
  private readonly builder: BatchBuilder
  /** For each output column, the index of its field in a record. */
  private fieldIndex: Array<number> = []
  private readonly reader: CsvRecordReader
  private batches: Array<Batch> = []
  private error: FormatError | undefined

  constructor(
    private readonly file: string,
    private readonly columns: ReadonlyArray<Column>,
    private readonly options: CsvOptions
  ) {
    this.builder = new BatchBuilder(columns)
    this.reader = new CsvRecordReader(options, this.onRecord)
  }

  private mapColumns(): FormatError | undefined {
    const positions = new Map(this.layout.names.map((name, i) => [name, i]))
    const missing = this.columns.filter((column) => !positions.has(column.name))
    if (missing.length > 0) {
      return csvError(
        this.file,
        this.options.header ? 1 : undefined,
        undefined,
        `column${missing.length > 1 ? "s" : ""} ${missing.map((column) => `"${column.name}"`).join(", ")} ` +
          `not found in the file; its columns are ${this.layout.names.map((name) => `"${name}"`).join(", ")}`
      )
    }
    this.fieldIndex = this.columns.map((column) => positions.get(column.name)!)
    return undefined
  }

  private readonly onRecord = (fields: ReadonlyArray<string>, quoted: ReadonlyArray<boolean>, line: number) => {
    if (this.layout.width < 0) {
      const first = this.layout.first(this.file, fields, this.options.header)
      if (first instanceof FormatError) return this.fail(first)
      const unmapped = this.mapColumns()
      if (unmapped !== undefined) return this.fail(unmapped)
      if (first) return true
    }
    if (fields.length !== this.layout.width) {
      if (isBlankLine(fields, quoted, this.layout.width)) return true
      return this.fail(wrongFieldCount(this.file, line, this.layout.width, fields.length))
    }
    const builders = this.builder.builders
    const fieldIndex = this.fieldIndex
    const nullMarker = this.options.null
    for (let c = 0; c < fieldIndex.length; c++) {
      const index = fieldIndex[c]!
      const text = fields[index]!
      if (text === nullMarker && !quoted[index]) {
        builders[c]!.appendNull()
      } else {
        const problem = builders[c]!.appendText(text)
        if (problem !== undefined) return this.fail(csvError(this.file, line, this.columns[c]!.name, problem))
      }
    }
    if (this.builder.isFull()) this.batches.push(this.builder.finish())
    return true
  }

  private fail(error: FormatError): false {
    this.error = error
    return false
  }

  private take(syntax: CsvSyntaxError | undefined): Either.Either<ReadonlyArray<Batch>, FormatError> {
    if (this.error === undefined && syntax !== undefined) this.error = syntaxError(this.file, syntax)
    if (this.error !== undefined) return Either.left(this.error)
    const batches = this.batches
    this.batches = []
    return Either.right(batches)
  }

  push(chunk: Uint8Array): Either.Either<ReadonlyArray<Batch>, FormatError> {
    return this.take(this.reader.push(chunk))
  }

  end(): Either.Either<ReadonlyArray<Batch>, FormatError> {
    const result = this.take(this.reader.end())
    if (Either.isLeft(result) || this.builder.rowCount === 0) return result
    return Either.right([...result.right, this.builder.finish()])
  }
}

const decode = (input: FileInput, columns: ReadonlyArray<Column>, options: CsvOptions) =>
  Stream.suspend(() => {
    const decoder = new Decoder(input.name, columns, options)
    return input.stream().pipe(
      Stream.mapEffect((chunk) => decoder.push(chunk)),
      Stream.mapConcat((batches) => batches),
      Stream.concat(Stream.fromIterableEffect(Effect.suspend(() => decoder.end())))
    )
  })

// ---- encode ------------------------------------------------------------------------

const escapeForClass = (character: string): string => character.replace(/[\\\]^-]/g, "\\$&")

/** Types whose text is made of digits, letters, `.`, `+`, `-`, `:` and spaces. */
const PLAIN_KINDS = new Set([
  "int8",
  "int16",
  "int32",
  "int64",
  "float32",
  "float64",
  "decimal",
  "bool",
  "date",
  "time",
  "timestamp",
  "uuid"
])
const PLAIN_ALPHABET = /^[0-9A-Za-z.+\-: ]$/

class Encoder {
  private readonly quote: string
  private readonly doubledQuote: string
  private readonly needsQuotes: RegExp
  private readonly nullMarker: string
  private readonly delimiter: string
  /** Per column: whether its values can contain a character that forces quotes. */
  private readonly checkText: ReadonlyArray<boolean>
  private readonly out = new Utf8Chunks()

  constructor(
    private readonly columns: ReadonlyArray<Column>,
    options: CsvOptions
  ) {
    this.delimiter = options.delimiter
    this.quote = options.quote
    this.doubledQuote = options.quote + options.quote
    this.needsQuotes = new RegExp(
      `[${escapeForClass(options.delimiter)}${escapeForClass(options.quote)}\\r\\n]|^[ \\t]|[ \\t]$`
    )
    this.nullMarker = options.null
    const plainDialect = !PLAIN_ALPHABET.test(options.delimiter) && !PLAIN_ALPHABET.test(options.quote)
    this.checkText = columns.map((column) => !(plainDialect && PLAIN_KINDS.has(column.type.kind)))
  }

  field(text: string, check: boolean): string {
    if (text === this.nullMarker || (check && this.needsQuotes.test(text))) {
      return this.quote + text.replaceAll(this.quote, this.doubledQuote) + this.quote
    }
    return text
  }

  header(): Uint8Array {
    return new TextEncoder().encode(
      this.columns.map((column) => this.field(column.name, true)).join(this.delimiter) + "\n"
    )
  }

  /** The rows of a batch as UTF-8 chunks. */
  rows(batch: Batch): Array<Uint8Array> {
    const readers = this.columns.map((column, c) => textReader(column.type, batch.data.children[c]!))
    const { out, checkText, nullMarker } = this
    const width = readers.length
    for (let row = 0; row < batch.numRows; row++) {
      for (let c = 0; c < width; c++) {
        if (c > 0) out.text(this.delimiter)
        const value = readers[c]!(row)
        out.text(value === null ? nullMarker : this.field(value, checkText[c]!))
      }
      out.ascii(LINE_FEED)
    }
    return out.take()
  }
}

const LINE_FEED = 10

const encode = <E>(columns: ReadonlyArray<Column>, batches: Stream.Stream<Batch, E>, options: CsvOptions) =>
  Stream.suspend(() => {
    const encoder = new Encoder(columns, options)
    const rows = batches.pipe(Stream.mapConcat((batch) => encoder.rows(batch)))
    return options.header ? Stream.concat(Stream.succeed(encoder.header()), rows) : rows
  }) as Stream.Stream<Uint8Array, E | FormatError>

export const Csv: TableFormat<CsvOptions> = {
  name: "csv",
  extensions: ["csv"],
  options: CsvOptions,
  inspect,
  decode,
  encode
}
