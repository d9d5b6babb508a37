/**
 * Arrow batches as PostgreSQL's COPY BINARY stream: a header, then per row a field
 * count and each field as a 32-bit length (-1 for NULL) and the value in the type's
 * binary send format, then a trailer. Values are read straight from the Arrow buffers
 * and written big-endian into one growing buffer per batch; int64s, times and most
 * timestamps are moved as two 32-bit halves, so the common path makes no bigints.
 *
 * The formats are PostgreSQL's `*_recv` functions: int2/int4/int8, float4/float8,
 * bool (one byte), text and json (UTF-8 bytes), jsonb (a version byte 1, then the
 * text), bytea (the bytes), uuid (16 bytes), date (days since 2000-01-01, int32),
 * time (microseconds of the day, int64), timestamp and timestamptz (microseconds since
 * 2000-01-01, int64), numeric (base-10000 digits with a weight, a sign and a display
 * scale) and one-dimensional arrays (ndim, a has-nulls flag, the element type's OID,
 * the length and lower bound, then the elements as fields).
 */
import type * as Arrow from "apache-arrow"
import type { Batch } from "../../../core/Batch.js"
import type { Column, LogicalType } from "../../../core/Types.js"
import { formatDate, formatTimestamp } from "../../../core/Values.js"

/** How a json column is stored: PostgreSQL's two JSON types have different binary formats. */
export type JsonStorage = "json" | "jsonb"

export interface CopyColumn {
  readonly column: Column
  /** For json columns and lists of json: the PostgreSQL type of the column. */
  readonly json: JsonStorage
}

/** A value that PostgreSQL cannot hold exactly, with the column it is in. */
export class EncodeFailure {
  constructor(
    readonly column: string,
    readonly message: string
  ) {}
}

/** `PGCOPY\n\377\r\n\0`, no flags, no header extension. */
export const COPY_BINARY_HEADER = new Uint8Array([
  0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0
])

/** A field count of -1 ends the data. */
export const COPY_BINARY_TRAILER = new Uint8Array([0xff, 0xff])

/** PostgreSQL's epoch, 2000-01-01, in days and microseconds after the Unix epoch. */
const PG_EPOCH_DAYS = 10_957
const PG_EPOCH_MICROS = 946_684_800_000_000
const PG_EPOCH_MICROS_BIG = 946_684_800_000_000n

/** The range of PostgreSQL dates (4714-11-24 BC to 5874897-12-31), in days since 1970-01-01. */
const MIN_DATE_DAYS = -2_440_588
const END_DATE_DAYS = 2_145_042_906
/** The range of PostgreSQL timestamps (4714-11-24 BC to 294276-12-31), in microseconds since 2000-01-01. */
const MIN_TIMESTAMP = -211_813_488_000_000_000n
const END_TIMESTAMP = 9_223_371_331_200_000_000n

const TWO_32 = 4_294_967_296
/** Numbers below this in magnitude stay exact through the unit conversions and the epoch shift. */
const SAFE_FAST = 2 ** 52

const NUMERIC_NEG = 0x4000

/** OIDs of the element types of arrays (PostgreSQL's pg_type.dat). */
const ELEMENT_OIDS: Partial<Record<LogicalType["kind"], number>> = {
  int8: 21,
  int16: 21,
  int32: 23,
  int64: 20,
  float32: 700,
  float64: 701,
  decimal: 1700,
  bool: 16,
  utf8: 25,
  binary: 17,
  uuid: 2950,
  date: 1082,
  time: 1083
}

export const elementOid = (type: LogicalType, json: JsonStorage): number | undefined =>
  type.kind === "json"
    ? json === "jsonb"
      ? 3802
      : 114
    : type.kind === "timestamp"
      ? type.timeZone === null
        ? 1114
        : 1184
      : ELEMENT_OIDS[type.kind]

/** The output of one batch: a buffer that doubles when a value does not fit. */
class Output {
  bytes: Uint8Array
  view: DataView
  pos = 0

  constructor(capacity: number) {
    this.bytes = new Uint8Array(capacity)
    this.view = new DataView(this.bytes.buffer)
  }

  ensure(extra: number): void {
    const needed = this.pos + extra
    if (needed <= this.bytes.length) return
    let capacity = this.bytes.length * 2
    while (capacity < needed) capacity *= 2
    const next = new Uint8Array(capacity)
    next.set(this.bytes.subarray(0, this.pos))
    this.bytes = next
    this.view = new DataView(next.buffer)
  }

  int16(value: number): void {
    this.view.setInt16(this.pos, value)
    this.pos += 2
  }

  int32(value: number): void {
    this.view.setInt32(this.pos, value)
    this.pos += 4
  }

  /** A signed 64-bit value given as its high (signed) and low (unsigned) 32-bit halves. */
  int64(high: number, low: number): void {
    this.view.setInt32(this.pos, high)
    this.view.setUint32(this.pos + 4, low)
    this.pos += 8
  }

  /** A safe integer as an int64. */
  int64Number(value: number): void {
    const high = Math.floor(value / TWO_32)
    this.int64(high, value - high * TWO_32)
  }
}

/** Writes the field of row `index` (length and value, or -1): one per column and per list element type. */
type FieldWriter = (out: Output, index: number) => EncodeFailure | undefined

const isSet = (bits: Uint8Array, bit: number): boolean => (bits[bit >> 3]! & (1 << (bit & 7))) !== 0

const nullBitsOf = (data: Arrow.Data): Uint8Array | undefined => {
  if (data.nullCount === 0) return undefined
  const bits = data.nullBitmap as Uint8Array | undefined
  return bits === undefined || bits.length === 0 ? undefined : bits
}

/** 64-bit values as 32-bit halves (little-endian: low word first), so that reading them makes no bigint. */
const halvesOf = (values: BigInt64Array): Int32Array =>
  new Int32Array(values.buffer, values.byteOffset, values.length * 2)

const microsPerUnit = { s: 1_000_000, ms: 1_000, us: 1, ns: 1 } as const

/**
 * Timestamps in `unit` since 1970 as microseconds since 2000. Values within ±2^52 of
 * the unit (about 142 years around 1970 for microseconds) are converted with doubles;
 * the rest, and every nanosecond value, with bigints and a range check.
 */
const timestampWriter = (
  name: string,
  unit: "s" | "ms" | "us" | "ns",
  zoned: boolean,
  values: BigInt64Array
): ((out: Output, index: number) => EncodeFailure | undefined) => {
  const halves = halvesOf(values)
  const multiplier = microsPerUnit[unit]
  const outOfRange = (value: bigint) =>
    new EncodeFailure(
      name,
      `${formatTimestamp(value, unit, zoned)} is outside the range of PostgreSQL timestamps (4714 BC to 294276 AD)`
    )
  const slow = (out: Output, index: number): EncodeFailure | undefined => {
    const value = values[index]!
    let micros: bigint
    if (unit === "ns") {
      if (value % 1000n !== 0n) {
        return new EncodeFailure(
          name,
          `${formatTimestamp(value, unit, zoned)} has nanoseconds, and PostgreSQL keeps microseconds`
        )
      }
      micros = value / 1000n
    } else {
      micros = value * BigInt(multiplier)
    }
    const shifted = micros - PG_EPOCH_MICROS_BIG
    if (shifted < MIN_TIMESTAMP || shifted >= END_TIMESTAMP) return outOfRange(value)
    out.ensure(12)
    out.int32(8)
    out.view.setBigInt64(out.pos, shifted)
    out.pos += 8
    return undefined
  }
  if (unit === "ns") return slow
  return (out, index) => {
    const high = halves[index * 2 + 1]!
    if (high >= -0x100000 && high < 0x100000) {
      const micros = (high * TWO_32 + (halves[index * 2]! >>> 0)) * multiplier
      if (micros > -SAFE_FAST && micros < SAFE_FAST) {
        out.ensure(12)
        out.int32(8)
        out.int64Number(micros - PG_EPOCH_MICROS)
        return undefined
      }
    }
    return slow(out, index)
  }
}

/**
 * A Decimal128 as PostgreSQL numeric. The unscaled value is cut into base-10000 digits
 * aligned on the decimal point: the lowest group takes the scale's remainder digits,
 * padded with zeros, so that the fraction is a whole number of groups.
 */
const decimalWriter = (scale: number, words: Uint32Array) => {
  const pad = (4 - (scale % 4)) % 4
  const fractionGroups = (scale + pad) / 4
  const firstModulus = 10 ** (4 - pad)
  const firstFactor = 10 ** pad
  const firstModulusBig = BigInt(firstModulus)
  // 38 digits and a padded group make at most 11 groups; reused for every value.
  const groups = new Int16Array(12)
  let count = 0

  const collectNumber = (magnitude: number): void => {
    groups[0] = (magnitude % firstModulus) * firstFactor
    count = 1
    let rest = Math.floor(magnitude / firstModulus)
    while (rest > 0) {
      groups[count++] = rest % 10_000
      rest = Math.floor(rest / 10_000)
    }
  }

  const collectBigint = (magnitude: bigint): void => {
    groups[0] = Number(magnitude % firstModulusBig) * firstFactor
    count = 1
    let rest = magnitude / firstModulusBig
    while (rest > 0n) {
      groups[count++] = Number(rest % 10_000n)
      rest /= 10_000n
    }
  }

  return (out: Output, index: number): undefined => {
    const base = index * 4
    const low = words[base]!
    const middle = words[base + 1]!
    const high = words[base + 2]!
    const top = words[base + 3]!
    let negative = false
    if (top === 0 && high === 0 && middle < 0x200000) {
      collectNumber(middle * TWO_32 + low)
    } else if (top === 0xffffffff && high === 0xffffffff && middle >= 0xffe00000) {
      negative = true
      collectNumber(-((middle - TWO_32) * TWO_32 + low))
    } else {
      let value = 0n
      for (let w = 3; w >= 0; w--) value = (value << 32n) | BigInt(words[base + w]!)
      const signed = BigInt.asIntN(128, value)
      negative = signed < 0n
      collectBigint(negative ? -signed : signed)
    }
    // Groups are least significant first; zeros at either end are not sent.
    let last = count - 1
    while (last >= 0 && groups[last] === 0) last--
    if (last < 0) {
      out.ensure(12)
      out.int32(8)
      out.int16(0)
      out.int16(0)
      out.int16(0)
      out.int16(scale)
      return undefined
    }
    let first = 0
    while (groups[first] === 0) first++
    const digits = last - first + 1
    out.ensure(12 + digits * 2)
    out.int32(8 + digits * 2)
    out.int16(digits)
    out.int16(last - fractionGroups)
    out.int16(negative ? NUMERIC_NEG : 0)
    out.int16(scale)
    for (let g = last; g >= first; g--) out.int16(groups[g]!)
    return undefined
  }
}

/** The bytes of variable-width values (utf8, json, binary), with a prefix byte for jsonb. */
const bytesWriter = (data: Arrow.Data, prefix: number | undefined) => {
  const offsets = data.valueOffsets as Int32Array
  const bytes = data.values as Uint8Array
  const extra = prefix === undefined ? 0 : 1
  return (out: Output, index: number): undefined => {
    const start = offsets[index]!
    const length = offsets[index + 1]! - start
    out.ensure(4 + extra + length)
    out.int32(length + extra)
    if (prefix !== undefined) out.bytes[out.pos++] = prefix
    const target = out.bytes
    let pos = out.pos
    // A view per value costs more than copying a short value byte by byte.
    if (length < 16) for (let i = start; i < start + length; i++) target[pos++] = bytes[i]!
    else {
      target.set(bytes.subarray(start, start + length), pos)
      pos += length
    }
    out.pos = pos
    return undefined
  }
}

/** Writes non-null values of one type from one Arrow data; the caller handles NULL. */
const valueWriter = (
  name: string,
  type: LogicalType,
  json: JsonStorage,
  data: Arrow.Data
): ((out: Output, index: number) => EncodeFailure | undefined) => {
  switch (type.kind) {
    case "int8":
    case "int16": {
      const values = data.values as Int8Array | Int16Array
      return (out, index) => {
        out.ensure(6)
        out.int32(2)
        out.int16(values[index]!)
        return undefined
      }
    }
    case "int32": {
      const values = data.values as Int32Array
      return (out, index) => {
        out.ensure(8)
        out.int32(4)
        out.int32(values[index]!)
        return undefined
      }
    }
    case "int64":
    case "time": {
      const halves = halvesOf(data.values as BigInt64Array)
      return (out, index) => {
        out.ensure(12)
        out.int32(8)
        out.int64(halves[index * 2 + 1]!, halves[index * 2]! >>> 0)
        return undefined
      }
    }
    case "float32": {
      const values = data.values as Float32Array
      return (out, index) => {
        out.ensure(8)
        out.int32(4)
        out.view.setFloat32(out.pos, values[index]!)
        out.pos += 4
        return undefined
      }
    }
    case "float64": {
      const values = data.values as Float64Array
      return (out, index) => {
        out.ensure(12)
        out.int32(8)
        out.view.setFloat64(out.pos, values[index]!)
        out.pos += 8
        return undefined
      }
    }
    case "bool": {
      const bits = data.values as Uint8Array
      const offset = data.offset
      return (out, index) => {
        out.ensure(5)
        out.int32(1)
        out.bytes[out.pos++] = isSet(bits, offset + index) ? 1 : 0
        return undefined
      }
    }
    case "date": {
      const values = data.values as Int32Array
      return (out, index) => {
        const days = values[index]!
        if (days < MIN_DATE_DAYS || days >= END_DATE_DAYS) {
          return new EncodeFailure(
            name,
            `${formatDate(days)} is outside the range of PostgreSQL dates (4714 BC to 5874897 AD)`
          )
        }
        out.ensure(8)
        out.int32(4)
        out.int32(days - PG_EPOCH_DAYS)
        return undefined
      }
    }
    case "timestamp":
      return timestampWriter(name, type.unit, type.timeZone !== null, data.values as BigInt64Array)
    case "decimal":
      return decimalWriter(type.scale, data.values as Uint32Array)
    case "utf8":
    case "binary":
      return bytesWriter(data, undefined)
    case "json":
      return bytesWriter(data, json === "jsonb" ? 1 : undefined)
    case "uuid": {
      const bytes = data.values as Uint8Array
      return (out, index) => {
        out.ensure(20)
        out.int32(16)
        out.bytes.set(bytes.subarray(index * 16, index * 16 + 16), out.pos)
        out.pos += 16
        return undefined
      }
    }
    case "list":
      return listWriter(name, type.element, json, data)
  }
}

/** A one-dimensional array; its length is written once its elements are. */
const listWriter = (name: string, element: LogicalType, json: JsonStorage, data: Arrow.Data) => {
  const oid = elementOid(element, json)
  if (element.kind === "list" || oid === undefined) {
    return (): EncodeFailure =>
      new EncodeFailure(name, "lists of lists have no PostgreSQL array type that keeps their shape")
  }
  const offsets = data.valueOffsets as Int32Array
  const child = data.children[0]!
  const writeElement = fieldWriter(name, element, json, child)
  const childBits = nullBitsOf(child)
  return (out: Output, index: number): EncodeFailure | undefined => {
    const start = offsets[index]!
    const end = offsets[index + 1]!
    out.ensure(24)
    const lengthAt = out.pos
    out.pos += 4
    if (start === end) {
      out.int32(0)
      out.int32(0)
      out.int32(oid)
    } else {
      let hasNulls = 0
      if (childBits !== undefined) {
        for (let i = start; i < end; i++) if (!isSet(childBits, child.offset + i)) hasNulls = 1
      }
      out.int32(1)
      out.int32(hasNulls)
      out.int32(oid)
      out.int32(end - start)
      out.int32(1)
      for (let i = start; i < end; i++) {
        const failure = writeElement(out, i)
        if (failure !== undefined) return failure
      }
    }
    out.view.setInt32(lengthAt, out.pos - lengthAt - 4)
    return undefined
  }
}

/** A field of one column: -1 for NULL, else the value's length and bytes. */
const fieldWriter = (name: string, type: LogicalType, json: JsonStorage, data: Arrow.Data): FieldWriter => {
  const write = valueWriter(name, type, json, data)
  const bits = nullBitsOf(data)
  if (bits === undefined) return write
  const offset = data.offset
  return (out, index) => {
    if (isSet(bits, offset + index)) return write(out, index)
    out.ensure(4)
    out.int32(-1)
    return undefined
  }
}

/** A first guess of the encoded size of `rows` rows of a batch: their share of its Arrow buffers plus the field lengths. */
const estimateBytes = (batch: Batch, rows: number): number => {
  let bytes = 0
  for (const child of batch.data.children) bytes += child.byteLength
  return 1024 + Math.ceil((bytes / Math.max(batch.numRows, 1)) * rows) + rows * (2 + 4 * batch.numCols)
}

/**
 * Encodes rows `start` to `end` (exclusive) of `batch`, whose fields are `columns` in
 * order, as COPY BINARY tuples without header or trailer. Fails with the first value
 * PostgreSQL cannot hold.
 */
export const encodeRows = (
  columns: ReadonlyArray<CopyColumn>,
  batch: Batch,
  start = 0,
  end = batch.numRows
): Uint8Array | EncodeFailure => {
  const writers = columns.map(({ column, json }, i) =>
    fieldWriter(column.name, column.type, json, batch.data.children[i]!)
  )
  const out = new Output(estimateBytes(batch, end - start))
  const count = writers.length
  for (let row = start; row < end; row++) {
    out.ensure(2)
    out.int16(count)
    for (let c = 0; c < count; c++) {
      const failure = writers[c]!(out, row)
      if (failure !== undefined) return failure
    }
  }
  return out.bytes.subarray(0, out.pos)
}
