/**
 * A JSON scanner that keeps numbers as their source text, so int64 and decimals reach
 * their columns with every digit (`JSON.parse` rounds anything beyond 2^53 to a
 * double). It reads one object per line and hands over its members' values as text
 * spans; nested objects and arrays are skipped over and kept as raw text, to be
 * parsed only when a column wants them.
 */

export const STRING = 1
export const NUMBER = 2
export const TRUE = 3
export const FALSE = 4
export const NULL = 5
/** An object or an array, kept as its raw text. */
export const NESTED = 6

export type JsonKind = typeof STRING | typeof NUMBER | typeof TRUE | typeof FALSE | typeof NULL | typeof NESTED

const QUOTE = 34
const BACKSLASH = 92
const COMMA = 44
const COLON = 58
const OPEN_BRACE = 123
const CLOSE_BRACE = 125
const OPEN_BRACKET = 91
const CLOSE_BRACKET = 93
const MINUS = 45
const PLUS = 43
const DOT = 46
const ZERO = 48
const NINE = 57

const isDigit = (code: number) => code >= ZERO && code <= NINE

/** A value read by `Cursor.value`: its kind and text (decoded string, number text, or raw JSON). */
export class Cursor {
  text = ""
  pos = 0
  kind: JsonKind = NULL
  value = ""
  error: string | undefined

  reset(text: string): this {
    this.text = text
    this.pos = 0
    this.error = undefined
    return this
  }

  fail(message: string): false {
    if (this.error === undefined) this.error = `${message} at character ${this.pos + 1}`
    return false
  }

  skipSpace(): void {
    const text = this.text
    let pos = this.pos
    for (;;) {
      const code = text.charCodeAt(pos)
      if (code === 32 || code === 9 || code === 10 || code === 13) pos++
      else break
    }
    this.pos = pos
  }

  /** At end of text once trailing whitespace is skipped. */
  atEnd(): boolean {
    this.skipSpace()
    return this.pos >= this.text.length
  }

  expect(code: number, what: string): boolean {
    this.skipSpace()
    if (this.text.charCodeAt(this.pos) !== code) return this.fail(`expected ${what}`)
    this.pos++
    return true
  }

  /** Reads a string starting at the opening quote; sets `value` to its decoded text. */
  string(): boolean {
    const text = this.text
    const start = this.pos
    let pos = start + 1
    let escaped = false
    for (;;) {
      const code = text.charCodeAt(pos)
      if (code === QUOTE) break
      if (code === BACKSLASH) {
        escaped = true
        pos += 2
        continue
      }
      if (code < 32 || Number.isNaN(code)) {
        this.pos = pos
        return this.fail(Number.isNaN(code) ? "unterminated string" : "control character in a string")
      }
      pos++
    }
    this.pos = pos + 1
    if (!escaped) {
      this.value = text.slice(start + 1, pos)
      return true
    }
    try {
      this.value = JSON.parse(text.slice(start, pos + 1)) as string
      return true
    } catch {
      this.pos = start
      return this.fail("invalid escape in a string")
    }
  }

  /** Reads a number as its source text, checked against JSON's grammar. */
  number(): boolean {
    const text = this.text
    const start = this.pos
    let pos = start
    if (text.charCodeAt(pos) === MINUS) pos++
    const first = text.charCodeAt(pos)
    if (first === ZERO) pos++
    else if (isDigit(first)) while (isDigit(text.charCodeAt(pos))) pos++
    else return this.fail("invalid number")
    if (text.charCodeAt(pos) === DOT) {
      pos++
      if (!isDigit(text.charCodeAt(pos))) return this.fail("invalid number")
      while (isDigit(text.charCodeAt(pos))) pos++
    }
    const e = text.charCodeAt(pos)
    if (e === 101 || e === 69) {
      pos++
      const sign = text.charCodeAt(pos)
      if (sign === PLUS || sign === MINUS) pos++
      if (!isDigit(text.charCodeAt(pos))) return this.fail("invalid number")
      while (isDigit(text.charCodeAt(pos))) pos++
    }
    this.pos = pos
    this.kind = NUMBER
    this.value = text.slice(start, pos)
    return true
  }

  private literal(word: string, kind: JsonKind): boolean {
    if (!this.text.startsWith(word, this.pos)) return this.fail("invalid value")
    this.pos += word.length
    this.kind = kind
    return true
  }

  /** The position after the string opening at `start`, or -1 when it does not close. */
  private skipString(start: number): number {
    const text = this.text
    let pos = start + 1
    for (;;) {
      const code = text.charCodeAt(pos)
      if (code === QUOTE) return pos + 1
      if (code === BACKSLASH) pos += 2
      else if (Number.isNaN(code)) {
        this.pos = start
        this.fail("unterminated string")
        return -1
      } else pos++
    }
  }

  /** Skips an object or array, keeping its raw text; structure is checked only as far as nesting and strings. */
  private nested(): boolean {
    const text = this.text
    const start = this.pos
    let depth = 0
    let pos = start
    for (;;) {
      const code = text.charCodeAt(pos)
      if (Number.isNaN(code)) {
        this.pos = pos
        return this.fail("unterminated object or array")
      }
      if (code === QUOTE) {
        pos = this.skipString(pos)
        if (pos < 0) return false
        continue
      }
      if (code === OPEN_BRACE || code === OPEN_BRACKET) depth++
      else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) {
        depth--
        if (depth === 0) break
      }
      pos++
    }
    this.pos = pos + 1
    this.kind = NESTED
    this.value = text.slice(start, pos + 1)
    return true
  }

  /** Reads any value at the cursor, after whitespace. */
  read(): boolean {
    this.skipSpace()
    const code = this.text.charCodeAt(this.pos)
    if (code === QUOTE) {
      this.kind = STRING
      return this.string()
    }
    if (code === MINUS || isDigit(code)) return this.number()
    if (code === OPEN_BRACE || code === OPEN_BRACKET) return this.nested()
    if (code === 116) return this.literal("true", TRUE)
    if (code === 102) return this.literal("false", FALSE)
    if (code === 110) return this.literal("null", NULL)
    return this.fail(Number.isNaN(code) ? "unexpected end of the line" : "invalid value")
  }

  /**
   * Reads one object, handing each member to `member` as (key, kind, value). Returns
   * false with `error` set when the text is not exactly one JSON object.
   */
  object(member: (key: string, kind: JsonKind, value: string) => void): boolean {
    if (!this.expect(OPEN_BRACE, "a JSON object")) return false
    this.skipSpace()
    if (this.text.charCodeAt(this.pos) === CLOSE_BRACE) {
      this.pos++
      return this.atEnd() || this.fail("unexpected text after the object")
    }
    for (;;) {
      this.skipSpace()
      if (this.text.charCodeAt(this.pos) !== QUOTE) return this.fail("expected a quoted key")
      if (!this.string()) return false
      const key = this.value
      if (!this.expect(COLON, '":"')) return false
      if (!this.read()) return false
      member(key, this.kind, this.value)
      this.skipSpace()
      const next = this.text.charCodeAt(this.pos)
      this.pos++
      if (next === COMMA) continue
      if (next === CLOSE_BRACE) break
      this.pos--
      return this.fail('expected "," or "}"')
    }
    return this.atEnd() || this.fail("unexpected text after the object")
  }

  /** Reads one array, handing each element to `element` as (kind, value). */
  array(element: (kind: JsonKind, value: string) => boolean): boolean {
    if (!this.expect(OPEN_BRACKET, "a JSON array")) return false
    this.skipSpace()
    if (this.text.charCodeAt(this.pos) === CLOSE_BRACKET) {
      this.pos++
      return true
    }
    for (;;) {
      if (!this.read()) return false
      if (!element(this.kind, this.value)) return false
      this.skipSpace()
      const next = this.text.charCodeAt(this.pos)
      this.pos++
      if (next === COMMA) continue
      if (next === CLOSE_BRACKET) return true
      this.pos--
      return this.fail('expected "," or "]"')
    }
  }
}

/** A JSON number's text has a fraction or an exponent. */
export const isFractional = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code === DOT || code === 101 || code === 69) return true
  }
  return false
}
