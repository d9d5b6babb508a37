/**
 * Infers the logical type of a column of text values (a CSV column) from a sample.
 * Each value rules out the types it cannot be; the narrowest type left wins. A type
 * is only chosen when every sampled value reads back as the same text, so numbers
 * with leading zeros (postcodes, account numbers) and integers beyond int64 stay utf8;
 * declaring the column's type reads them as that type.
 */
import * as Either from "effect/Either"
import type { LogicalType } from "../../../core/Types.js"
import { parseText, parseTimestamp } from "../../../core/Values.js"

const BOOL = 1
const INT = 2
const FLOAT = 4
const DATE = 8
const TIMESTAMP = 16
const ALL = BOOL | INT | FLOAT | DATE | TIMESTAMP

const BOOL_TEXT = /^(?:true|false)$/i
const INTEGER_TEXT = /^[+-]?(?:0|[1-9]\d*)$/
const FLOAT_TEXT = /^[+-]?(?:(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)$/
const FLOAT_WORD = /^(?:[+-]?(?:inf|infinity)|nan)$/i
const DATE_TEXT = /^\d{4}-\d{2}-\d{2}$/
const TIMESTAMP_TEXT = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}/
const OFFSET_TEXT = /(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$/

export class ColumnSniffer {
  private candidates = ALL
  private values = 0
  private zoned = false
  private naive = false
  private nanos = false

  observe(text: string): void {
    this.values++
    let candidates = this.candidates
    if (candidates & BOOL && !BOOL_TEXT.test(text)) candidates &= ~BOOL
    const integer = INTEGER_TEXT.test(text)
    const int64 = integer && Either.isRight(parseText({ kind: "int64" }, text))
    if (!int64) candidates &= ~INT
    // An integer beyond int64 would lose digits as a float: it stays text unless declared.
    if (candidates & FLOAT && ((integer && !int64) || !(FLOAT_TEXT.test(text) || FLOAT_WORD.test(text)))) {
      candidates &= ~FLOAT
    }
    if (candidates & DATE && !(DATE_TEXT.test(text) && Either.isRight(parseText({ kind: "date" }, text)))) {
      candidates &= ~DATE
    }
    if (candidates & TIMESTAMP && !this.observeTimestamp(text)) candidates &= ~TIMESTAMP
    this.candidates = candidates
  }

  private observeTimestamp(text: string): boolean {
    const isDate = DATE_TEXT.test(text)
    if (!isDate && !TIMESTAMP_TEXT.test(text)) return false
    const zoned = !isDate && OFFSET_TEXT.test(text.slice(16))
    if (zoned ? this.naive : this.zoned) return false
    if (Either.isLeft(parseTimestamp(text, "us", zoned))) {
      if (Either.isLeft(parseTimestamp(text, "ns", zoned))) return false
      this.nanos = true
    }
    if (zoned) this.zoned = true
    else this.naive = true
    return true
  }

  /** The inferred type; a column without a single value is utf8. */
  type(): LogicalType {
    const candidates = this.candidates
    if (this.values === 0) return { kind: "utf8" }
    if (candidates & BOOL) return { kind: "bool" }
    if (candidates & INT) return { kind: "int64" }
    if (candidates & FLOAT) return { kind: "float64" }
    if (candidates & DATE) return { kind: "date" }
    if (candidates & TIMESTAMP)
      return { kind: "timestamp", unit: this.nanos ? "ns" : "us", timeZone: this.zoned ? "UTC" : null }
    return { kind: "utf8" }
  }
}
