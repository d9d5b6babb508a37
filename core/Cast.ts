/**
 * Casts a share config asks for (`casts: { amount: "decimal(12,2)" }`). A cast either
 * carries every value exactly or fails on the first one it cannot carry, naming the
 * value and the column; the lossy ones (rounding, truncating) run only with
 * `allow_lossy: true`. Casts that can never work (bool to date) are refused when the
 * run is planned, before any row is read. The table is in docs/casts.md.
 */
import * as Arrow from "apache-arrow"
import * as Either from "effect/Either"
import type { Batch } from "./Batch.js"
import { makeColumnBuilder, makeColumnReader } from "./Batch.js"
import { CastError } from "./Errors.js"
import type { RawArray } from "./internal/columns.js"
import {
  copyValidity,
  isSet,
  newRawArray,
  nullBits,
  rawValues,
  readDecimalAt,
  writeDecimalAt
} from "./internal/columns.js"
import { makeBatch } from "./Rows.js"
import type { Column, LogicalType } from "./Types.js"
import { isSameType, toArrowType, toSchema, typeName, unitsPerSecond } from "./Types.js"
import type { Value } from "./Values.js"
import { formatDecimal, formatText, parseText, toJson, uuidFromBytes, uuidToBytes } from "./Values.js"

/** Why one value could not be cast; made only on failure, so the per-value path allocates nothing. */
class CastFailure {
  constructor(readonly message: string) {}
}

type Convert = (value: Value) => Value | CastFailure

/** One column's cast: `relabel` when only the Arrow type changes and the buffers stay as they are. */
export interface ColumnCast {
  readonly from: Column
  readonly to: Column
  readonly relabel: boolean
  readonly convert: Convert
}

export interface CastPlan {
  /** The columns of the batches `applyCasts` returns. */
  readonly columns: ReadonlyArray<Column>
  readonly schema: Arrow.Schema
  /** Per column, its cast, or `undefined` when it passes through untouched. */
  readonly casts: ReadonlyArray<ColumnCast | undefined>
}

// ---- values in messages ------------------------------------------------------------

const shown = (type: LogicalType, value: Value): string => {
  const text = type.kind === "float32" ? float32Text(value as number) : formatText(type, value)
  const short = text.length > 60 ? `${text.slice(0, 60)}…` : text
  return type.kind === "utf8" || type.kind === "json" || type.kind === "binary" ? JSON.stringify(short) : short
}

/** Builds the failures of one column's cast, each saying whether `allow_lossy: true` would change anything. */
const failures = (column: string, from: LogicalType, to: LogicalType) => ({
  /** A value only a lossy cast carries; `result` is what it would become. */
  lossy: (value: Value, what: string, result: string) =>
    new CastFailure(
      `column ${column}: ${shown(from, value)} ${what} (it would become ${result}); ` +
        `set allow_lossy: true on the dataset to accept that`
    ),
  /** A value no cast carries, lossy or not. */
  impossible: (value: Value, what: string) =>
    new CastFailure(`column ${column}: ${shown(from, value)} ${what}; allow_lossy: true does not change that`),
  /** Text that is not a value of the target type; `reason` usually quotes it already, sometimes twice. */
  unreadable: (value: Value, reason: string) => {
    const quoted = JSON.stringify(value)
    const plain = reason.startsWith(`${quoted}: `) ? reason.slice(quoted.length + 2) : reason
    return new CastFailure(
      plain.includes(value as string)
        ? `column ${column}: cannot cast to ${typeName(to)}: ${plain}`
        : `column ${column}: cannot cast ${shown(from, value)} to ${typeName(to)}: ${plain}`
    )
  }
})

type Failures = ReturnType<typeof failures>

// ---- numbers -----------------------------------------------------------------------

const INT_BOUNDS: Record<"int8" | "int16" | "int32" | "int64", readonly [bigint, bigint]> = {
  int8: [-128n, 127n],
  int16: [-32768n, 32767n],
  int32: [-2147483648n, 2147483647n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n]
}
const INT_DIGITS = { int8: 3, int16: 5, int32: 10, int64: 19 } as const
const INT_WIDTH = { int8: 8, int16: 16, int32: 32, int64: 64 } as const

type IntKind = keyof typeof INT_BOUNDS
const isInt = (type: LogicalType): type is { kind: IntKind } => type.kind in INT_BOUNDS
const isFloat = (type: LogicalType): type is { kind: "float32" | "float64" } =>
  type.kind === "float32" || type.kind === "float64"

const SAFE_BIGINT = 2n ** 53n
/** Within ±2^53 every integer is an exact float64, which saves building a bigint per value to check. */
const isSafeInteger = (value: Value): boolean =>
  typeof value === "bigint" ? value <= SAFE_BIGINT && value >= -SAFE_BIGINT : true

const toBigInt = (value: Value): bigint => (typeof value === "bigint" ? value : BigInt(value as number))

/** An integer in the representation of `kind` (bigint for int64), or the failure when out of range. */
const intResult = (kind: IntKind, n: bigint, original: Value, fail: Failures): Value | CastFailure => {
  const [min, max] = INT_BOUNDS[kind]
  if (n < min || n > max) return fail.impossible(original, `is out of range for ${kind} (${min} to ${max})`)
  return kind === "int64" ? n : Number(n)
}

/** The shortest decimal text that reads back as the same float32. */
const float32Text = (value: number): string => {
  if (!Number.isFinite(value)) return formatText({ kind: "float32" }, value)
  for (let digits = 1; digits < 10; digits++) {
    const candidate = Number(value.toPrecision(digits))
    if (Math.fround(candidate) === value) return String(candidate)
  }
  return String(value)
}

const floatText = (kind: "float32" | "float64", value: number): string =>
  kind === "float32" ? float32Text(value) : String(value)

const POWERS_OF_TEN = Array.from({ length: 80 }, (_, n) => 10n ** BigInt(n))
const pow10 = (n: number): bigint => POWERS_OF_TEN[n] ?? 10n ** BigInt(n)

/** Powers of ten that doubles hold exactly. */
const EXACT_DOUBLE_POWERS = Array.from({ length: 23 }, (_, n) => 10 ** n)

/**
 * The unscaled decimal at `scale` that reads back as exactly `value` (a float64, or a
 * float32 when `single`), when arithmetic on doubles can tell; `undefined` leaves the
 * question to the exact text route. Below 2^52 (2^23 for float32) units of the scale,
 * at most one such decimal exists, so finding one settles it.
 */
const quickDecimal = (value: number, scale: number, single: boolean): bigint | undefined => {
  const power = EXACT_DOUBLE_POWERS[scale]
  if (power === undefined) return undefined
  const unscaled = Math.round(value * power)
  if (Math.abs(unscaled) >= (single ? 2 ** 23 : 2 ** 52)) return undefined
  const back = unscaled / power
  return (single ? Math.fround(back) : back) === value ? BigInt(unscaled) : undefined
}

/** The exact decimal value of number text such as `-1.25e-7`: its unscaled digits and scale. */
const exactDecimal = (text: string): { unscaled: bigint; scale: number } => {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i.exec(text)
  if (match === null) return { unscaled: 0n, scale: 0 }
  const fraction = match[3] ?? ""
  let scale = fraction.length - Number(match[4] ?? "0")
  let unscaled = BigInt(`${match[2] ?? ""}${fraction}` || "0")
  if (scale < 0) {
    unscaled *= pow10(-scale)
    scale = 0
  }
  return { unscaled: match[1] === "-" ? -unscaled : unscaled, scale }
}

/** Moves an unscaled decimal to another scale, rounding half away from zero; `exact` when nothing was dropped. */
const rescale = (unscaled: bigint, from: number, to: number): { value: bigint; exact: boolean } => {
  if (to >= from) return { value: unscaled * pow10(to - from), exact: true }
  const divisor = pow10(from - to)
  const quotient = unscaled / divisor
  const remainder = unscaled % divisor
  if (remainder === 0n) return { value: quotient, exact: true }
  const twice = (remainder < 0n ? -remainder : remainder) * 2n
  const away = twice >= divisor ? (unscaled < 0n ? -1n : 1n) : 0n
  return { value: quotient + away, exact: false }
}

const fitsPrecision = (unscaled: bigint, precision: number): boolean =>
  (unscaled < 0n ? -unscaled : unscaled) < pow10(precision)

/** Rounds half away from zero, as the decimal casts do, so that 2.5 becomes 3 and -2.5 becomes -3. */
const roundHalfAway = (value: number): number => Math.sign(value) * Math.round(Math.abs(value))

// ---- time --------------------------------------------------------------------------

const SECONDS_PER_DAY = 86_400n
const floorDiv = (a: bigint, b: bigint): bigint => {
  const quotient = a / b
  return a % b !== 0n && a < 0n !== b < 0n ? quotient - 1n : quotient
}

// ---- the cast table ----------------------------------------------------------------

type Planned = { readonly convert: Convert; readonly relabel?: boolean } | string

const identity: Convert = (value) => value

/** How to carry a value of `from` into `to`, or why it can never be done. */
const planConversion = (
  column: string,
  from: LogicalType,
  to: LogicalType,
  allowLossy: boolean,
  fail: Failures
): Planned => {
  if (isSameType(from, to)) return { convert: identity, relabel: true }
  if (to.kind === "utf8") return toText(from)
  if (from.kind === "utf8") {
    return {
      convert: (value) => {
        const parsed = parseText(to, value as string)
        return Either.isRight(parsed) ? parsed.right : fail.unreadable(value, parsed.left)
      }
    }
  }
  if (isInt(from)) return fromInt(from.kind, to, allowLossy, fail)
  if (isFloat(from)) return fromFloat(from.kind, to, allowLossy, fail)
  if (from.kind === "decimal") return fromDecimal(from, to, allowLossy, fail)
  if (from.kind === "bool" && isInt(to)) {
    const kind = to.kind
    return { convert: (value) => (kind === "int64" ? (value ? 1n : 0n) : value ? 1 : 0) }
  }
  if (from.kind === "timestamp") return fromTime(from, to, allowLossy, fail)
  if (from.kind === "date") return fromTime({ kind: "date" }, to, allowLossy, fail)
  if (from.kind === "uuid" && to.kind === "binary") {
    return {
      convert: (value) => {
        const bytes = new Uint8Array(16)
        uuidToBytes(value as string, bytes, 0)
        return bytes
      }
    }
  }
  if (from.kind === "binary" && to.kind === "uuid") {
    return {
      convert: (value) => {
        const bytes = value as Uint8Array
        return bytes.length === 16 ? uuidFromBytes(bytes, 0) : fail.impossible(value, `is ${bytes.length} bytes long`)
      }
    }
  }
  if (from.kind === "list" && to.kind === "json") {
    return { convert: (value) => JSON.stringify(toJson(from, value)) }
  }
  return `cannot cast column ${column} from ${typeName(from)} to ${typeName(to)}`
}

const toText = (from: LogicalType): Planned => {
  if (from.kind === "json") return { convert: identity, relabel: true }
  if (from.kind === "float32") return { convert: (value) => float32Text(value as number) }
  return { convert: (value) => formatText(from, value) }
}

const fromInt = (kind: IntKind, to: LogicalType, allowLossy: boolean, fail: Failures): Planned => {
  if (isInt(to)) {
    const target = to.kind
    if (INT_WIDTH[target] >= INT_WIDTH[kind]) {
      return { convert: target === "int64" ? (value) => toBigInt(value) : identity }
    }
    return { convert: (value) => intResult(target, toBigInt(value), value, fail) }
  }
  if (to.kind === "decimal") {
    const { precision, scale } = to
    const factor = pow10(scale)
    if (precision - scale >= INT_DIGITS[kind]) return { convert: (value) => toBigInt(value) * factor }
    return {
      convert: (value) => {
        const unscaled = toBigInt(value) * factor
        return fitsPrecision(unscaled, precision) ? unscaled : fail.impossible(value, `does not fit ${typeName(to)}`)
      }
    }
  }
  if (isFloat(to)) {
    const target = to.kind
    const exact = target === "float64" ? kind !== "int64" : kind === "int8" || kind === "int16"
    if (exact) return { convert: (value) => Number(value) }
    return {
      convert: (value) => {
        const n = target === "float32" ? Math.fround(Number(value)) : Number(value)
        if (allowLossy || (target === "float64" && isSafeInteger(value)) || BigInt(n) === toBigInt(value)) return n
        return fail.lossy(value, `has no exact ${target} equivalent`, floatText(target, n))
      }
    }
  }
  return `cannot cast ${kind} to ${typeName(to)}`
}

const fromFloat = (kind: "float32" | "float64", to: LogicalType, allowLossy: boolean, fail: Failures): Planned => {
  if (to.kind === "float64") return { convert: identity }
  if (to.kind === "float32") {
    return {
      convert: (value) => {
        const n = value as number
        const narrowed = Math.fround(n)
        if (allowLossy || narrowed === n || Number.isNaN(n)) return narrowed
        return fail.lossy(value, "has no exact float32 equivalent", float32Text(narrowed))
      }
    }
  }
  if (isInt(to)) {
    const target = to.kind
    return {
      convert: (value) => {
        const n = value as number
        if (!Number.isFinite(n)) return fail.impossible(value, "is not a finite number")
        const rounded = roundHalfAway(n)
        if (rounded !== n && !allowLossy) return fail.lossy(value, "is not a whole number", String(rounded))
        return intResult(target, BigInt(rounded), value, fail)
      }
    }
  }
  if (to.kind === "decimal") {
    return {
      convert: (value) => {
        const n = value as number
        if (!Number.isFinite(n)) return fail.impossible(value, "is not a finite number")
        const quick = quickDecimal(n, to.scale, kind === "float32")
        if (quick !== undefined && fitsPrecision(quick, to.precision)) return quick
        const exact = exactDecimal(floatText(kind, n))
        const { value: unscaled, exact: kept } = rescale(exact.unscaled, exact.scale, to.scale)
        if (!fitsPrecision(unscaled, to.precision)) return fail.impossible(value, `does not fit ${typeName(to)}`)
        if (!kept && !allowLossy) {
          return fail.lossy(value, `has more than ${to.scale} decimal places`, formatDecimal(unscaled, to.scale))
        }
        return unscaled
      }
    }
  }
  return `cannot cast ${kind} to ${typeName(to)}`
}

const fromDecimal = (
  from: { readonly precision: number; readonly scale: number },
  to: LogicalType,
  allowLossy: boolean,
  fail: Failures
): Planned => {
  const scaleTo = (value: Value, scale: number, precision: number, target: string): bigint | CastFailure => {
    const { exact, value: unscaled } = rescale(value as bigint, from.scale, scale)
    if (!fitsPrecision(unscaled, precision)) return fail.impossible(value, `does not fit ${target}`)
    if (!exact && !allowLossy) {
      const what = scale === 0 ? "is not a whole number" : `has more than ${scale} decimal places`
      return fail.lossy(value, what, formatDecimal(unscaled, scale))
    }
    return unscaled
  }
  if (to.kind === "decimal") {
    return { convert: (value) => scaleTo(value, to.scale, to.precision, typeName(to)) }
  }
  if (isInt(to)) {
    const target = to.kind
    return {
      convert: (value) => {
        const whole = scaleTo(value, 0, 39, target)
        return whole instanceof CastFailure ? whole : intResult(target, whole, value, fail)
      }
    }
  }
  if (isFloat(to)) {
    const target = to.kind
    return {
      convert: (value) => {
        const unscaled = value as bigint
        const power = EXACT_DOUBLE_POWERS[from.scale]
        const small = power !== undefined && unscaled < 2n ** 53n && unscaled > -(2n ** 53n)
        // Both operands are exact doubles, so the quotient is the correctly rounded value, as Number(text) is.
        const wide = small ? Number(unscaled) / power : Number(formatDecimal(unscaled, from.scale))
        const n = target === "float32" ? Math.fround(wide) : wide
        if (allowLossy || quickDecimal(n, from.scale, target === "float32") === unscaled) return n
        const back = exactDecimal(floatText(target, n))
        const { exact, value: rescaled } = rescale(back.unscaled, back.scale, from.scale)
        return exact && rescaled === unscaled
          ? n
          : fail.lossy(value, `has no exact ${target} equivalent`, floatText(target, n))
      }
    }
  }
  return `cannot cast ${typeName({ kind: "decimal", ...from })} to ${typeName(to)}`
}

const fromTime = (
  from: Extract<LogicalType, { kind: "timestamp" }> | { readonly kind: "date" },
  to: LogicalType,
  allowLossy: boolean,
  fail: Failures
): Planned => {
  // A date is a timestamp in whole days, so both casts go through one unit factor.
  const fromPerDay = from.kind === "date" ? 1n : SECONDS_PER_DAY * unitsPerSecond(from.unit)
  const [fromPerSecond, toPerSecond] =
    to.kind === "timestamp"
      ? from.kind === "date"
        ? [1n, SECONDS_PER_DAY * unitsPerSecond(to.unit)]
        : [unitsPerSecond(from.unit), unitsPerSecond(to.unit)]
      : to.kind === "date"
        ? [fromPerDay, 1n]
        : [0n, 0n]
  if (fromPerSecond === 0n) return `cannot cast ${typeName(from)} to ${typeName(to)}`
  const target = typeName(to)
  const read = from.kind === "date" ? (value: Value) => BigInt(value as number) : (value: Value) => value as bigint
  const write = to.kind === "date" ? (n: bigint) => Number(n) : (n: bigint) => n
  const [min, max] = to.kind === "date" ? [-(2n ** 31n), 2n ** 31n - 1n] : INT_BOUNDS.int64
  if (toPerSecond >= fromPerSecond) {
    const factor = toPerSecond / fromPerSecond
    if (factor === 1n) return { convert: identity, relabel: true }
    return {
      convert: (value) => {
        const n = read(value) * factor
        return n < min || n > max ? fail.impossible(value, `is out of the range of ${target}`) : write(n)
      }
    }
  }
  const divisor = fromPerSecond / toPerSecond
  return {
    convert: (value) => {
      const n = read(value)
      const truncated = floorDiv(n, divisor)
      if (truncated * divisor !== n && !allowLossy) {
        return fail.lossy(value, `is finer than ${target} keeps`, formatText(to, write(truncated)))
      }
      return write(truncated)
    }
  }
}

// ---- planning and applying -----------------------------------------------------------

/**
 * Plans the casts of a dataset: one per column named in `casts`. Fails when a cast
 * names a column the dataset does not have, or asks for a conversion that can never
 * work; per-value problems surface in `applyCasts`.
 */
export const planCasts = (
  columns: ReadonlyArray<Column>,
  casts: ReadonlyMap<string, LogicalType>,
  allowLossy: boolean
): Either.Either<CastPlan, string> => {
  const names = new Set(columns.map((column) => column.name))
  for (const name of casts.keys()) {
    if (!names.has(name)) return Either.left(`casts name column ${name}, which the dataset does not have`)
  }
  const planned: Array<ColumnCast | undefined> = []
  for (const column of columns) {
    const to = casts.get(column.name)
    if (to === undefined) {
      planned.push(undefined)
      continue
    }
    const conversion = planConversion(column.name, column.type, to, allowLossy, failures(column.name, column.type, to))
    if (typeof conversion === "string") {
      return Either.left(
        conversion.startsWith("cannot cast column")
          ? conversion
          : `cannot cast column ${column.name} from ${typeName(column.type)} to ${typeName(to)}`
      )
    }
    planned.push({
      from: column,
      to: { ...column, type: to },
      relabel: conversion.relabel === true,
      convert: conversion.convert
    })
  }
  const output = columns.map((column, i) => planned[i]?.to ?? column)
  return Either.right({ columns: output, schema: toSchema(output), casts: planned })
}

const directReader = (type: LogicalType, data: Arrow.Data): ((row: number) => Value) | undefined => {
  const raw = rawValues(type, data)
  if (raw !== undefined) return (row) => raw[row]!
  if (type.kind !== "decimal") return undefined
  const words = data.values as Uint32Array
  return (row) => readDecimalAt(words, row)
}

const directWriter = (
  type: LogicalType,
  length: number
): { readonly buffer: RawArray | Uint32Array; readonly set: (row: number, value: Value) => void } | undefined => {
  const raw = newRawArray(type, length)
  if (raw !== undefined) return { buffer: raw, set: (row, value) => (raw[row] = value as never) }
  if (type.kind !== "decimal") return undefined
  const words = new Uint32Array(length * 4)
  return { buffer: words, set: (row, value) => writeDecimalAt(words, row, value as bigint) }
}

const castData = (cast: ColumnCast, data: Arrow.Data, length: number): Arrow.Data | CastError => {
  if (cast.relabel) return data.clone(toArrowType(cast.to.type))
  const convert = cast.convert
  const read = directReader(cast.from.type, data)
  const write = directWriter(cast.to.type, length)
  if (read !== undefined && write !== undefined) {
    // Between value buffers, without the generic readers and builders; the validity bitmap is kept.
    const bits = nullBits(data)
    const offset = data.offset
    for (let i = 0; i < length; i++) {
      if (bits !== undefined && !isSet(bits, offset + i)) continue
      const result = convert(read(i))
      if (result instanceof CastFailure) return new CastError({ column: cast.from.name, message: result.message })
      write.set(i, result)
    }
    return Arrow.makeData({
      type: toArrowType(cast.to.type),
      length,
      ...copyValidity(data, length),
      data: write.buffer
    } as never)
  }
  const readValue = makeColumnReader(cast.from.type, data)
  const builder = makeColumnBuilder(cast.to.type)
  for (let i = 0; i < length; i++) {
    const value = readValue(i)
    if (value === null) {
      builder.appendNull()
      continue
    }
    const result = convert(value)
    if (result instanceof CastFailure) return new CastError({ column: cast.from.name, message: result.message })
    builder.append(result)
  }
  return builder.finish()
}

/** The batch with its columns cast as planned; fails on the first value a cast cannot carry. */
export const applyCasts = (plan: CastPlan, batch: Batch): Either.Either<Batch, CastError> => {
  if (plan.casts.every((cast) => cast === undefined)) return Either.right(batch)
  const children: Array<Arrow.Data> = []
  for (let i = 0; i < plan.casts.length; i++) {
    const cast = plan.casts[i]
    const data = batch.data.children[i]!
    if (cast === undefined) {
      children.push(data)
      continue
    }
    const result = castData(cast, data, batch.numRows)
    if (result instanceof CastError) return Either.left(result)
    children.push(result)
  }
  return Either.right(makeBatch(plan.schema, batch.numRows, children))
}
