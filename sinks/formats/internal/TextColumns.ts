/**
 * The text form of each value of a column (core/Values' `formatText`), read straight
 * from the Arrow buffers. Writing a text format is mostly this, and the generic
 * readers build a bigint for every decimal (four words) and timestamp, and decode
 * strings one TextDecoder call at a time: here values within ±2^53 go through plain
 * numbers, strings through one Buffer view, and the rest through the generic path.
 */
import type * as Arrow from "apache-arrow"
import { makeColumnReader } from "../../../core/Batch.js"
import type { LogicalType } from "../../../core/Types.js"
import { formatDate, formatText, formatTime, formatTimestamp } from "../../../core/Values.js"

/** The text of the value in `row`, or null when it is NULL. */
export type TextReader = (row: number) => string | null

const TWO_32 = 4_294_967_296
/** The high word of a 64-bit integer whose magnitude stays below 2^53. */
const MAX_SAFE_HIGH = 2_097_152

const floatText = (value: number): string => (Number.isNaN(value) ? "NaN" : String(value))

/** Reads the little-endian 64-bit integers of a buffer as numbers; `undefined` beyond ±2^53. */
const int64Numbers = (values: BigInt64Array) => {
  const words = new Int32Array(values.buffer, values.byteOffset, values.length * 2)
  return (row: number): number | undefined => {
    const high = words[row * 2 + 1]!
    if (high >= MAX_SAFE_HIGH || high < -MAX_SAFE_HIGH) return undefined
    return high * TWO_32 + (words[row * 2]! >>> 0)
  }
}

const decimalText = (unscaled: number, scale: number): string => {
  if (scale === 0) return String(unscaled)
  const negative = unscaled < 0
  const digits = String(negative ? -unscaled : unscaled).padStart(scale + 1, "0")
  const point = digits.length - scale
  return `${negative ? "-" : ""}${digits.slice(0, point)}.${digits.slice(point)}`
}

const valueText = (type: LogicalType, data: Arrow.Data): ((row: number) => string) => {
  switch (type.kind) {
    case "int8":
    case "int16":
    case "int32": {
      const values = data.values as Int8Array | Int16Array | Int32Array
      return (row) => String(values[row]!)
    }
    case "float32":
    case "float64": {
      const values = data.values as Float32Array | Float64Array
      return (row) => floatText(values[row]!)
    }
    case "date": {
      const values = data.values as Int32Array
      return (row) => formatDate(values[row]!)
    }
    case "int64": {
      // V8 prints a small bigint faster than a double of the same digits.
      const values = data.values as BigInt64Array
      return (row) => String(values[row]!)
    }
    case "time": {
      const values = data.values as BigInt64Array
      const read = int64Numbers(values)
      return (row) => formatTime(read(row) ?? values[row]!)
    }
    case "timestamp": {
      const values = data.values as BigInt64Array
      const read = int64Numbers(values)
      const { unit } = type
      const zoned = type.timeZone !== null
      return (row) => formatTimestamp(read(row) ?? values[row]!, unit, zoned)
    }
    case "decimal": {
      const words = data.values as Uint32Array
      const slow = makeColumnReader(type, data)
      const { scale } = type
      return (row) => {
        const base = row * 4
        const high = words[base + 1]! | 0
        const sign = high < 0 ? 0xffffffff : 0
        if (words[base + 3] === sign && words[base + 2] === sign && high < MAX_SAFE_HIGH && high >= -MAX_SAFE_HIGH) {
          return decimalText(high * TWO_32 + words[base]!, scale)
        }
        return formatText(type, slow(row)!)
      }
    }
    case "bool": {
      const bits = data.values as Uint8Array
      const offset = data.offset
      return (row) => ((bits[(offset + row) >> 3]! & (1 << ((offset + row) & 7))) !== 0 ? "true" : "false")
    }
    case "utf8":
    case "json": {
      const offsets = data.valueOffsets as Int32Array
      const bytes = data.values as Uint8Array
      const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      return (row) => buffer.toString("utf8", offsets[row]!, offsets[row + 1]!)
    }
    default: {
      const read = makeColumnReader(type, data)
      return (row) => formatText(type, read(row)!)
    }
  }
}

/** A reader of the text form of a column's values (see `formatText`). */
export const textReader = (type: LogicalType, data: Arrow.Data): TextReader => {
  const text = valueText(type, data)
  const bitmap = data.nullBitmap
  if (data.nullCount === 0 || bitmap === undefined || bitmap.length === 0) return text
  const offset = data.offset
  return (row) => ((bitmap[(offset + row) >> 3]! & (1 << ((offset + row) & 7))) !== 0 ? text(row) : null)
}
