/**
 * csv-parse, driven chunk by chunk, handing over each record with the line it starts
 * on and which of its fields were quoted.
 *
 * csv-parse's public way to learn whether a field was quoted is a `cast` function,
 * but it builds three spread copies of its info object for every field: 17 times
 * slower than parsing alone on 1M rows (22k instead of 385k rows/s). So the parser is
 * driven through the synchronous core that its Node stream, sync and web APIs all
 * wrap (`parser.api.parse`), and the field hook records `state.wasQuoting`, which
 * csv-parse computes anyway. `assertCompatible` checks that shape when a reader is
 * made, and the CSV tests cover it, so an upgrade that changes it fails loudly.
 */
import { CsvError, Parser } from "csv-parse"

interface ParserCore {
  parse(
    chunk: Buffer | undefined,
    end: boolean,
    push: (record: Array<string>) => void,
    close: () => void
  ): Error | undefined
  readonly info: { readonly lines: number }
  readonly state: { readonly wasQuoting: boolean }
  __onField(): unknown
}

export interface CsvDialect {
  readonly delimiter: string
  readonly quote: string
}

/**
 * Receives each record: its fields, whether each was quoted, and the 1-based line it
 * starts on. Returning false stops the reader: later records are not delivered.
 */
export type RecordHandler = (fields: ReadonlyArray<string>, quoted: ReadonlyArray<boolean>, line: number) => boolean

/** A syntax error of the file (an unclosed quote, a stray one), with its line. */
export interface CsvSyntaxError {
  readonly line: number
  readonly message: string
}

const coreOf = (parser: Parser): ParserCore => {
  const core = (parser as unknown as { api?: Partial<ParserCore> }).api
  if (
    core === undefined ||
    typeof core.parse !== "function" ||
    typeof core.__onField !== "function" ||
    typeof core.state?.wasQuoting !== "boolean" ||
    typeof core.info?.lines !== "number"
  ) {
    throw new Error("csv-parse's parser core is not the one Ferry was built against (csv-parse 6.x)")
  }
  return core as ParserCore
}

export class CsvRecordReader {
  private readonly core: ParserCore
  private quoted: Array<boolean> = []
  private lastLine = 0
  private stopped = false

  constructor(
    dialect: CsvDialect,
    private readonly handle: RecordHandler
  ) {
    const core = coreOf(
      new Parser({
        bom: true,
        delimiter: dialect.delimiter,
        quote: dialect.quote,
        // RFC 4180 escapes a quote by doubling it, whichever character the quote is.
        escape: dialect.quote,
        relax_column_count: true
      })
    )
    const onField = core.__onField
    core.__onField = () => {
      this.quoted.push(core.state.wasQuoting)
      return onField.call(core)
    }
    this.core = core
  }

  private readonly onRecord = (fields: Array<string>): void => {
    const quoted = this.quoted
    this.quoted = []
    const line = this.lastLine + 1
    this.lastLine = this.core.info.lines
    if (!this.stopped && !this.handle(fields, quoted, line)) this.stopped = true
  }

  private readonly onClose = (): void => {}

  /** Parses the next bytes; records complete in them are handed over before it returns. */
  push(chunk: Uint8Array): CsvSyntaxError | undefined {
    if (this.stopped) return undefined
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    return this.syntaxError(this.core.parse(bytes, false, this.onRecord, this.onClose))
  }

  /** Ends the input: the last record, which may lack a line break, is handed over. */
  end(): CsvSyntaxError | undefined {
    if (this.stopped) return undefined
    return this.syntaxError(this.core.parse(undefined, true, this.onRecord, this.onClose))
  }

  get isStopped(): boolean {
    return this.stopped
  }

  private syntaxError(error: Error | undefined): CsvSyntaxError | undefined {
    if (error === undefined) return undefined
    this.stopped = true
    const line = error instanceof CsvError && typeof error["lines"] === "number" ? error["lines"] : this.lastLine + 1
    return { line, message: describeCsvError(error) }
  }
}

const describeCsvError = (error: Error): string => {
  if (!(error instanceof CsvError)) return error.message
  switch (error.code) {
    case "CSV_QUOTE_NOT_CLOSED":
      return "a quoted field is not closed before the end of the file"
    case "CSV_INVALID_CLOSING_QUOTE":
      return "a closing quote is followed by something other than a delimiter or a line break"
    case "INVALID_OPENING_QUOTE":
      return "a quote appears inside an unquoted field; quote the whole field and double the quote"
    default:
      return error.message
  }
}
