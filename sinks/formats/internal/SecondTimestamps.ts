/**
 * Parquet has no seconds unit for timestamps, and the Rust writer stores Arrow's
 * timestamp(s) as a bare INT64 that other readers take for a number. Ferry stores such
 * columns as milliseconds, a TIMESTAMP(MILLIS) every reader understands, names them
 * in the file's key-value metadata, and turns them back into seconds when it reads
 * the file. Both directions are exact: seconds times 1000 always divides back.
 */
import * as Arrow from "apache-arrow"
import * as Either from "effect/Either"
import type { LogicalType } from "../../../core/Types.js"
import { toArrowType } from "../../../core/Types.js"

/** The key-value metadata entry listing the columns stored as milliseconds. */
export const SECONDS_KEY = "ferry:timestamp_seconds"

const INT64_MAX = 2n ** 63n - 1n
const LIMIT = INT64_MAX / 1000n

export const hasSeconds = (type: LogicalType): boolean =>
  type.kind === "timestamp" ? type.unit === "s" : type.kind === "list" ? hasSeconds(type.element) : false

/** The type a column is stored as: seconds become milliseconds. */
export const storedType = (type: LogicalType): LogicalType =>
  type.kind === "timestamp" && type.unit === "s"
    ? { ...type, unit: "ms" }
    : type.kind === "list"
      ? { kind: "list", element: storedType(type.element) }
      : type

/** The type a stored column is read back as: milliseconds become seconds again. */
export const restoredType = (type: LogicalType): LogicalType =>
  type.kind === "timestamp" && type.unit === "ms"
    ? { ...type, unit: "s" }
    : type.kind === "list"
      ? { kind: "list", element: restoredType(type.element) }
      : type

const rescale = (
  data: Arrow.Data,
  from: LogicalType,
  to: LogicalType,
  scale: (value: bigint) => bigint | string
): Either.Either<Arrow.Data, string> => {
  if (from.kind === "list" && to.kind === "list") {
    return Either.map(rescale(data.children[0]!, from.element, to.element, scale), (child) =>
      data.clone(toArrowType(to), data.offset, data.length, data.nullCount, undefined, [child])
    )
  }
  if (from.kind !== "timestamp" || to.kind !== "timestamp" || from.unit === to.unit) return Either.right(data)
  const values = data.values as BigInt64Array
  const bits = data.nullCount === 0 ? undefined : sliceBits(data.nullBitmap, data.offset, data.length)
  const scaled = new BigInt64Array(data.length)
  for (let i = 0; i < data.length; i++) {
    // A null slot may hold anything; it stays zero.
    if (bits !== undefined && (bits[i >> 3]! & (1 << (i & 7))) === 0) continue
    const value = scale(values[data.offset + i]!)
    if (typeof value === "string") return Either.left(value)
    scaled[i] = value
  }
  return Either.right(
    Arrow.makeData({
      type: toArrowType(to) as Arrow.Timestamp,
      length: data.length,
      nullCount: data.nullCount,
      nullBitmap: bits,
      data: scaled
    })
  )
}

const sliceBits = (bits: Uint8Array | undefined, offset: number, length: number): Uint8Array | undefined => {
  if (bits === undefined || bits.length === 0) return undefined
  if (offset % 8 === 0) return bits.slice(offset >> 3, (offset + length + 7) >> 3)
  const result = new Uint8Array((length + 7) >> 3)
  for (let i = 0; i < length; i++) {
    const bit = offset + i
    if ((bits[bit >> 3]! & (1 << (bit & 7))) !== 0) result[i >> 3]! |= 1 << (i & 7)
  }
  return result
}

/** Seconds to milliseconds for writing; fails on a value beyond what milliseconds can hold. */
export const toMillis = (data: Arrow.Data, type: LogicalType): Either.Either<Arrow.Data, string> =>
  rescale(data, type, storedType(type), (value) =>
    value > LIMIT || value < -LIMIT
      ? `timestamp ${value}s is beyond what Parquet's milliseconds can hold`
      : value * 1000n
  )

/** Milliseconds back to seconds for reading; fails on a value that is not whole seconds. */
export const toSeconds = (data: Arrow.Data, type: LogicalType): Either.Either<Arrow.Data, string> =>
  rescale(data, storedType(type), type, (value) =>
    value % 1000n !== 0n ? `timestamp ${value}ms is not a whole number of seconds` : value / 1000n
  )
