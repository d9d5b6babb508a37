/**
 * Batch helpers for the per-row transforms: projecting columns and keeping a subset
 * of rows. Rows are gathered straight from Arrow's buffers, without reading values
 * into JavaScript objects.
 */
import * as Arrow from "apache-arrow"
import * as Either from "effect/Either"
import type { Batch } from "./Batch.js"
import type { Column, LogicalType } from "./Types.js"

/** A batch of `schema` whose columns are `children`, all `length` rows long. */
export const makeBatch = (schema: Arrow.Schema, length: number, children: ReadonlyArray<Arrow.Data>): Batch =>
  new Arrow.RecordBatch(
    schema,
    Arrow.makeData({ type: new Arrow.Struct(schema.fields), length, nullCount: 0, children: [...children] })
  )

/** The columns named, in the order of `names`; the message names a column that does not exist or repeats. */
export const projectColumns = (
  columns: ReadonlyArray<Column>,
  names: ReadonlyArray<string>
): Either.Either<ReadonlyArray<number>, string> => {
  const indexOf = new Map(columns.map((column, i) => [column.name, i]))
  const seen = new Set<string>()
  const indices: Array<number> = []
  for (const name of names) {
    const index = indexOf.get(name)
    if (index === undefined) {
      return Either.left(
        `column ${name} is not in the dataset; its columns are ${columns.map((c) => c.name).join(", ")}`
      )
    }
    if (seen.has(name)) return Either.left(`column ${name} is selected twice`)
    seen.add(name)
    indices.push(index)
  }
  return Either.right(indices)
}

/** The batch with only the columns named, in the order of `names`; no value is copied. */
export const selectColumns = (
  batch: Batch,
  columns: ReadonlyArray<Column>,
  names: ReadonlyArray<string>
): Either.Either<Batch, string> =>
  Either.map(projectColumns(columns, names), (indices) => {
    if (indices.length === columns.length && indices.every((index, i) => index === i)) return batch
    const fields = indices.map((index) => batch.schema.fields[index]!)
    const children = indices.map((index) => batch.data.children[index]!)
    return makeBatch(new Arrow.Schema(fields, batch.schema.metadata), batch.numRows, children)
  })

// ---- gathering rows ------------------------------------------------------------------

const isValid = (bitmap: Uint8Array, bit: number): boolean => (bitmap[bit >> 3]! & (1 << (bit & 7))) !== 0

/** The validity bitmap of the gathered rows, or none when every gathered row is valid. */
const takeValidity = (data: Arrow.Data, indices: Int32Array): { nullBitmap?: Uint8Array; nullCount: number } => {
  const source = data.nullCount > 0 ? (data.nullBitmap as Uint8Array | undefined) : undefined
  if (source === undefined || source.length === 0) return { nullCount: 0 }
  const bitmap = new Uint8Array((indices.length + 7) >> 3)
  let nullCount = 0
  for (let i = 0; i < indices.length; i++) {
    if (isValid(source, data.offset + indices[i]!)) bitmap[i >> 3]! |= 1 << (i & 7)
    else nullCount++
  }
  return nullCount === 0 ? { nullCount: 0 } : { nullBitmap: bitmap, nullCount }
}

type FixedArray =
  Int8Array | Int16Array | Int32Array | BigInt64Array | Float32Array | Float64Array | Uint32Array | Uint8Array

/** Copies `width` elements per row: 1 for plain numbers, 4 words for decimals, 16 bytes for UUIDs. */
const takeFixed = (values: FixedArray, width: number, indices: Int32Array): FixedArray => {
  const Constructor = values.constructor as new (length: number) => FixedArray
  const out = new Constructor(indices.length * width)
  if (width === 1) {
    for (let i = 0; i < indices.length; i++) out[i] = values[indices[i]!]!
  } else {
    for (let i = 0; i < indices.length; i++) {
      const from = indices[i]! * width
      out.set(values.subarray(from, from + width) as never, i * width)
    }
  }
  return out
}

const takeBits = (bits: Uint8Array, offset: number, indices: Int32Array): Uint8Array => {
  const out = new Uint8Array((indices.length + 7) >> 3)
  for (let i = 0; i < indices.length; i++) if (isValid(bits, offset + indices[i]!)) out[i >> 3]! |= 1 << (i & 7)
  return out
}

const takeVariable = (data: Arrow.Data, indices: Int32Array): { valueOffsets: Int32Array; data: Uint8Array } => {
  const offsets = data.valueOffsets as Int32Array
  const bytes = data.values as Uint8Array
  const valueOffsets = new Int32Array(indices.length + 1)
  for (let i = 0; i < indices.length; i++) {
    const row = indices[i]!
    valueOffsets[i + 1] = valueOffsets[i]! + offsets[row + 1]! - offsets[row]!
  }
  const out = new Uint8Array(valueOffsets[indices.length]!)
  for (let i = 0; i < indices.length; i++) {
    const row = indices[i]!
    out.set(bytes.subarray(offsets[row]!, offsets[row + 1]!), valueOffsets[i]!)
  }
  return { valueOffsets, data: out }
}

/** The rows `indices` of one column's data, as new data. */
export const takeData = (type: LogicalType, data: Arrow.Data, indices: Int32Array): Arrow.Data => {
  const length = indices.length
  const validity = takeValidity(data, indices)
  const props = { type: data.type, length, ...validity }
  switch (type.kind) {
    case "bool":
      return Arrow.makeData({ ...props, data: takeBits(data.values as Uint8Array, data.offset, indices) } as never)
    case "utf8":
    case "json":
    case "binary":
      return Arrow.makeData({ ...props, ...takeVariable(data, indices) } as never)
    case "decimal":
      return Arrow.makeData({ ...props, data: takeFixed(data.values as Uint32Array, 4, indices) } as never)
    case "uuid":
      return Arrow.makeData({ ...props, data: takeFixed(data.values as Uint8Array, 16, indices) } as never)
    case "list": {
      const offsets = data.valueOffsets as Int32Array
      const valueOffsets = new Int32Array(length + 1)
      for (let i = 0; i < length; i++) {
        const row = indices[i]!
        valueOffsets[i + 1] = valueOffsets[i]! + offsets[row + 1]! - offsets[row]!
      }
      const childIndices = new Int32Array(valueOffsets[length]!)
      let next = 0
      for (let i = 0; i < length; i++) {
        const row = indices[i]!
        for (let j = offsets[row]!; j < offsets[row + 1]!; j++) childIndices[next++] = j
      }
      const child = takeData(type.element, data.children[0]!, childIndices)
      return Arrow.makeData({ ...props, valueOffsets, child } as never)
    }
    default:
      return Arrow.makeData({ ...props, data: takeFixed(data.values as FixedArray, 1, indices) } as never)
  }
}

/**
 * A batch with only the rows `indices` (ascending or not, repeats allowed), copied
 * out of `batch`. Every row in order returns `batch` itself.
 */
export const takeRows = (batch: Batch, columns: ReadonlyArray<Column>, indices: Int32Array): Batch => {
  if (indices.length === batch.numRows && isIdentity(indices)) return batch
  const children = columns.map((column, i) => takeData(column.type, batch.data.children[i]!, indices))
  return makeBatch(batch.schema, indices.length, children)
}

const isIdentity = (indices: Int32Array): boolean => {
  for (let i = 0; i < indices.length; i++) if (indices[i] !== i) return false
  return true
}
