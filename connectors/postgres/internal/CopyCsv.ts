/**
 * PostgreSQL's `COPY … TO STDOUT (FORMAT csv)` output turned into the bytes Ferry's own
 * CSV encoder (sinks/formats/Csv.ts) writes for the same rows, so that a table can go
 * to a CSV file without being decoded into Arrow and encoded again.
 *
 * The server already writes most fields as Ferry does: integers, exact decimals (a
 * numeric(p,s) column prints its s digits), dates, times, UUIDs, `\x` hex bytea, text;
 * NULL as the unquoted marker, a value equal to the marker quoted, quotes doubled. What
 * differs is rewritten here, field by field, on a second core while the server works:
 * booleans (`t` → `true`), timestamps (`2024-01-02 03:04:05+00` → `2024-01-02T03:04:05Z`,
 * BC years in astronomical numbering), doubles (JavaScript's shortest form, which
 * differs from PostgreSQL's in where exponents start), and text with a leading or
 * trailing space or tab, which Ferry quotes and PostgreSQL does not. Values the Arrow
 * path refuses (an infinite date or timestamp, NaN in a decimal) are refused here with
 * the same message.
 *
 * The server must print with DateStyle ISO, TimeZone UTC, extra_float_digits ≥ 1 and
 * bytea_output hex, and real columns cast to double precision (Ferry writes a float32
 * as the double it widens to).
 */
import { CopyDecodeError } from "./CopyBinary.js"

/** How a column's field is rewritten. */
export type CsvFieldKind =
  /** Written by the server as Ferry writes it. */
  | "verbatim"
  /** Text: quoted when it starts or ends with a space or a tab. */
  | "text"
  | "bool"
  | "float"
  /** A decimal: refused when NaN or infinite. */
  | "decimal"
  | "date"
  | "timestamp"
  | "timestamptz"

export interface CsvField {
  readonly name: string
  readonly kind: CsvFieldKind
}

export interface CsvDialect {
  readonly delimiter: string
  readonly quote: string
  readonly null: string
}

const LINE_FEED = 0x0a
const LINE_FEEDS = 0x0a0a0a0a
const SPACE = 0x20
const TAB = 0x09
const DASH = 0x2d
const LOWER_T = 0x74
const LOWER_F = 0x66
const UPPER_T = 0x54
const UPPER_Z = 0x5a
const UPPER_C = 0x43
const PLUS = 0x2b
const ZERO = 0x30
const NINE = 0x39
const LOWER_E = 0x65
const UPPER_N = 0x4e
const UPPER_I = 0x49
const DOT = 0x2e
const BACKSLASH = 0x5c

const TRUE_BYTES = [0x74, 0x72, 0x75, 0x65]
const FALSE_BYTES = [0x66, 0x61, 0x6c, 0x73, 0x65]

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Characters of the text forms of numbers, booleans, dates and times (sinks/formats/Csv.ts quotes by them). */
const PLAIN_ALPHABET = /^[0-9A-Za-z.+\-: ]$/

/**
 * Whether PostgreSQL can write this dialect and the rewriter keep Ferry's quoting: a
 * delimiter and a quote of one ASCII character each, distinct, outside the characters
 * of numbers, dates and times (Ferry then quotes those only when they equal the NULL
 * marker), and a NULL marker without line breaks, delimiter or quote (COPY's rules).
 */
export const isRewritableDialect = (dialect: CsvDialect): boolean => {
  const ascii = (character: string) => character.length === 1 && character.charCodeAt(0) < 0x80
  return (
    ascii(dialect.delimiter) &&
    ascii(dialect.quote) &&
    dialect.delimiter !== dialect.quote &&
    !PLAIN_ALPHABET.test(dialect.delimiter) &&
    !PLAIN_ALPHABET.test(dialect.quote) &&
    !/[\r\n\0]/.test(dialect.delimiter + dialect.quote + dialect.null) &&
    !dialect.null.includes(dialect.delimiter) &&
    !dialect.null.includes(dialect.quote)
  )
}
/** The last instant a timestamp in microseconds since 1970 holds, as PostgreSQL prints it. */
const LAST_MICROSECOND_YEAR = 294247
const LAST_MICROSECOND_REST = "01-10 04:00:54.775807"

const TIMESTAMP_TEXT = /^(\d{4,})-(\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)(\+00)?( BC)?$/
const DATE_TEXT = /^(\d{4,})-(\d\d-\d\d)( BC)?$/

const pad = (n: number, width: number): string => String(n).padStart(width, "0")

/** A year as core/Values' formatDate writes it: astronomical, at least four digits. */
const yearText = (year: number): string =>
  year >= 1000 && year <= 9999 ? String(year) : year < 0 ? `-${pad(-year, 4)}` : pad(year, 4)

const astronomicalYear = (digits: string, bc: boolean): number => (bc ? 1 - Number(digits) : Number(digits))

/** The fraction padded to six digits, for comparing instants as text. */
const padFraction = (rest: string): string => {
  const dot = rest.indexOf(".")
  return dot < 0 ? `${rest}.000000` : rest.padEnd(dot + 7, "0")
}

const SLAB_BYTES = 1 << 20
/** Slabs kept for reuse: the chunks a writer and its read-ahead hold span two or three. */
const SPARE_SLABS = 4
/** Rows are handed out in chunks of about this size: a few hundred writes per 100 MB downstream. */
const OUTPUT_BYTES = 256 << 10

// Kinds as numbers, declared before the class so that its hot loop reads initialised constants.
const VERBATIM = 0
const TEXT = 1
const BOOL = 2
const FLOAT = 3
const DECIMAL = 4
const DATE = 5
const TIMESTAMP = 6
const TIMESTAMPTZ = 7

const KIND_CODES: Record<CsvFieldKind, number> = {
  verbatim: VERBATIM,
  text: TEXT,
  bool: BOOL,
  float: FLOAT,
  decimal: DECIMAL,
  date: DATE,
  timestamp: TIMESTAMP,
  timestamptz: TIMESTAMPTZ
}

export class CopyCsvRewriter {
  private readonly delimiter: number
  private readonly quote: number
  private readonly nullMarker: Uint8Array
  private readonly nullText: string
  private readonly kinds: Uint8Array
  private readonly names: ReadonlyArray<string>
  private readonly width: number
  private readonly singleText: boolean
  /** 1 for the bytes that end a field or open and close quotes. */
  private readonly special = new Uint8Array(256)

  private out: Uint8Array = Buffer.allocUnsafeSlow(SLAB_BYTES)
  /** `out` for four-byte writes. */
  private outView = new DataView(this.out.buffer, this.out.byteOffset, this.out.byteLength)
  /** The delimiter and the quote in each byte of a 32-bit word. */
  private readonly delimiters: number
  private readonly quotes: number
  /** Where the bytes not yet handed out start in `out`. */
  private chunkStart = 0
  private position = 0
  /** Where the row being read starts in `out`. */
  private rowStart = 0
  private fieldStart = 0
  private column = 0
  private inQuotes = false
  private quoted = false
  /** Slabs none of whose chunks is out any more (`recycle`), to write into again. */
  private readonly spare: Array<Uint8Array> = []
  /**
   * How many chunks of each slab are out. Weak: a caller that gives no chunk back
   * leaves its slabs to the garbage collector as before.
   */
  private readonly lent = new WeakMap<ArrayBufferLike, number>()
  /** Rows rewritten so far. */
  rows = 0

  constructor(fields: ReadonlyArray<CsvField>, dialect: CsvDialect) {
    this.delimiter = dialect.delimiter.charCodeAt(0)
    this.quote = dialect.quote.charCodeAt(0)
    this.nullText = dialect.null
    this.nullMarker = encoder.encode(dialect.null)
    this.kinds = Uint8Array.from(fields, (field) => KIND_CODES[field.kind])
    this.names = fields.map((field) => field.name)
    this.width = fields.length
    // PostgreSQL quotes a lone `\.` in a one-column file (it would end the data in text COPY); Ferry does not.
    this.singleText = fields.length === 1 && fields[0]!.kind === "text"
    this.delimiters = Math.imul(this.delimiter, 0x01010101)
    this.quotes = Math.imul(this.quote, 0x01010101)
    this.special[this.delimiter] = 1
    this.special[this.quote] = 1
    this.special[LINE_FEED] = 1
    // Assigned twice: V8 takes a field assigned once for a constant, and throws away the
    // code compiled on that assumption when `reserve` moves to the next slab.
    const slab = this.out
    this.out = Buffer.allocUnsafeSlow(0)
    this.out = slab
    const view = this.outView
    this.outView = new DataView(slab.buffer, 0, 0)
    this.outView = view
    if (!primed) {
      primed = true
      prime()
    }
  }

  /** Rewrites a chunk of COPY's output; returns finished rows once they make a chunk worth writing. */
  push(chunk: Uint8Array): Uint8Array | undefined {
    this.reserve(chunk.length + 64)
    const { delimiter, quote, special, kinds, width } = this
    const nullLength = this.nullMarker.length
    // A rewritten boolean or timestamp that could equal the NULL marker is left to finishField, which quotes it.
    const fastBools = nullLength !== 4 && nullLength !== 5
    const fastInstants = nullLength < 19
    let out = this.out
    let position = this.position
    let inQuotes = this.inQuotes
    let quoted = this.quoted
    let column = this.column
    let fieldStart = this.fieldStart
    let rowStart = this.rowStart
    let rows = this.rows
    const length = chunk.length
    const input = new DataView(chunk.buffer, chunk.byteOffset, length)
    let output = this.outView
    const { delimiters, quotes } = this
    for (let i = 0; i < length; i++) {
      // Most bytes end nothing: four at a time while none of them is special (a byte
      // equal to the delimiter, the quote or a line feed is a zero byte after XOR),
      // then one at a time.
      while (i + 4 <= length) {
        const word = input.getInt32(i, true)
        const d = word ^ delimiters
        const q = word ^ quotes
        const n = word ^ LINE_FEEDS
        if (((((d - 0x01010101) & ~d) | ((q - 0x01010101) & ~q) | ((n - 0x01010101) & ~n)) & 0x80808080) !== 0) break
        output.setInt32(position, word, true)
        position += 4
        i += 4
      }
      if (i === length) break
      let byte = chunk[i]!
      while (special[byte] === 0) {
        out[position++] = byte
        if (++i === length) break
        byte = chunk[i]!
      }
      if (i === length) break
      if (byte === quote) {
        // A doubled quote closes and reopens: the parity of quotes says where fields end.
        inQuotes = !inQuotes
        quoted = true
        out[position++] = byte
        continue
      }
      if (inQuotes) {
        out[position++] = byte
        continue
      }
      const kind = kinds[column]!
      // The common forms are checked and rewritten here, without leaving the loop; the
      // rest, and anything that might equal the NULL marker, in finishField.
      let done = kind === VERBATIM
      const fieldLength = position - fieldStart
      if (!done && !quoted && fieldLength !== nullLength) {
        switch (kind) {
          case TEXT: {
            const first = out[fieldStart]!
            const last = out[position - 1]!
            done = fieldLength === 0 || (first !== SPACE && first !== TAB && last !== SPACE && last !== TAB)
            break
          }
          case DECIMAL: {
            const first = out[fieldStart]!
            done = first !== UPPER_N && first !== UPPER_I && !(first === DASH && out[fieldStart + 1] === UPPER_I)
            break
          }
          case DATE:
            done = fieldLength === 10 && out[fieldStart + 4] === DASH
            break
          case FLOAT: {
            // PostgreSQL writes an exponent as e±NN or e±NNN: an `e` three to five bytes from the end.
            const first = out[fieldStart]!
            done =
              fieldLength > 0 &&
              ((first >= ZERO && first <= NINE) ||
                (first === DASH && !(fieldLength === 2 && out[fieldStart + 1] === ZERO))) &&
              out[position - 3] !== LOWER_E &&
              out[position - 4] !== LOWER_E &&
              out[position - 5] !== LOWER_E
            break
          }
          case BOOL: {
            const value = out[fieldStart]
            if (
              fastBools &&
              fieldLength === 1 &&
              (value === LOWER_T || value === LOWER_F) &&
              position + 4 + length - i <= out.length
            ) {
              const bytes = value === LOWER_T ? TRUE_BYTES : FALSE_BYTES
              for (let k = 0; k < bytes.length; k++) out[fieldStart + k] = bytes[k]!
              position = fieldStart + bytes.length
              done = true
            }
            break
          }
          case TIMESTAMPTZ:
            // 2024-01-02 03:04:05.678+00 → 2024-01-02T03:04:05.678Z
            if (
              fastInstants &&
              fieldLength >= 22 &&
              out[fieldStart + 4] === DASH &&
              out[fieldStart + 10] === SPACE &&
              out[position - 3] === PLUS &&
              out[position - 2] === ZERO &&
              out[position - 1] === ZERO
            ) {
              out[fieldStart + 10] = UPPER_T
              out[position - 3] = UPPER_Z
              position -= 2
              done = true
            }
            break
          case TIMESTAMP:
            // 2024-01-02 03:04:05.678 → 2024-01-02T03:04:05.678 (a BC year ends in "BC")
            if (
              fastInstants &&
              fieldLength >= 19 &&
              out[fieldStart + 4] === DASH &&
              out[fieldStart + 10] === SPACE &&
              out[position - 1] !== UPPER_C
            ) {
              out[fieldStart + 10] = UPPER_T
              done = true
            }
            break
        }
      }
      if (!done) {
        this.position = position
        this.fieldStart = fieldStart
        this.quoted = quoted
        this.column = column
        this.finishField(length - i)
        out = this.out
        output = this.outView
        position = this.position
      }
      out[position++] = byte
      fieldStart = position
      quoted = false
      if (byte === delimiter) {
        if (++column >= width) this.fail(`a row of more than ${width} fields`)
      } else {
        if (column !== width - 1) this.fail(`a row of ${column + 1} fields, where ${width} were asked for`)
        column = 0
        rows++
        rowStart = position
      }
    }
    this.position = position
    this.inQuotes = inQuotes
    this.quoted = quoted
    this.column = column
    this.fieldStart = fieldStart
    this.rowStart = rowStart
    this.rows = rows
    return this.takeRows()
  }

  /** `push` for consecutive chunks: the rows they finish, in chunks worth writing. */
  pushPieces(pieces: ReadonlyArray<Uint8Array>): Array<Uint8Array> {
    const rows: Array<Uint8Array> = []
    for (const piece of pieces) {
      const finished = this.push(piece)
      if (finished !== undefined) rows.push(finished)
    }
    return rows
  }

  /** After the last chunk: the rows not handed out yet. Nothing may be left half read. */
  end(): Uint8Array | undefined {
    if (this.position !== this.rowStart || this.inQuotes) this.fail("the COPY data ended inside a row")
    return this.takeRows(0)
  }

  /**
   * Takes back a chunk this rewriter handed out, once nothing reads it any more; a slab
   * whose chunks have all come back is written into again. Chunks of other origins are
   * ignored.
   */
  recycle(chunk: Uint8Array): void {
    const slab = chunk.buffer
    const out = this.lent.get(slab)
    if (out === undefined) return
    if (out > 1) {
      this.lent.set(slab, out - 1)
      return
    }
    this.lent.delete(slab)
    if (slab !== this.out.buffer) this.keepSpare(slab)
  }

  /** Keeps a slab nothing reads for the next `reserve`, if it is of the usual size and there is room. */
  private keepSpare(slab: ArrayBufferLike): void {
    if (slab.byteLength === SLAB_BYTES && this.spare.length < SPARE_SLABS) this.spare.push(Buffer.from(slab))
  }

  private fail(message: string, column?: string): never {
    throw new CopyDecodeError(column === undefined ? { message } : { column, message })
  }

  /**
   * Room for `extra` more bytes. Output is written into slabs of 1 MiB and handed out
   * as views of them, so that the garbage collector sees one allocation per slab rather
   * than one per chunk; a row cut by the end of a slab moves to the next. A slab whose
   * chunks have come back (`recycle`) is written into again: with a new slab for every
   * MiB, V8 ran 11 to 15 full collections in a 2M-row table's 222 MiB, with four going
   * round 8 or 9.
   */
  private reserve(extra: number): void {
    if (this.position + extra <= this.out.length) return
    const pending = this.position - this.chunkStart
    const size = Math.max(SLAB_BYTES, 2 * (pending + extra))
    const next = (size === SLAB_BYTES ? this.spare.pop() : undefined) ?? Buffer.allocUnsafeSlow(size)
    next.set(this.out.subarray(this.chunkStart, this.position))
    if (!this.lent.has(this.out.buffer)) this.keepSpare(this.out.buffer)
    this.out = next
    this.outView = new DataView(next.buffer, next.byteOffset, next.byteLength)
    this.rowStart -= this.chunkStart
    this.fieldStart -= this.chunkStart
    this.position = pending
    this.chunkStart = 0
  }

  /** The rows finished since the last call, once they make `atLeast` bytes. */
  private takeRows(atLeast = OUTPUT_BYTES): Uint8Array | undefined {
    if (this.rowStart === this.chunkStart || this.rowStart - this.chunkStart < atLeast) return undefined
    const rows = this.out.subarray(this.chunkStart, this.rowStart)
    this.chunkStart = this.rowStart
    this.lent.set(rows.buffer, (this.lent.get(rows.buffer) ?? 0) + 1)
    return rows
  }

  /** Rewrites the field in `out[fieldStart, position)`; `remaining` input bytes may still follow in this chunk. */
  private finishField(remaining: number): void {
    const kind = this.kinds[this.column]!
    const start = this.fieldStart
    const length = this.position - start
    const out = this.out
    if (!this.quoted) {
      if (this.isNullMarker(start, length)) return
      // Booleans and timestamps come here only when their rewrite could equal the NULL
      // marker or the slab is full: rewriteSlowly quotes and makes room.
      switch (kind) {
        case TEXT: {
          if (length > 0) {
            const first = out[start]!
            const last = out[start + length - 1]!
            if (first === SPACE || first === TAB || last === SPACE || last === TAB) this.quoteField(remaining)
          }
          return
        }
        case DATE: {
          if (length === 10 && out[start + 4] === DASH) return
          break
        }
        case DECIMAL: {
          const first = out[start]!
          if (first !== UPPER_N && first !== UPPER_I && !(first === DASH && out[start + 1] === UPPER_I)) return
          break
        }
        case FLOAT: {
          if (this.plainFloat(start, length)) return
          break
        }
      }
    } else if (kind === TEXT) {
      // `"\."`, which PostgreSQL quotes in a one-column file only.
      if (
        this.singleText &&
        length === 4 &&
        out[start + 1] === BACKSLASH &&
        out[start + 2] === DOT &&
        out[start + 3] === this.quote
      ) {
        this.replaceField([BACKSLASH, DOT], remaining)
      }
      return
    } else if (kind === DECIMAL || kind === DATE) {
      return
    }
    this.rewriteSlowly(kind, remaining)
  }

  /**
   * A double PostgreSQL printed in fixed notation (no exponent) and that is not `-0`:
   * both print the shortest digits that read back as the same double, and JavaScript
   * uses fixed notation over a wider range than PostgreSQL (1e-6 to 1e21 against 1e-4
   * to 1e15), so the text is the same.
   */
  private plainFloat(start: number, length: number): boolean {
    const out = this.out
    if (length === 0) return false
    const first = out[start]!
    if (first !== DASH && (first < ZERO || first > 0x39)) return false
    if (first === DASH && length === 2 && out[start + 1] === ZERO) return false
    for (let k = start; k < start + length; k++) if (out[k] === LOWER_E) return false
    return true
  }

  private isNullMarker(start: number, length: number): boolean {
    const marker = this.nullMarker
    if (length !== marker.length) return false
    for (let k = 0; k < length; k++) if (this.out[start + k] !== marker[k]) return false
    return true
  }

  /** Replaces the field with `bytes`. */
  private replaceField(bytes: ReadonlyArray<number> | Uint8Array, remaining: number): void {
    this.reserve(bytes.length + remaining + 64)
    const out = this.out
    const start = this.fieldStart
    for (let k = 0; k < bytes.length; k++) out[start + k] = bytes[k]!
    this.position = start + bytes.length
  }

  /** Quotes an unquoted field that needs no doubling (it holds no quote, or PostgreSQL would have quoted it). */
  private quoteField(remaining: number): void {
    this.reserve(2 + remaining + 64)
    const out = this.out
    const start = this.fieldStart
    out.copyWithin(start + 1, start, this.position)
    out[start] = this.quote
    this.position += 1
    out[this.position++] = this.quote
  }

  /** The field's value: its text unquoted. */
  private fieldText(): string {
    const bytes = this.out.subarray(this.fieldStart, this.position)
    if (!this.quoted) return decoder.decode(bytes)
    const quote = String.fromCharCode(this.quote)
    return decoder.decode(bytes.subarray(1, bytes.length - 1)).replaceAll(quote + quote, quote)
  }

  /** Rewrites a field through its text: the rare forms (BC years, exponents, infinities, odd NULL markers). */
  private rewriteSlowly(kind: number, remaining: number): void {
    const column = this.names[this.column]!
    const text = this.fieldText()
    let ferry: string
    switch (kind) {
      case BOOL:
        if (text !== "t" && text !== "f") this.fail(`"${text}" is not a boolean`, column)
        ferry = text === "t" ? "true" : "false"
        break
      case FLOAT: {
        const value = Number(text)
        if (Number.isNaN(value) && text !== "NaN") this.fail(`"${text}" is not a number`, column)
        ferry = Number.isNaN(value) ? "NaN" : String(value)
        break
      }
      case DECIMAL:
        this.fail(`holds ${text}, which a decimal cannot carry`, column)
        break
      case DATE:
        ferry = this.dateText(text, column)
        break
      default:
        ferry = this.timestampText(text, kind === TIMESTAMPTZ, column)
    }
    // In a rewritable dialect Ferry quotes these types' text only when it equals the NULL marker.
    const quoted = ferry === this.nullText
    const quote = String.fromCharCode(this.quote)
    const field = quoted ? quote + ferry.replaceAll(quote, quote + quote) + quote : ferry
    this.replaceField(encoder.encode(field), remaining)
  }

  private dateText(text: string, column: string): string {
    if (text === "infinity" || text === "-infinity") {
      this.fail(
        `holds ${text}, which a date cannot carry; filter it out or read the table through a query that maps it`,
        column
      )
    }
    const match = DATE_TEXT.exec(text)
    if (match === null) this.fail(`"${text}" is not a date`, column)
    return `${yearText(astronomicalYear(match[1]!, match[3] !== undefined))}-${match[2]}`
  }

  private timestampText(text: string, zoned: boolean, column: string): string {
    if (text === "infinity" || text === "-infinity") {
      this.fail(
        `holds ${text}, which a timestamp cannot carry; filter it out or read the table through a query that maps it`,
        column
      )
    }
    const match = TIMESTAMP_TEXT.exec(text)
    if (match === null || (match[4] !== undefined) !== zoned) this.fail(`"${text}" is not a timestamp`, column)
    const year = astronomicalYear(match[1]!, match[5] !== undefined)
    const rest = `${match[2]} ${match[3]}`
    if (year > LAST_MICROSECOND_YEAR || (year === LAST_MICROSECOND_YEAR && padFraction(rest) > LAST_MICROSECOND_REST)) {
      this.fail(
        "holds an instant after 294247-01-10T04:00:54.775807Z, the last a timestamp in microseconds can carry",
        column
      )
    }
    return `${yearText(year)}-${match[2]}T${match[3]}${zoned ? "Z" : ""}`
  }
}

/** A few rows that take every path of `push` but the move to the next slab. */
const PRIMING_ROWS = [
  '1," x",t,1.5,2.50,2000-01-02,2023-11-14 22:13:21.000003,2023-11-14 22:13:21.000003+00',
  '2,"a""b",f,-1e+20,-0.01,0044-03-15 BC,0044-03-15 12:00:00 BC,2262-04-11 23:47:16.854775+00',
  "3,plain,t,-0,1.00,2000-01-01,2000-01-01 00:00:00,2000-01-01 00:00:00+00",
  ",,,,,,,",
  ""
].join("\n")

let primed = false

/**
 * Runs throwaway rewriters over `PRIMING_ROWS` in small pieces before the first real
 * one. V8 compiles `push` while the first chunk goes through it, from the paths taken
 * so far, and throws the code away each time another path comes (a quoted field, a BC
 * date, the end of a chunk): 6 to 11 compilations of 20 to 30 ms in a 2M-row table's
 * run, on a core the server needs, against 2 to 6 once every path has been taken.
 */
const prime = (): void => {
  const fields = Object.keys(KIND_CODES).map((kind) => ({ name: kind, kind: kind as CsvFieldKind }))
  const bytes = Buffer.from(PRIMING_ROWS.repeat(8))
  for (let round = 0; round < 3; round++) {
    const rewriter = new CopyCsvRewriter(fields, { delimiter: ",", quote: '"', null: "" })
    for (let at = 0; at < bytes.length; at += 97) rewriter.push(bytes.subarray(at, at + 97))
    rewriter.end()
  }
}
