/**
 * A decoder of PostgreSQL's COPY BINARY format straight into Arrow buffers.
 *
 * The stream is a header (`PGCOPY\n\377\r\n\0`, flags, an extension area), then tuples
 * (a 16-bit field count, then per field a 32-bit length, -1 for NULL, and that many
 * bytes in the type's binary send format), then a trailer (a field count of -1).
 * Chunks arrive split anywhere: a tuple is decoded only once all of it is at hand
 * (its field lengths are walked first), and the bytes of an incomplete one wait,
 * without being copied again, until the chunks that complete it have arrived.
 *
 * Values go into typed arrays with no intermediate JS values: integers and floats
 * through a DataView, 64-bit integers as two 32-bit halves (timestamps shifted from
 * PostgreSQL's 2000-01-01 epoch with a carry, not a bigint), text and bytes copied as
 * they are (the server sends UTF-8), numerics into Decimal128 words with plain
 * arithmetic while they fit a double.
 */
import * as Arrow from "apache-arrow"
import * as Schema from "effect/Schema"
import type { Batch } from "../../../core/Batch.js"
import { DEFAULT_BATCH_BYTES, DEFAULT_BATCH_ROWS } from "../../../core/Batch.js"
import type { LogicalType } from "../../../core/Types.js"
import { toArrowType, toSchema } from "../../../core/Types.js"
import type { WireType } from "../PostgresTypes.js"

/** A value COPY sent that Ferry cannot carry, or bytes that are not COPY BINARY. */
export class CopyDecodeError extends Schema.TaggedError<CopyDecodeError>()("CopyDecodeError", {
  column: Schema.optional(Schema.String),
  message: Schema.String
}) {}

export interface CopyColumn {
  readonly name: string
  readonly type: LogicalType
  readonly nullable: boolean
  readonly wire: WireType
}

export interface CopyDecoderOptions {
  readonly batchRows?: number
  readonly batchBytes?: number
}

const SIGNATURE = [0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00]
const HEADER_BYTES = 19
/** Rows walked before their values are decoded, column by column. */
const GROUP_ROWS = 1024
/** Bytes of a new chunk joined to the start of a row cut by the previous chunk's end, beyond what the row is known to need. */
const STITCH_BYTES = 4096

/** 2000-01-01 in days and microseconds since 1970-01-01. */
const PG_EPOCH_DAYS = 10_957
const PG_EPOCH_MICROS = 946_684_800_000_000
const TWO_32 = 4_294_967_296
const EPOCH_HIGH = Math.floor(PG_EPOCH_MICROS / TWO_32)
const EPOCH_LOW = PG_EPOCH_MICROS - EPOCH_HIGH * TWO_32

const INT32_MAX = 0x7fffffff
const INT32_MIN = -0x80000000

// ---- accumulators: one column's values of the current batch ------------------------

/**
 * Rows walked and not decoded yet: the start and the length (-1 for NULL) of field `c`
 * of row `k` are at `fields[2 * (k * stride + c)]` and the index after it.
 */
interface RowGroup {
  readonly view: DataView
  readonly bytes: Uint8Array
  readonly fields: Int32Array
  readonly stride: number
  readonly count: number
}

abstract class Accumulator {
  length = 0
  /** Validity bits, allocated at the first NULL. */
  private validity: Uint8Array | undefined
  private nullCount = 0

  constructor(
    readonly name: string,
    readonly type: LogicalType
  ) {}

  /** Appends the value whose `length` bytes start at `start`. */
  abstract decode(view: DataView, bytes: Uint8Array, start: number, length: number): void
  /**
   * Appends the group's values of `column`. Each class has its own copy of this loop, so
   * that its call of `decode` sees one class and V8 can inline it: one loop over every
   * column's values would dispatch each call among all the classes (a 2M-row decode took
   * a third longer).
   */
  abstract decodeRows(group: RowGroup, column: number): void
  protected abstract putNull(): void
  protected abstract take(length: number, nullCount: number, nullBitmap: Uint8Array | undefined): Arrow.Data

  appendNull(): void {
    const index = this.length
    if (this.validity === undefined) {
      this.validity = new Uint8Array(Math.max(1024, (index >> 3) + 1))
      for (let i = 0; i < index; i++) this.validity[i >> 3]! |= 1 << (i & 7)
    } else if (index >> 3 >= this.validity.length) {
      this.validity = growBytes(this.validity, (index >> 3) + 1)
    }
    this.validity[index >> 3]! &= ~(1 << (index & 7))
    this.nullCount++
    this.putNull()
    this.length++
  }

  /** Called after `decode` wrote a value at `length`. */
  protected valid(): void {
    const index = this.length
    if (this.validity !== undefined) {
      if (index >> 3 >= this.validity.length) this.validity = growBytes(this.validity, (index >> 3) + 1)
      this.validity[index >> 3]! |= 1 << (index & 7)
    }
    this.length++
  }

  finish(): Arrow.Data {
    const length = this.length
    const nullBitmap = this.nullCount === 0 ? undefined : this.validity!.slice(0, (length + 7) >> 3)
    const data = this.take(length, this.nullCount, nullBitmap)
    this.validity = undefined
    this.nullCount = 0
    this.length = 0
    return data
  }

  fail(message: string): never {
    throw new CopyDecodeError({ column: this.name, message })
  }
}

const growBytes = (bytes: Uint8Array, needed: number): Uint8Array => {
  let capacity = Math.max(bytes.length * 2, 1024)
  while (capacity < needed) capacity *= 2
  const next = new Uint8Array(capacity)
  next.set(bytes)
  return next
}

/**
 * Values of a fixed number of 32-bit words each, in a buffer that doubles when full.
 * Each wire type has a class of its own, alike as their `decode`s look: every value of a
 * table passes through one of them, and a call site that sees one class stays
 * monomorphic, where one generic decoder over a view and a width would not.
 */
abstract class WordAccumulator extends Accumulator {
  protected words: Int32Array
  constructor(
    name: string,
    type: LogicalType,
    protected readonly wordsPerValue: number,
    capacity: number
  ) {
    super(name, type)
    this.words = new Int32Array(capacity * wordsPerValue)
  }
  /** The index of the first word of the next value, with room for it. */
  protected slot(): number {
    const base = this.length * this.wordsPerValue
    if (base + this.wordsPerValue > this.words.length) {
      const next = new Int32Array(Math.max(this.words.length * 2, 1024))
      next.set(this.words)
      this.words = next
    }
    return base
  }
  protected putNull(): void {
    const base = this.slot()
    for (let w = 0; w < this.wordsPerValue; w++) this.words[base + w] = 0
  }
  protected take(length: number, nullCount: number, nullBitmap: Uint8Array | undefined): Arrow.Data {
    const buffer = this.words.slice(0, length * this.wordsPerValue).buffer
    return Arrow.makeData({
      type: toArrowType(this.type),
      length,
      nullCount,
      nullBitmap,
      data: this.view(buffer)
    } as never)
  }
  /** The value buffer as the Arrow type wants it. */
  protected abstract view(buffer: ArrayBuffer): ArrayBufferView
}

class Int16Accumulator extends Accumulator {
  private values: Int16Array
  constructor(name: string, type: LogicalType, capacity: number) {
    super(name, type)
    this.values = new Int16Array(capacity)
  }
  decodeRows({ view, bytes, fields, stride, count }: RowGroup, column: number): void {
    for (let k = 0, at = 2 * column; k < count; k++, at += 2 * stride) {
      const size = fields[at + 1]!
      if (size < 0) this.appendNull()
      else this.decode(view, bytes, fields[at]!, size)
    }
  }
  decode(view: DataView, _bytes: Uint8Array, start: number, length: number): void {
    if (length !== 2) this.fail(`expected 2 bytes for an int2, got ${length}`)
    if (this.length >= this.values.length) this.values = growInt16(this.values)
    this.values[this.length] = view.getInt16(start)
    this.valid()
  }
  protected putNull(): void {
    if (this.length >= this.values.length) this.values = growInt16(this.values)
    this.values[this.length] = 0
  }
  protected take(length: number, nullCount: number, nullBitmap: Uint8Array | undefined): Arrow.Data {
    const data = this.values.slice(0, length)
    return Arrow.makeData({ type: new Arrow.Int16(), length, nullCount, nullBitmap, data })
  }
}

const growInt16 = (values: Int16Array): Int16Array => {
  const next = new Int16Array(Math.max(values.length * 2, 1024))
  next.set(values)
  return next
}

/** int4 and date (days, shifted to the Unix epoch). */
class Int32Accumulator extends WordAccumulator {
  constructor(
    name: string,
    type: LogicalType,
    capacity: number,
    private readonly isDate: boolean
  ) {
    super(name, type, 1, capacity)
  }
  decodeRows({ view, bytes, fields, stride, count }: RowGroup, column: number): void {
    for (let k = 0, at = 2 * column; k < count; k++, at += 2 * stride) {
      const size = fields[at + 1]!
      if (size < 0) this.appendNull()
      else this.decode(view, bytes, fields[at]!, size)
    }
  }
  decode(view: DataView, _bytes: Uint8Array, start: number, length: number): void {
    if (length !== 4) this.fail(`expected 4 bytes, got ${length}`)
    const base = this.slot()
    const value = view.getInt32(start)
    if (this.isDate) {
      if (value === INT32_MAX || value === INT32_MIN) {
        this.fail(
          `holds ${value === INT32_MAX ? "infinity" : "-infinity"}, which a date cannot carry; filter it out or read the table through a query that maps it`
        )
      }
      this.words[base] = value + PG_EPOCH_DAYS
    } else {
      this.words[base] = value
    }
    this.valid()
  }
  protected view(buffer: ArrayBuffer): ArrayBufferView {
    return new Int32Array(buffer)
  }
}

/** int8, time (µs) and timestamps (µs, shifted to the Unix epoch), as two 32-bit halves. */
class Int64Accumulator extends WordAccumulator {
  constructor(
    name: string,
    type: LogicalType,
    capacity: number,
    private readonly isTimestamp: boolean
  ) {
    super(name, type, 2, capacity)
  }
  decodeRows({ view, bytes, fields, stride, count }: RowGroup, column: number): void {
    for (let k = 0, at = 2 * column; k < count; k++, at += 2 * stride) {
      const size = fields[at + 1]!
      if (size < 0) this.appendNull()
      else this.decode(view, bytes, fields[at]!, size)
    }
  }
  decode(view: DataView, _bytes: Uint8Array, start: number, length: number): void {
    if (length !== 8) this.fail(`expected 8 bytes, got ${length}`)
    const base = this.slot()
    const high = view.getInt32(start)
    const low = view.getUint32(start + 4)
    if (this.isTimestamp) {
      if ((high === INT32_MAX && low === 0xffffffff) || (high === INT32_MIN && low === 0)) {
        this.fail(
          `holds ${high === INT32_MAX ? "infinity" : "-infinity"}, which a timestamp cannot carry; filter it out or read the table through a query that maps it`
        )
      }
      const sum = low + EPOCH_LOW
      const carry = sum >= TWO_32 ? 1 : 0
      const shifted = high + EPOCH_HIGH + carry
      if (shifted > INT32_MAX) {
        this.fail(
          "holds an instant after 294247-01-10T04:00:54.775807Z, the last a timestamp in microseconds can carry"
        )
      }
      this.words[base] = sum - carry * TWO_32
      this.words[base + 1] = shifted
    } else {
      this.words[base] = low
      this.words[base + 1] = high
    }
    this.valid()
  }
  protected view(buffer: ArrayBuffer): ArrayBufferView {
    return new BigInt64Array(buffer)
  }
}

class Float32Accumulator extends WordAccumulator {
  private floats: Float32Array
  constructor(name: string, type: LogicalType, capacity: number) {
    super(name, type, 1, capacity)
    this.floats = new Float32Array(this.words.buffer)
  }
  decodeRows({ view, bytes, fields, stride, count }: RowGroup, column: number): void {
    for (let k = 0, at = 2 * column; k < count; k++, at += 2 * stride) {
      const size = fields[at + 1]!
      if (size < 0) this.appendNull()
      else this.decode(view, bytes, fields[at]!, size)
    }
  }
  decode(view: DataView, _bytes: Uint8Array, start: number, length: number): void {
    if (length !== 4) this.fail(`expected 4 bytes for a float4, got ${length}`)
    const base = this.slot()
    if (this.floats.buffer !== this.words.buffer) this.floats = new Float32Array(this.words.buffer)
    this.floats[base] = view.getFloat32(start)
    this.valid()
  }
  protected view(buffer: ArrayBuffer): ArrayBufferView {
    return new Float32Array(buffer)
  }
}

class Float64Accumulator extends WordAccumulator {
  private floats: Float64Array
  constructor(name: string, type: LogicalType, capacity: number) {
    super(name, type, 2, capacity)
    this.floats = new Float64Array(this.words.buffer)
  }
  decodeRows({ view, bytes, fields, stride, count }: RowGroup, column: number): void {
    for (let k = 0, at = 2 * column; k < count; k++, at += 2 * stride) {
      const size = fields[at + 1]!
      if (size < 0) this.appendNull()
      else this.decode(view, bytes, fields[at]!, size)
    }
  }
  decode(view: DataView, _bytes: Uint8Array, start: number, length: number): void {
    if (length !== 8) this.fail(`expected 8 bytes for a float8, got ${length}`)
    const base = this.slot()
    if (this.floats.buffer !== this.words.buffer) this.floats = new Float64Array(this.words.buffer)
    this.floats[base >> 1] = view.getFloat64(start)
    this.valid()
  }
  protected view(buffer: ArrayBuffer): ArrayBufferView {
    return new Float64Array(buffer)
  }
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER
const POWERS_OF_TEN = Array.from({ length: 16 }, (_, i) => 10 ** i)

/** numeric → Decimal128 at the column's scale: base-10000 digits into an unscaled integer, exactly. */
class DecimalAccumulator extends WordAccumulator {
  constructor(
    name: string,
    type: LogicalType,
    capacity: number,
    private readonly scale: number
  ) {
    super(name, type, 4, capacity)
  }
  decodeRows({ view, bytes, fields, stride, count }: RowGroup, column: number): void {
    for (let k = 0, at = 2 * column; k < count; k++, at += 2 * stride) {
      const size = fields[at + 1]!
      if (size < 0) this.appendNull()
      else this.decode(view, bytes, fields[at]!, size)
    }
  }
  decode(view: DataView, _bytes: Uint8Array, start: number, length: number): void {
    if (length < 8) this.fail(`a numeric of ${length} bytes is truncated`)
    const digits = view.getUint16(start)
    const weight = view.getInt16(start + 2)
    const sign = view.getUint16(start + 4)
    if (length !== 8 + digits * 2) this.fail(`a numeric of ${digits} digits has ${length} bytes`)
    if (sign === 0xc000) this.fail("holds NaN, which a decimal cannot carry")
    if (sign === 0xd000 || sign === 0xf000) {
      this.fail(`holds ${sign === 0xd000 ? "Infinity" : "-Infinity"}, which a decimal cannot carry`)
    }
    const negative = sign === 0x4000
    // The unscaled value is the digits read as one integer, times 10^exponent.
    const exponent = 4 * (weight - digits + 1) + this.scale
    const base = this.slot()
    if (digits <= 3 && exponent > -16 && exponent < 16) {
      let integer = 0
      for (let k = 0; k < digits; k++) integer = integer * 10_000 + view.getUint16(start + 8 + 2 * k)
      let unscaled: number
      if (exponent >= 0) {
        unscaled = integer * POWERS_OF_TEN[exponent]!
      } else {
        const divisor = POWERS_OF_TEN[-exponent]!
        if (integer % divisor !== 0) this.fail(`holds more digits than the column's scale ${this.scale}`)
        unscaled = integer / divisor
      }
      if (unscaled <= MAX_SAFE) {
        const value = negative ? -unscaled : unscaled
        const high = Math.floor(value / TWO_32)
        const fill = high < 0 ? -1 : 0
        this.words[base] = value >>> 0
        this.words[base + 1] = high >>> 0
        this.words[base + 2] = fill
        this.words[base + 3] = fill
        this.valid()
        return
      }
    }
    let integer = 0n
    for (let k = 0; k < digits; k++) integer = integer * 10_000n + BigInt(view.getUint16(start + 8 + 2 * k))
    if (exponent >= 0) {
      integer *= 10n ** BigInt(exponent)
    } else {
      const divisor = 10n ** BigInt(-exponent)
      if (integer % divisor !== 0n) this.fail(`holds more digits than the column's scale ${this.scale}`)
      integer /= divisor
    }
    let rest = BigInt.asUintN(128, negative ? -integer : integer)
    for (let w = 0; w < 4; w++) {
      this.words[base + w] = Number(rest & 0xffffffffn)
      rest >>= 32n
    }
    this.valid()
  }
  protected view(buffer: ArrayBuffer): ArrayBufferView {
    return new Uint32Array(buffer)
  }
}

class BoolAccumulator extends Accumulator {
  private bits: Uint8Array = new Uint8Array(1024)
  decodeRows({ view, bytes, fields, stride, count }: RowGroup, column: number): void {
    for (let k = 0, at = 2 * column; k < count; k++, at += 2 * stride) {
      const size = fields[at + 1]!
      if (size < 0) this.appendNull()
      else this.decode(view, bytes, fields[at]!, size)
    }
  }
  decode(_view: DataView, bytes: Uint8Array, start: number, length: number): void {
    if (length !== 1) this.fail(`expected 1 byte for a bool, got ${length}`)
    const index = this.length
    if (index >> 3 >= this.bits.length) this.bits = growBytes(this.bits, (index >> 3) + 1)
    if (bytes[start] !== 0) this.bits[index >> 3]! |= 1 << (index & 7)
    this.valid()
  }
  protected putNull(): void {
    if (this.length >> 3 >= this.bits.length) this.bits = growBytes(this.bits, (this.length >> 3) + 1)
  }
  protected take(length: number, nullCount: number, nullBitmap: Uint8Array | undefined): Arrow.Data {
    const data = this.bits.slice(0, (length + 7) >> 3)
    this.bits = new Uint8Array(this.bits.length)
    return Arrow.makeData({ type: new Arrow.Bool(), length, nullCount, nullBitmap, data })
  }
}

class UuidAccumulator extends Accumulator {
  private bytes: Uint8Array
  constructor(name: string, type: LogicalType, capacity: number) {
    super(name, type)
    this.bytes = new Uint8Array(capacity * 16)
  }
  private room(): number {
    const offset = this.length * 16
    if (offset + 16 > this.bytes.length) this.bytes = growBytes(this.bytes, offset + 16)
    return offset
  }
  decodeRows({ view, bytes, fields, stride, count }: RowGroup, column: number): void {
    for (let k = 0, at = 2 * column; k < count; k++, at += 2 * stride) {
      const size = fields[at + 1]!
      if (size < 0) this.appendNull()
      else this.decode(view, bytes, fields[at]!, size)
    }
  }
  decode(_view: DataView, bytes: Uint8Array, start: number, length: number): void {
    if (length !== 16) this.fail(`expected 16 bytes for a uuid, got ${length}`)
    const offset = this.room()
    for (let k = 0; k < 16; k++) this.bytes[offset + k] = bytes[start + k]!
    this.valid()
  }
  protected putNull(): void {
    const offset = this.room()
    this.bytes.fill(0, offset, offset + 16)
  }
  protected take(length: number, nullCount: number, nullBitmap: Uint8Array | undefined): Arrow.Data {
    const data = this.bytes.slice(0, length * 16)
    return Arrow.makeData({ type: new Arrow.FixedSizeBinary(16), length, nullCount, nullBitmap, data })
  }
}

/** text, json, jsonb (after its version byte) and bytea: the bytes as sent, with offsets. */
class BytesAccumulator extends Accumulator {
  private offsets: Int32Array
  private bytes: Uint8Array
  private end = 0
  constructor(
    name: string,
    type: LogicalType,
    capacity: number,
    private readonly skipVersion: boolean
  ) {
    super(name, type)
    this.offsets = new Int32Array(capacity + 1)
    this.bytes = new Uint8Array(capacity * 16)
  }
  get byteLength(): number {
    return this.end
  }
  decodeRows({ view, bytes, fields, stride, count }: RowGroup, column: number): void {
    for (let k = 0, at = 2 * column; k < count; k++, at += 2 * stride) {
      const size = fields[at + 1]!
      if (size < 0) this.appendNull()
      else this.decode(view, bytes, fields[at]!, size)
    }
  }
  decode(_view: DataView, bytes: Uint8Array, start: number, length: number): void {
    let from = start
    let count = length
    if (this.skipVersion) {
      if (length < 1 || bytes[start] !== 1) this.fail(`jsonb in an unknown binary version ${bytes[start]}`)
      from++
      count--
    }
    const end = this.end
    if (end + count > this.bytes.length) this.bytes = growBytes(this.bytes, end + count)
    const target = this.bytes
    if (count < 48) {
      for (let k = 0; k < count; k++) target[end + k] = bytes[from + k]!
    } else {
      target.set(bytes.subarray(from, from + count), end)
    }
    this.end = end + count
    this.putOffset()
    this.valid()
  }
  private putOffset(): void {
    if (this.length + 2 > this.offsets.length) {
      const next = new Int32Array(Math.max(this.offsets.length * 2, 1024))
      next.set(this.offsets)
      this.offsets = next
    }
    if (this.end > 0x7fffffff) this.fail("more than 2 GiB of text in one batch")
    this.offsets[this.length + 1] = this.end
  }
  protected putNull(): void {
    this.putOffset()
  }
  protected take(length: number, nullCount: number, nullBitmap: Uint8Array | undefined): Arrow.Data {
    const valueOffsets = this.offsets.slice(0, length + 1)
    const data = this.bytes.slice(0, this.end)
    this.end = 0
    this.offsets.fill(0, 0, 1)
    return Arrow.makeData({
      type: toArrowType(this.type) as Arrow.Utf8,
      length,
      nullCount,
      nullBitmap,
      valueOffsets,
      data
    })
  }
}

/** A one-dimensional array as a list; its elements go to an accumulator of their own. */
class ListAccumulator extends Accumulator {
  private offsets: Int32Array
  constructor(
    name: string,
    type: LogicalType & { readonly kind: "list" },
    capacity: number,
    private readonly child: Accumulator
  ) {
    super(name, type)
    this.offsets = new Int32Array(capacity + 1)
  }
  decodeRows({ view, bytes, fields, stride, count }: RowGroup, column: number): void {
    for (let k = 0, at = 2 * column; k < count; k++, at += 2 * stride) {
      const size = fields[at + 1]!
      if (size < 0) this.appendNull()
      else this.decode(view, bytes, fields[at]!, size)
    }
  }
  decode(view: DataView, bytes: Uint8Array, start: number, length: number): void {
    if (length < 12) this.fail(`an array of ${length} bytes is truncated`)
    const dimensions = view.getInt32(start)
    if (dimensions > 1) {
      this.fail(`holds a ${dimensions}-dimensional array; Ferry's lists have one dimension`)
    }
    const end = start + length
    if (dimensions === 1) {
      if (length < 20) this.fail(`an array of ${length} bytes is truncated`)
      const count = view.getInt32(start + 12)
      let at = start + 20
      for (let i = 0; i < count; i++) {
        if (at + 4 > end) this.fail("an array element runs past its array")
        const size = view.getInt32(at)
        at += 4
        if (size < 0) {
          this.child.appendNull()
        } else {
          if (at + size > end) this.fail("an array element runs past its array")
          this.child.decode(view, bytes, at, size)
          at += size
        }
      }
    }
    this.putOffset()
    this.valid()
  }
  private putOffset(): void {
    if (this.length + 2 > this.offsets.length) {
      const next = new Int32Array(Math.max(this.offsets.length * 2, 1024))
      next.set(this.offsets)
      this.offsets = next
    }
    this.offsets[this.length + 1] = this.child.length
  }
  protected putNull(): void {
    this.putOffset()
  }
  protected take(length: number, nullCount: number, nullBitmap: Uint8Array | undefined): Arrow.Data {
    const valueOffsets = this.offsets.slice(0, length + 1)
    const child = this.child.finish()
    return Arrow.makeData({
      type: toArrowType(this.type) as Arrow.List,
      length,
      nullCount,
      nullBitmap,
      valueOffsets,
      child
    })
  }
}

const makeAccumulator = (name: string, type: LogicalType, wire: WireType, capacity: number): Accumulator => {
  switch (wire.kind) {
    case "int2":
      return new Int16Accumulator(name, type, capacity)
    case "int4":
      return new Int32Accumulator(name, type, capacity, false)
    case "date":
      return new Int32Accumulator(name, type, capacity, true)
    case "int8":
    case "time":
      return new Int64Accumulator(name, type, capacity, false)
    case "timestamp":
      return new Int64Accumulator(name, type, capacity, true)
    case "float4":
      return new Float32Accumulator(name, type, capacity)
    case "float8":
      return new Float64Accumulator(name, type, capacity)
    case "numeric":
      return new DecimalAccumulator(name, type, capacity, wire.scale)
    case "bool":
      return new BoolAccumulator(name, type)
    case "uuid":
      return new UuidAccumulator(name, type, capacity)
    case "text":
    case "json":
    case "bytea":
      return new BytesAccumulator(name, type, capacity, false)
    case "jsonb":
      return new BytesAccumulator(name, type, capacity, true)
    case "array": {
      if (type.kind !== "list") throw new CopyDecodeError({ column: name, message: "an array read as a non-list" })
      return new ListAccumulator(name, type, capacity, makeAccumulator(name, type.element, wire.element, 1024))
    }
  }
}

// ---- the stream decoder ------------------------------------------------------------

/**
 * Decodes a COPY BINARY stream, chunk by chunk, into record batches of at most
 * `batchRows` rows (cut earlier once a batch holds `batchBytes` of field data).
 * `push` and `end` throw `CopyDecodeError`; the caller turns it into its own error.
 */
export class CopyBinaryDecoder {
  private readonly schema: Arrow.Schema
  private readonly accumulators: ReadonlyArray<Accumulator>
  private readonly batchRows: number
  private readonly batchBytes: number
  /** The start and length of each field of the rows walked and not decoded yet, row after row. */
  private readonly positions: Int32Array
  private headerRead = false
  private trailerRead = false
  /** Bytes of an incomplete tuple (or header), waiting for the chunks that complete it. */
  private pending: Array<Uint8Array> = []
  private pendingBytes = 0
  /** Bytes needed before the pending ones can make progress. */
  private needed = 0
  private rows = 0
  private bytesInBatch = 0
  /** Rows decoded so far, over every batch. */
  totalRows = 0

  constructor(
    private readonly columns: ReadonlyArray<CopyColumn>,
    options: CopyDecoderOptions = {}
  ) {
    this.batchRows = options.batchRows ?? DEFAULT_BATCH_ROWS
    this.batchBytes = options.batchBytes ?? DEFAULT_BATCH_BYTES
    this.schema = toSchema(columns)
    const capacity = Math.min(this.batchRows, DEFAULT_BATCH_ROWS)
    this.accumulators = columns.map((column) => makeAccumulator(column.name, column.type, column.wire, capacity))
    this.positions = new Int32Array(2 * GROUP_ROWS * Math.max(columns.length, 1))
  }

  /** Decodes a chunk; returns the batches it completed. */
  push(chunk: Uint8Array): Array<Batch> {
    const batches: Array<Batch> = []
    if (this.trailerRead) {
      if (chunk.length > 0) throw new CopyDecodeError({ message: "bytes after the end of the COPY data" })
      return batches
    }
    if (this.pendingBytes === 0) {
      this.parse(chunk, chunk.length, true, batches)
      return batches
    }
    this.pending.push(chunk)
    this.pendingBytes += chunk.length
    if (this.pendingBytes < this.needed) return batches
    const parts = this.pending
    this.pending = []
    this.pendingBytes = 0
    if (parts.length > 2) {
      const whole = Buffer.concat(parts)
      this.parse(whole, whole.length, true, batches)
      return batches
    }
    // The row begun at the end of the last chunk ends early in this one: join the tail to
    // that much of the chunk only, rather than copying the whole chunk behind it.
    const tail = parts[0]!
    const prefix = Math.min(chunk.length, Math.max(this.needed - tail.length, 0) + STITCH_BYTES)
    const stitched = Buffer.concat([tail, chunk.subarray(0, prefix)])
    const stopped = this.parse(stitched, tail.length, false, batches)
    if (stopped < 0) {
      const whole = Buffer.concat([stitched.subarray(-stopped - 1, tail.length), chunk])
      this.parse(whole, whole.length, true, batches)
      return batches
    }
    if (this.trailerRead) {
      if (prefix < chunk.length) throw new CopyDecodeError({ message: "bytes after the end of the COPY data" })
      return batches
    }
    this.parse(chunk.subarray(stopped - tail.length), chunk.length, true, batches)
    return batches
  }

  /**
   * Decodes the rows of `bytes` that start before `startLimit`; returns where it
   * stopped. A row cut by the end of `bytes` waits for the next chunk (`store`), or is
   * reported as `-(its start + 1)` for the caller to retry with more bytes.
   */
  private parse(bytes: Uint8Array, startLimit: number, store: boolean, batches: Array<Batch>): number {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const end = bytes.length
    let at = 0
    if (!this.headerRead) {
      const header = this.readHeader(view, bytes)
      if (header === 0 || header > end) {
        if (!store) return -1
        this.wait(bytes, 0, header === 0 ? HEADER_BYTES : header)
        return end
      }
      at = header
      this.headerRead = true
    }
    const fields = this.columns.length
    const positions = this.positions
    const groupRows = positions.length / (2 * fields)
    let grouped = 0
    let stopped: number | undefined
    while (at < startLimit && at + 2 <= end) {
      const count = view.getInt16(at)
      if (count === -1) {
        this.trailerRead = true
        if (at + 2 !== end) throw new CopyDecodeError({ message: "bytes after the end of the COPY data" })
        stopped = end
        break
      }
      if (count !== fields) {
        throw new CopyDecodeError({ message: `a row of ${count} fields, where ${fields} were asked for` })
      }
      // Walk the field lengths first: a tuple is decoded only when all of it is here.
      let field = at + 2
      let missing = 0
      let slot = 2 * grouped * fields
      for (let i = 0; i < fields; i++) {
        if (field + 4 > end) {
          missing = field + 4
          break
        }
        const size = view.getInt32(field)
        positions[slot++] = field + 4
        positions[slot++] = size
        field += 4 + (size > 0 ? size : 0)
        if (field > end) {
          missing = field
          break
        }
      }
      if (missing > 0) {
        if (!store) {
          stopped = -at - 1
        } else {
          this.wait(bytes, at, missing - at)
          stopped = end
        }
        break
      }
      grouped++
      this.bytesInBatch += field - at
      at = field
      this.rows++
      const batchFull = this.rows >= this.batchRows || this.bytesInBatch >= this.batchBytes
      if (grouped === groupRows || batchFull) {
        this.decodeGroup(view, bytes, grouped)
        grouped = 0
        if (batchFull) batches.push(this.cut())
      }
    }
    // The rows walked are decoded while their bytes are at hand, whatever comes next.
    if (grouped > 0) this.decodeGroup(view, bytes, grouped)
    if (stopped !== undefined) return stopped
    if (at < startLimit) {
      if (!store) return -at - 1
      this.wait(bytes, at, 2)
      return end
    }
    return at
  }

  /** Decodes the `count` rows whose fields' starts and lengths `positions` holds, column by column. */
  private decodeGroup(view: DataView, bytes: Uint8Array, count: number): void {
    const accumulators = this.accumulators
    const group: RowGroup = { view, bytes, fields: this.positions, stride: accumulators.length, count }
    for (let i = 0; i < accumulators.length; i++) accumulators[i]!.decodeRows(group, i)
  }

  /** After the last chunk: the rows not yet in a batch, if any. */
  end(): Batch | undefined {
    if (!this.trailerRead) throw new CopyDecodeError({ message: "the COPY data ended before its trailer" })
    return this.rows > 0 ? this.cut() : undefined
  }

  /** The header's length, or 0 when not all of its fixed part is here yet. */
  private readHeader(view: DataView, bytes: Uint8Array): number {
    if (bytes.length < HEADER_BYTES) return 0
    for (let i = 0; i < SIGNATURE.length; i++) {
      if (bytes[i] !== SIGNATURE[i]) throw new CopyDecodeError({ message: "the data is not in COPY BINARY format" })
    }
    return HEADER_BYTES + view.getInt32(15)
  }

  private wait(bytes: Uint8Array, from: number, needed: number): void {
    if (from < bytes.length) {
      this.pending = [bytes.subarray(from)]
      this.pendingBytes = bytes.length - from
    }
    this.needed = needed
  }

  private cut(): Batch {
    const length = this.rows
    const children = this.accumulators.map((accumulator) => accumulator.finish())
    this.totalRows += length
    this.rows = 0
    this.bytesInBatch = 0
    return new Arrow.RecordBatch(
      this.schema,
      Arrow.makeData({ type: new Arrow.Struct(this.schema.fields), length, nullCount: 0, children })
    )
  }
}
