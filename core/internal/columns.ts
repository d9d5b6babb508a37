/**
 * Direct access to the buffers of one column's Arrow data, for the per-row loops of
 * filters, casts and cursors. Arrow slices cut value and offset buffers themselves and
 * keep `data.offset` for the bit-packed validity buffer only.
 */
import type * as Arrow from "apache-arrow"
import type { LogicalType } from "../Types.js"

export type NumberArray = Int8Array | Int16Array | Int32Array | Float32Array | Float64Array
export type RawArray = NumberArray | BigInt64Array

/**
 * The value buffer of a column whose canonical values (core/Values) are its buffer's
 * elements: numbers for int8/16/32, floats and dates, bigints for int64, time and timestamp.
 */
export const rawValues = (type: LogicalType, data: Arrow.Data): RawArray | undefined => {
  switch (type.kind) {
    case "int8":
    case "int16":
    case "int32":
    case "int64":
    case "float32":
    case "float64":
    case "date":
    case "time":
    case "timestamp":
      return data.values as RawArray
    default:
      return undefined
  }
}

/** A new value buffer for `length` values of a column type `rawValues` reads. */
export const newRawArray = (type: LogicalType, length: number): RawArray | undefined => {
  switch (type.kind) {
    case "int8":
      return new Int8Array(length)
    case "int16":
      return new Int16Array(length)
    case "int32":
    case "date":
      return new Int32Array(length)
    case "int64":
    case "time":
    case "timestamp":
      return new BigInt64Array(length)
    case "float32":
      return new Float32Array(length)
    case "float64":
      return new Float64Array(length)
    default:
      return undefined
  }
}

/** The validity bitmap when the column has nulls (bit `data.offset + i` is row i). */
export const nullBits = (data: Arrow.Data): Uint8Array | undefined => {
  if (data.nullCount === 0) return undefined
  const bits = data.nullBitmap as Uint8Array | undefined
  return bits === undefined || bits.length === 0 ? undefined : bits
}

export const isSet = (bits: Uint8Array, bit: number): boolean => (bits[bit >> 3]! & (1 << (bit & 7))) !== 0

/** The column's validity realigned to start at bit 0, for new data of the same rows. */
export const copyValidity = (data: Arrow.Data, length: number): { nullBitmap?: Uint8Array; nullCount: number } => {
  const bits = nullBits(data)
  if (bits === undefined) return { nullCount: 0 }
  const offset = data.offset
  if ((offset & 7) === 0) {
    const start = offset >> 3
    return { nullBitmap: bits.slice(start, start + ((length + 7) >> 3)), nullCount: data.nullCount }
  }
  const out = new Uint8Array((length + 7) >> 3)
  for (let i = 0; i < length; i++) if (isSet(bits, offset + i)) out[i >> 3]! |= 1 << (i & 7)
  return { nullBitmap: out, nullCount: data.nullCount }
}

const decoder = new TextDecoder()

/**
 * UTF-8 bytes as a string. Short ASCII runs, the bulk of keys and codes, are built
 * directly: a TextDecoder call costs more than the characters themselves.
 */
export const decodeUtf8 = (bytes: Uint8Array, start: number, end: number): string => {
  if (end - start > 32) return decoder.decode(bytes.subarray(start, end))
  let text = ""
  for (let i = start; i < end; i++) {
    const byte = bytes[i]!
    if (byte >= 0x80) return decoder.decode(bytes.subarray(start, end))
    text += String.fromCharCode(byte)
  }
  return text
}

const TWO_32 = 4294967296

/** A Decimal128's unscaled value; values within ±2^53 (most of them) skip the 128-bit assembly. */
export const readDecimalAt = (words: Uint32Array, row: number): bigint => {
  const base = row * 4
  const low = words[base]!
  const middle = words[base + 1]!
  const high = words[base + 2]!
  const top = words[base + 3]!
  if (top === 0 && high === 0 && middle < 0x200000) return BigInt(middle * TWO_32 + low)
  if (top === 0xffffffff && high === 0xffffffff && middle >= 0xffe00000) {
    return BigInt((middle - TWO_32) * TWO_32 + low)
  }
  let value = 0n
  for (let w = 3; w >= 0; w--) value = (value << 32n) | BigInt(words[base + w]!)
  return BigInt.asIntN(128, value)
}

const SAFE_LIMIT = 2n ** 53n

/** Stores an unscaled value as Decimal128's four little-endian two's complement words. */
export const writeDecimalAt = (words: Uint32Array, row: number, value: bigint): void => {
  const base = row * 4
  if (value < SAFE_LIMIT && value > -SAFE_LIMIT) {
    const n = Number(value)
    words[base] = n >>> 0
    words[base + 1] = Math.floor(n / TWO_32) >>> 0
    const sign = n < 0 ? 0xffffffff : 0
    words[base + 2] = sign
    words[base + 3] = sign
    return
  }
  let rest = BigInt.asUintN(128, value)
  for (let w = 0; w < 4; w++) {
    words[base + w] = Number(rest & 0xffffffffn)
    rest >>= 32n
  }
}
