/**
 * Thrift's compact protocol, generically: a struct decodes into its fields by id and
 * type, unknown fields included, and encodes back byte for byte. Parquet's footer is
 * a compact-protocol `FileMetaData`; Ferry edits a few of its fields and keeps every
 * other one as the writer made it.
 */

export const ThriftType = {
  Stop: 0,
  True: 1,
  False: 2,
  Byte: 3,
  I16: 4,
  I32: 5,
  I64: 6,
  Double: 7,
  Binary: 8,
  List: 9,
  Set: 10,
  Map: 11,
  Struct: 12
} as const
export type ThriftType = (typeof ThriftType)[keyof typeof ThriftType]

export type ThriftValue = boolean | bigint | number | Uint8Array | ThriftStruct | ThriftList | ThriftMap

export interface ThriftField {
  readonly id: number
  readonly type: ThriftType
  value: ThriftValue
}

export interface ThriftStruct {
  readonly kind: "struct"
  fields: Array<ThriftField>
}

export interface ThriftList {
  readonly kind: "list"
  readonly elementType: ThriftType
  readonly items: Array<ThriftValue>
}

export interface ThriftMap {
  readonly kind: "map"
  readonly keyType: ThriftType
  readonly valueType: ThriftType
  readonly entries: Array<readonly [ThriftValue, ThriftValue]>
}

export class ThriftDecodeError extends Error {}

// ---- decoding -----------------------------------------------------------------------

class Reader {
  offset = 0
  constructor(private readonly bytes: Uint8Array) {}

  byte(): number {
    if (this.offset >= this.bytes.length) throw new ThriftDecodeError("unexpected end of the Thrift data")
    return this.bytes[this.offset++]!
  }

  varint(): bigint {
    let result = 0n
    let shift = 0n
    for (;;) {
      const byte = this.byte()
      result |= BigInt(byte & 0x7f) << shift
      if ((byte & 0x80) === 0) return result
      shift += 7n
      if (shift > 70n) throw new ThriftDecodeError("varint too long")
    }
  }

  zigzag(): bigint {
    const n = this.varint()
    return (n >> 1n) ^ -(n & 1n)
  }

  take(length: number): Uint8Array {
    if (this.offset + length > this.bytes.length) throw new ThriftDecodeError("unexpected end of the Thrift data")
    const slice = this.bytes.slice(this.offset, this.offset + length)
    this.offset += length
    return slice
  }
}

const readValue = (reader: Reader, type: ThriftType): ThriftValue => {
  switch (type) {
    case ThriftType.True:
    case ThriftType.False:
      // Only list elements reach here: one byte each.
      return reader.byte() === 1
    case ThriftType.Byte:
      return (reader.byte() << 24) >> 24
    case ThriftType.I16:
    case ThriftType.I32:
    case ThriftType.I64:
      return reader.zigzag()
    case ThriftType.Double:
      return new DataView(reader.take(8).buffer).getFloat64(0, true)
    case ThriftType.Binary:
      return reader.take(Number(reader.varint()))
    case ThriftType.List:
    case ThriftType.Set: {
      const header = reader.byte()
      const size = header >> 4 === 15 ? Number(reader.varint()) : header >> 4
      const elementType = (header & 0x0f) as ThriftType
      const items: Array<ThriftValue> = []
      for (let i = 0; i < size; i++) items.push(readValue(reader, elementType))
      return { kind: "list", elementType, items }
    }
    case ThriftType.Map: {
      const size = Number(reader.varint())
      const types = size === 0 ? 0 : reader.byte()
      const keyType = (types >> 4) as ThriftType
      const valueType = (types & 0x0f) as ThriftType
      const entries: Array<readonly [ThriftValue, ThriftValue]> = []
      for (let i = 0; i < size; i++) entries.push([readValue(reader, keyType), readValue(reader, valueType)])
      return { kind: "map", keyType, valueType, entries }
    }
    case ThriftType.Struct:
      return readStruct(reader)
    default:
      throw new ThriftDecodeError(`unknown Thrift type ${String(type)}`)
  }
}

const readStruct = (reader: Reader): ThriftStruct => {
  const fields: Array<ThriftField> = []
  let lastId = 0
  for (;;) {
    const header = reader.byte()
    const type = (header & 0x0f) as ThriftType
    if (type === ThriftType.Stop) return { kind: "struct", fields }
    const delta = header >> 4
    const id = delta === 0 ? Number(reader.zigzag()) : lastId + delta
    lastId = id
    const value =
      type === ThriftType.True || type === ThriftType.False ? type === ThriftType.True : readValue(reader, type)
    fields.push({ id, type, value })
  }
}

/** Decodes one struct from the start of `bytes`. */
export const decodeStruct = (bytes: Uint8Array): ThriftStruct => readStruct(new Reader(bytes))

// ---- encoding -----------------------------------------------------------------------

class Writer {
  private buffer = new Uint8Array(1024)
  length = 0

  byte(value: number): void {
    if (this.length === this.buffer.length) {
      const next = new Uint8Array(this.buffer.length * 2)
      next.set(this.buffer)
      this.buffer = next
    }
    this.buffer[this.length++] = value & 0xff
  }

  varint(value: bigint): void {
    let n = BigInt.asUintN(64, value)
    while (n >= 0x80n) {
      this.byte(Number(n & 0x7fn) | 0x80)
      n >>= 7n
    }
    this.byte(Number(n))
  }

  zigzag(value: bigint): void {
    this.varint((value << 1n) ^ (value >> 63n))
  }

  bytes(values: Uint8Array): void {
    for (const value of values) this.byte(value)
  }

  result(): Uint8Array {
    return this.buffer.slice(0, this.length)
  }
}

const writeValue = (writer: Writer, type: ThriftType, value: ThriftValue): void => {
  switch (type) {
    case ThriftType.True:
    case ThriftType.False:
      return writer.byte(value === true ? 1 : 0)
    case ThriftType.Byte:
      return writer.byte(value as number)
    case ThriftType.I16:
    case ThriftType.I32:
    case ThriftType.I64:
      return writer.zigzag(value as bigint)
    case ThriftType.Double: {
      const bytes = new Uint8Array(8)
      new DataView(bytes.buffer).setFloat64(0, value as number, true)
      return writer.bytes(bytes)
    }
    case ThriftType.Binary: {
      const bytes = value as Uint8Array
      writer.varint(BigInt(bytes.length))
      return writer.bytes(bytes)
    }
    case ThriftType.List:
    case ThriftType.Set: {
      const list = value as ThriftList
      if (list.items.length < 15) writer.byte((list.items.length << 4) | list.elementType)
      else {
        writer.byte(0xf0 | list.elementType)
        writer.varint(BigInt(list.items.length))
      }
      for (const item of list.items) writeValue(writer, list.elementType, item)
      return
    }
    case ThriftType.Map: {
      const map = value as ThriftMap
      writer.varint(BigInt(map.entries.length))
      if (map.entries.length > 0) writer.byte((map.keyType << 4) | map.valueType)
      for (const [key, entry] of map.entries) {
        writeValue(writer, map.keyType, key)
        writeValue(writer, map.valueType, entry)
      }
      return
    }
    case ThriftType.Struct:
      return writeStruct(writer, value as ThriftStruct)
  }
}

const writeStruct = (writer: Writer, struct: ThriftStruct): void => {
  let lastId = 0
  for (const field of struct.fields) {
    const type =
      field.type === ThriftType.True || field.type === ThriftType.False
        ? field.value === true
          ? ThriftType.True
          : ThriftType.False
        : field.type
    const delta = field.id - lastId
    if (delta > 0 && delta <= 15) writer.byte((delta << 4) | type)
    else {
      writer.byte(type)
      writer.zigzag(BigInt(field.id))
    }
    lastId = field.id
    if (type !== ThriftType.True && type !== ThriftType.False) writeValue(writer, type, field.value)
  }
  writer.byte(ThriftType.Stop)
}

export const encodeStruct = (struct: ThriftStruct): Uint8Array => {
  const writer = new Writer()
  writeStruct(writer, struct)
  return writer.result()
}

// ---- field access -------------------------------------------------------------------

export const field = (struct: ThriftStruct, id: number): ThriftValue | undefined =>
  struct.fields.find((candidate) => candidate.id === id)?.value

/** Sets a field, keeping fields in id order as the protocol's short headers expect. */
export const setField = (struct: ThriftStruct, id: number, type: ThriftType, value: ThriftValue): void => {
  const existing = struct.fields.find((candidate) => candidate.id === id)
  if (existing !== undefined) {
    existing.value = value
    return
  }
  struct.fields.push({ id, type, value })
  struct.fields.sort((a, b) => a.id - b.id)
}

export const emptyStruct = (): ThriftStruct => ({ kind: "struct", fields: [] })
