/**
 * Files written by other tools come back with Arrow types that Ferry does not carry
 * but can convert without loss: 64-bit-offset strings and binaries (pyarrow and
 * Polars write `large_string`), and dictionary-encoded columns (pandas categoricals,
 * Arrow's own dictionary arrays). Each field is planned once per file; the plan
 * converts the data of every batch read.
 */
import * as Arrow from "apache-arrow"
import * as Either from "effect/Either"
import type { ColumnReader } from "../../../core/Batch.js"
import { makeColumnBuilder, makeColumnReader } from "../../../core/Batch.js"
import type { LogicalType } from "../../../core/Types.js"
import { fromField } from "../../../core/Types.js"

export type Convert = (data: Arrow.Data) => Either.Either<Arrow.Data, string>

export interface FieldPlan {
  /** The field as Ferry carries it. */
  readonly field: Arrow.Field
  readonly type: LogicalType
  /** Present when the file's data needs converting into `type`. */
  readonly convert: Convert | undefined
}

const INT32_MAX = 2 ** 31 - 1

/** Plans how a file's field becomes a Ferry column, or says why it cannot. */
export const planField = (field: Arrow.Field): Either.Either<FieldPlan, string> => {
  const type = field.type as Arrow.DataType
  if (Arrow.DataType.isLargeUtf8(type) || Arrow.DataType.isLargeBinary(type)) {
    const narrow = Arrow.DataType.isLargeUtf8(type) ? new Arrow.Utf8() : new Arrow.Binary()
    return carried(field.clone({ type: narrow }), (data) => narrowOffsets(data, narrow, field.name))
  }
  if (Arrow.DataType.isDictionary(type)) {
    return Either.flatMap(planField(new Arrow.Field(field.name, type.dictionary, true)), (values) =>
      carried(field.clone({ type: values.field.type }), (data) => decodeDictionary(data, values))
    )
  }
  if (Arrow.DataType.isList(type)) {
    const child = type.children[0]
    if (child === undefined) return Either.left(`column "${field.name}": list without an element type`)
    return Either.flatMap(planField(child), (element) => {
      const convertElement = element.convert
      if (convertElement === undefined) return carried(field, undefined)
      const list = new Arrow.List(element.field)
      return carried(field.clone({ type: list }), (data) =>
        Either.map(convertElement(data.children[0]!), (converted) =>
          data.clone(list, data.offset, data.length, data.nullCount, undefined, [converted])
        )
      )
    })
  }
  return carried(field, undefined)
}

const carried = (field: Arrow.Field, convert: Convert | undefined): Either.Either<FieldPlan, string> =>
  Either.map(fromField(field), (type) => ({ field, type, convert }))

/** large_utf8/large_binary to utf8/binary: the same bytes, 32-bit offsets. */
const narrowOffsets = (data: Arrow.Data, type: Arrow.Utf8 | Arrow.Binary, name: string) => {
  const wide = data.valueOffsets as unknown as BigInt64Array
  const end = data.offset + data.length
  if (Number(wide[end] ?? 0n) > INT32_MAX) {
    return Either.left(`column "${name}": a batch holds more than 2 GiB of values`)
  }
  const offsets = new Int32Array(end + 1)
  for (let i = 0; i <= end; i++) offsets[i] = Number(wide[i]!)
  return Either.right<Arrow.Data>(
    Arrow.makeData({
      type: type as Arrow.Utf8,
      offset: data.offset,
      length: data.length,
      nullCount: data.nullCount,
      nullBitmap: data.nullBitmap,
      valueOffsets: offsets,
      data: data.values as Uint8Array
    })
  )
}

/** Looks every key up in the dictionary and builds a plain column of the values. */
const decodeDictionary = (data: Arrow.Data, values: FieldPlan): Either.Either<Arrow.Data, string> => {
  const dictionary = data.dictionary
  if (dictionary === undefined) return Either.left(`column "${values.field.name}": dictionary without values`)
  const chunks: Array<{ start: number; read: ColumnReader }> = []
  let start = 0
  for (const chunk of dictionary.data as ReadonlyArray<Arrow.Data>) {
    const converted = values.convert === undefined ? Either.right(chunk) : values.convert(chunk)
    if (Either.isLeft(converted)) return converted
    chunks.push({ start, read: makeColumnReader(values.type, converted.right) })
    start += chunk.length
  }
  const lookup = (key: number) => {
    for (let c = chunks.length - 1; c >= 0; c--) {
      if (key >= chunks[c]!.start) return chunks[c]!.read(key - chunks[c]!.start)
    }
    return null
  }
  const keys = data.values as
    Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array
  const bitmap = data.nullCount > 0 ? data.nullBitmap : undefined
  const builder = makeColumnBuilder(values.type)
  for (let i = 0; i < data.length; i++) {
    const at = data.offset + i
    const valid = bitmap === undefined || bitmap.length === 0 || (bitmap[at >> 3]! & (1 << (at & 7))) !== 0
    const value = valid ? lookup(Number(keys[at])) : null
    if (value === null) builder.appendNull()
    else builder.append(value)
  }
  return Either.right(builder.finish())
}
