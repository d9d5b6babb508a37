/**
 * The in-memory form of a single value of each logical type, and its text form.
 *
 * Values stay in the representation Arrow stores, so nothing is lost on the way
 * through: int64, decimals (unscaled), times and timestamps are bigints, dates are
 * days since 1970-01-01, UUIDs are canonical lowercase strings. The text forms are
 * the ones CSV files, filters, casts and watermarks use.
 */
import * as Either from "effect/Either"
import type { LogicalType, TimeUnitName } from "./Types.js"
import { unitsPerSecond } from "./Types.js"

export type Value = number | bigint | boolean | string | Uint8Array | ReadonlyArray<Value | null>

const INT_RANGES = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-2147483648, 2147483647]
} as const
const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

export const pow10 = (n: number): bigint => 10n ** BigInt(n)

// ---- dates: proleptic Gregorian days since the Unix epoch -------------------------

/** Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil). */
export const daysFromCivil = (year: number, month: number, day: number): number => {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

export const civilFromDays = (days: number): { year: number; month: number; day: number } => {
  const z = days + 719468
  const era = Math.floor(z / 146097)
  const doe = z - era * 146097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day }
}

const daysInMonth = (year: number, month: number): number =>
  month === 2
    ? (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
      ? 29
      : 28
    : month === 4 || month === 6 || month === 9 || month === 11
      ? 30
      : 31

const pad = (n: number | bigint, width: number): string => String(n).padStart(width, "0")

const formatYear = (year: number): string => (year < 0 ? `-${pad(-year, 4)}` : pad(year, 4))

const twoDigits = (n: number): string => (n < 10 ? `0${n}` : `${n}`)

export const formatDate = (days: number): string => {
  const { day, month, year } = civilFromDays(days)
  return `${year >= 1000 && year <= 9999 ? `${year}` : formatYear(year)}-${twoDigits(month)}-${twoDigits(day)}`
}

const DATE = /^(-?\d{4,6})-(\d{2})-(\d{2})/

const parseDatePrefix = (text: string): Either.Either<{ days: number; rest: string }, string> => {
  const match = DATE.exec(text)
  if (match === null) return Either.left("expected a date as YYYY-MM-DD")
  const year = Number(match[1])
  const month = Number(match[2])
  const day = Number(match[3])
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    return Either.left(`"${match[0]}" is not a calendar date`)
  }
  return Either.right({ days: daysFromCivil(year, month, day), rest: text.slice(match[0].length) })
}

// ---- times -------------------------------------------------------------------------

const TIME = /^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?/

/** Parses HH:MM[:SS[.fffffffff]] into nanoseconds since midnight. */
const parseTimePrefix = (text: string): Either.Either<{ nanos: bigint; rest: string }, string> => {
  const match = TIME.exec(text)
  if (match === null) return Either.left("expected a time as HH:MM:SS[.ffffff]")
  const hours = Number(match[1])
  const minutes = Number(match[2])
  const seconds = Number(match[3] ?? "0")
  // 24:00:00 is the end of the day, which PostgreSQL and ISO 8601 both accept.
  const endOfDay = hours === 24 && minutes === 0 && seconds === 0 && /^0*$/.test(match[4] ?? "")
  if (!endOfDay && (hours > 23 || minutes > 59 || seconds > 59)) {
    return Either.left(`"${match[0]}" is not a time of day`)
  }
  const fraction = BigInt((match[4] ?? "").padEnd(9, "0"))
  const nanos = BigInt(hours * 3600 + minutes * 60 + seconds) * 1_000_000_000n + fraction
  return Either.right({ nanos, rest: text.slice(match[0].length) })
}

/** `.fff…` of a sub-second count of a unit with `digits` decimals, trailing zeros dropped. */
const formatFraction = (sub: number, digits: number): string => {
  if (sub === 0) return ""
  let text = pad(sub, digits)
  let end = text.length
  while (text.charCodeAt(end - 1) === 48) end--
  text = text.slice(0, end)
  return `.${text}`
}

/** HH:MM:SS of a second of the day, in plain numbers: the hot path of writing times and timestamps. */
const formatSecondOfDay = (second: number): string => {
  const h = Math.floor(second / 3600)
  const m = Math.floor((second % 3600) / 60)
  const s = second % 60
  return `${h < 10 ? "0" : ""}${h}:${m < 10 ? "0" : ""}${m}:${s < 10 ? "0" : ""}${s}`
}

/** `micros` may be a safe-integer number, which spares readers of Arrow buffers a bigint. */
export const formatTime = (micros: bigint | number): string => {
  const value = Number(micros)
  const second = Math.floor(value / 1_000_000)
  return formatSecondOfDay(second) + formatFraction(value - second * 1_000_000, 6)
}

// ---- timestamps --------------------------------------------------------------------

const NANOS_PER_DAY = 86_400_000_000_000n

const unitDigits: Record<TimeUnitName, number> = { s: 0, ms: 3, us: 6, ns: 9 }
const MAX_SAFE_SECONDS = BigInt(Number.MAX_SAFE_INTEGER)
const MAX_SAFE_VALUE = MAX_SAFE_SECONDS
const unitsPerSecondNumber: Record<TimeUnitName, number> = { s: 1, ms: 1_000, us: 1_000_000, ns: 1_000_000_000 }
const floorDiv = (a: bigint, b: bigint): bigint => (a >= 0n ? a / b : -((-a + b - 1n) / b))

/**
 * Formats a timestamp in `unit` as ISO 8601; zoned timestamps are written in UTC with a `Z`.
 * `value` may be a safe-integer number, which spares readers of Arrow buffers a bigint.
 */
export const formatTimestamp = (value: bigint | number, unit: TimeUnitName, zoned: boolean): string => {
  if (typeof value === "number" || (value >= -MAX_SAFE_VALUE && value <= MAX_SAFE_VALUE)) {
    // Doubles hold the value exactly; the division may round, and the remainder corrects it.
    const v = Number(value)
    const perSecondNumber = unitsPerSecondNumber[unit]
    let totalSeconds = Math.floor(v / perSecondNumber)
    let subSecond = v - totalSeconds * perSecondNumber
    if (subSecond < 0) {
      totalSeconds -= 1
      subSecond += perSecondNumber
    } else if (subSecond >= perSecondNumber) {
      totalSeconds += 1
      subSecond -= perSecondNumber
    }
    const days = Math.floor(totalSeconds / 86_400)
    const clock = formatSecondOfDay(totalSeconds - days * 86_400) + formatFraction(subSecond, unitDigits[unit])
    return `${formatDate(days)}T${clock}${zoned ? "Z" : ""}`
  }
  const perSecond = unitsPerSecond(unit)
  let seconds = value / perSecond
  let sub = value - seconds * perSecond
  if (sub < 0n) {
    seconds -= 1n
    sub += perSecond
  }
  let days: number
  let secondOfDay: number
  if (seconds >= -MAX_SAFE_SECONDS && seconds <= MAX_SAFE_SECONDS) {
    const totalSeconds = Number(seconds)
    days = Math.floor(totalSeconds / 86_400)
    secondOfDay = totalSeconds - days * 86_400
  } else {
    const bigDays = floorDiv(seconds, 86_400n)
    days = Number(bigDays)
    secondOfDay = Number(seconds - bigDays * 86_400n)
  }
  const clock = formatSecondOfDay(secondOfDay) + formatFraction(Number(sub), unitDigits[unit])
  return `${formatDate(days)}T${clock}${zoned ? "Z" : ""}`
}

const OFFSET = /^(?:Z|([+-])(\d{2}):?(\d{2})?)$/i

const COMMON_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})?$/

/**
 * `YYYY-MM-DD[T ]HH:MM:SS[.f…][Z|±HH:MM]`, the shape nearly every file uses, read with
 * plain numbers and two bigints; anything else (or anything wrong) is left to the
 * general parser, which also words the error.
 */
const parseCommonTimestamp = (text: string, unit: TimeUnitName, zoned: boolean): bigint | undefined => {
  const match = COMMON_TIMESTAMP.exec(text)
  if (match === null) return undefined
  const year = Number(match[1])
  const month = Number(match[2])
  const day = Number(match[3])
  const hours = Number(match[4])
  const minutes = Number(match[5])
  const seconds = Number(match[6])
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined
  if (hours > 23 || minutes > 59 || seconds > 59) return undefined
  const offsetText = match[8]
  let offsetSeconds = 0
  if (offsetText !== undefined && offsetText !== "Z") {
    if (!zoned) return undefined
    const sign = offsetText.charCodeAt(0) === 45 ? -1 : 1
    offsetSeconds = sign * (Number(offsetText.slice(1, 3)) * 3600 + Number(offsetText.slice(4, 6)) * 60)
  } else if (offsetText === "Z" && !zoned) {
    return undefined
  }
  const digits = unitDigits[unit]
  const fraction = match[7] ?? ""
  if (fraction.length > digits && !/^0*$/.test(fraction.slice(digits))) return undefined
  const sub = digits === 0 ? 0 : Number(fraction.slice(0, digits).padEnd(digits, "0"))
  const epochSeconds = daysFromCivil(year, month, day) * 86_400 + hours * 3600 + minutes * 60 + seconds - offsetSeconds
  const value = BigInt(epochSeconds) * unitsPerSecond(unit) + BigInt(sub)
  return value < INT64_MIN || value > INT64_MAX ? undefined : value
}

/**
 * Parses an ISO 8601 timestamp (`T` or a space between date and time) into `unit`.
 * A zoned timestamp without an offset or `Z` is read as UTC; a naive one refuses an
 * offset, because dropping it would silently shift the value.
 */
export const parseTimestamp = (text: string, unit: TimeUnitName, zoned: boolean): Either.Either<bigint, string> => {
  const fast = parseCommonTimestamp(text, unit, zoned)
  if (fast !== undefined) return Either.right(fast)
  const date = parseDatePrefix(text.trim())
  if (Either.isLeft(date)) return Either.left(`${date.left}[ HH:MM:SS[.ffffff]][Z|±HH:MM]`)
  const { days } = date.right
  let rest = date.right.rest
  let nanosOfDay = 0n
  if (rest.length > 0) {
    if (rest[0] !== "T" && rest[0] !== " " && rest[0] !== "t") return Either.left(`unexpected "${rest}" after the date`)
    const time = parseTimePrefix(rest.slice(1))
    if (Either.isLeft(time)) return Either.left(time.left)
    nanosOfDay = time.right.nanos
    rest = time.right.rest.trim()
  }
  let offsetSeconds = 0n
  if (rest.length > 0) {
    const offset = OFFSET.exec(rest)
    if (offset === null) return Either.left(`unexpected "${rest}" after the time; expected Z or an offset like +02:00`)
    if (!zoned) return Either.left(`"${text}" has a time zone offset, but the column is a timestamp without time zone`)
    if (offset[1] !== undefined) {
      const sign = offset[1] === "-" ? -1n : 1n
      offsetSeconds = sign * (BigInt(offset[2]!) * 3600n + BigInt(offset[3] ?? "0") * 60n)
    }
  }
  const nanos = BigInt(days) * NANOS_PER_DAY + nanosOfDay - offsetSeconds * 1_000_000_000n
  const divisor = 1_000_000_000n / unitsPerSecond(unit)
  if (nanos % divisor !== 0n) {
    return Either.left(`"${text}" has more fractional digits than the column's unit (${unit}) keeps`)
  }
  const value = nanos / divisor
  if (value < INT64_MIN || value > INT64_MAX) return Either.left(`"${text}" is out of range for timestamp(${unit})`)
  return Either.right(value)
}

// ---- decimals ----------------------------------------------------------------------

export const formatDecimal = (unscaled: bigint, scale: number): string => {
  if (scale === 0) return unscaled.toString()
  const negative = unscaled < 0n
  const digits = (negative ? -unscaled : unscaled).toString().padStart(scale + 1, "0")
  return `${negative ? "-" : ""}${digits.slice(0, -scale)}.${digits.slice(-scale)}`
}

const DECIMAL_TEXT = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/

/** Parses decimal text exactly into an unscaled bigint at `scale`; refuses digits it would drop. */
const PLAIN_DECIMAL = /^-?\d+(?:\.\d+)?$/

export const parseDecimal = (text: string, precision: number, scale: number): Either.Either<bigint, string> => {
  if (PLAIN_DECIMAL.test(text)) {
    // Plain `-123.45` within the scale: the digits are the unscaled value, padded to the scale.
    const dot = text.indexOf(".")
    const fraction = dot < 0 ? "" : text.slice(dot + 1)
    if (fraction.length <= scale) {
      const negative = text.charCodeAt(0) === 45
      const integer = text.slice(negative ? 1 : 0, dot < 0 ? text.length : dot)
      let first = 0
      while (first < integer.length - 1 && integer.charCodeAt(first) === 48) first++
      if (integer.length - first <= precision - scale || (integer.length - first === 1 && integer[first] === "0")) {
        const digits = integer.slice(first) + fraction + "0".repeat(scale - fraction.length)
        return Either.right(BigInt(negative ? `-${digits}` : digits))
      }
    }
  }
  const match = DECIMAL_TEXT.exec(text.trim())
  if (match === null || (match[2] === "" && (match[3] ?? "") === "")) {
    return Either.left(`"${text}" is not a decimal number`)
  }
  const sign = match[1] === "-" ? -1n : 1n
  const exponent = Number(match[4] ?? "0")
  let integer = match[2] ?? ""
  let fraction = match[3] ?? ""
  if (exponent > 0) {
    const moved = fraction.padEnd(exponent, "0")
    integer += moved.slice(0, exponent)
    fraction = moved.slice(exponent)
  } else if (exponent < 0) {
    const moved = integer.padStart(-exponent, "0")
    fraction = moved.slice(moved.length + exponent) + fraction
    integer = moved.slice(0, moved.length + exponent)
  }
  const dropped = fraction.slice(scale)
  if (/[1-9]/.test(dropped)) {
    return Either.left(`"${text}" has more than ${scale} digits after the decimal point`)
  }
  const unscaled =
    sign * BigInt((integer + fraction.slice(0, scale).padEnd(scale, "0")).replace(/^0+(?=\d)/, "") || "0")
  if ((unscaled < 0n ? -unscaled : unscaled) >= pow10(precision)) {
    return Either.left(`"${text}" does not fit decimal(${precision},${scale})`)
  }
  return Either.right(unscaled)
}

// ---- binary and UUID ---------------------------------------------------------------

const HEX = "0123456789abcdef"

export const formatHex = (bytes: Uint8Array): string => {
  let text = "\\x"
  for (const byte of bytes) text += HEX[byte >> 4]! + HEX[byte & 15]!
  return text
}

const parseHex = (text: string): Either.Either<Uint8Array, string> => {
  const hex = text.startsWith("\\x") ? text.slice(2) : text
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    return Either.left(`expected binary as hexadecimal digits after \\x`)
  }
  const bytes = new Uint8Array(hex.length / 2)
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  return Either.right(bytes)
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i

export const normalizeUuid = (text: string): Either.Either<string, string> => {
  const trimmed = text.trim().replace(/^\{(.*)\}$/, "$1")
  if (!UUID.test(trimmed)) return Either.left(`"${text}" is not a UUID`)
  const hex = trimmed.replace(/-/g, "").toLowerCase()
  return Either.right(
    `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
  )
}

export const uuidToBytes = (uuid: string, target: Uint8Array, offset: number): void => {
  const hex = uuid.replace(/-/g, "")
  for (let i = 0; i < 16; i++) target[offset + i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
}

export const uuidFromBytes = (bytes: Uint8Array, offset: number): string => {
  let hex = ""
  for (let i = 0; i < 16; i++) {
    const byte = bytes[offset + i]!
    hex += HEX[byte >> 4]! + HEX[byte & 15]!
  }
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

// ---- one entry point per direction -------------------------------------------------

const INTEGER = /^[+-]?\d+$/
const SHORT_INT64 = /^-?\d{1,18}$/
const PLAIN_DATE = /^\d{4}-\d{2}-\d{2}$/
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/
const TRUE_WORDS = new Set(["true", "t", "yes", "y", "1"])
const FALSE_WORDS = new Set(["false", "f", "no", "n", "0"])

/** Parses the text form of a value of `type`; the message says what was expected. */
export const parseText = (type: LogicalType, text: string): Either.Either<Value, string> => {
  switch (type.kind) {
    case "int8":
    case "int16":
    case "int32": {
      const trimmed = text.trim()
      if (!INTEGER.test(trimmed)) return Either.left(`"${text}" is not an integer`)
      const n = Number(trimmed)
      const [min, max] = INT_RANGES[type.kind]
      if (n < min || n > max) return Either.left(`${trimmed} is out of range for ${type.kind}`)
      return Either.right(n)
    }
    case "int64": {
      // Up to 18 digits always fits; BigInt parses it directly.
      if (SHORT_INT64.test(text)) return Either.right(BigInt(text))
      const trimmed = text.trim()
      if (!INTEGER.test(trimmed)) return Either.left(`"${text}" is not an integer`)
      const n = BigInt(trimmed)
      if (n < INT64_MIN || n > INT64_MAX) return Either.left(`${trimmed} is out of range for int64`)
      return Either.right(n)
    }
    case "float32":
    case "float64": {
      const trimmed = text.trim()
      if (FLOAT.test(trimmed)) return Either.right(Number(trimmed))
      const lower = trimmed.toLowerCase()
      if (lower === "nan") return Either.right(NaN)
      if (lower === "infinity" || lower === "inf" || lower === "+infinity" || lower === "+inf") {
        return Either.right(Infinity)
      }
      if (lower === "-infinity" || lower === "-inf") return Either.right(-Infinity)
      return Either.left(`"${text}" is not a number`)
    }
    case "decimal":
      return parseDecimal(text, type.precision, type.scale)
    case "bool": {
      const lower = text.trim().toLowerCase()
      if (TRUE_WORDS.has(lower)) return Either.right(true)
      if (FALSE_WORDS.has(lower)) return Either.right(false)
      return Either.left(`"${text}" is not a boolean (true/false)`)
    }
    case "utf8":
      return Either.right(text)
    case "json":
      try {
        JSON.parse(text)
        return Either.right(text)
      } catch {
        return Either.left(`"${text.length > 40 ? `${text.slice(0, 40)}…` : text}" is not valid JSON`)
      }
    case "binary":
      return parseHex(text)
    case "uuid":
      return normalizeUuid(text)
    case "date": {
      if (text.length === 10 && PLAIN_DATE.test(text)) {
        const year = Number(text.slice(0, 4))
        const month = Number(text.slice(5, 7))
        const day = Number(text.slice(8, 10))
        if (month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month)) {
          return Either.right(daysFromCivil(year, month, day))
        }
      }
      const parsed = parseDatePrefix(text.trim())
      if (Either.isLeft(parsed)) return Either.left(`"${text}": ${parsed.left}`)
      if (parsed.right.rest.length > 0) return Either.left(`"${text}" is not a date (YYYY-MM-DD)`)
      return Either.right(parsed.right.days)
    }
    case "time": {
      const parsed = parseTimePrefix(text.trim())
      if (Either.isLeft(parsed)) return Either.left(`"${text}": ${parsed.left}`)
      if (parsed.right.rest.length > 0) return Either.left(`"${text}" is not a time (HH:MM:SS[.ffffff])`)
      if (parsed.right.nanos % 1000n !== 0n) return Either.left(`"${text}" is finer than microseconds`)
      return Either.right(parsed.right.nanos / 1000n)
    }
    case "timestamp":
      return Either.mapLeft(parseTimestamp(text, type.unit, type.timeZone !== null), (message) =>
        message.startsWith('"') ? message : `"${text}": ${message}`
      )
    case "list": {
      let parsed: unknown
      try {
        parsed = JSON.parse(text)
      } catch {
        return Either.left(`"${text}" is not a JSON array`)
      }
      return fromJson(type, parsed)
    }
  }
}

/** The text form of a value; the inverse of `parseText`. */
export const formatText = (type: LogicalType, value: Value): string => {
  switch (type.kind) {
    case "float32":
    case "float64":
      return Number.isNaN(value) ? "NaN" : String(value)
    case "decimal":
      return formatDecimal(value as bigint, type.scale)
    case "binary":
      return formatHex(value as Uint8Array)
    case "date":
      return formatDate(value as number)
    case "time":
      return formatTime(value as bigint)
    case "timestamp":
      return formatTimestamp(value as bigint, type.unit, type.timeZone !== null)
    case "list":
      return JSON.stringify(toJson(type, value))
    default:
      return String(value)
  }
}

/** A JSON-compatible form of a value, exact for every type (big numbers become strings). */
export const toJson = (type: LogicalType, value: Value | null): unknown => {
  if (value === null) return null
  switch (type.kind) {
    case "int8":
    case "int16":
    case "int32":
    case "bool":
    case "utf8":
    case "uuid":
      return value
    case "float32":
    case "float64":
      return Number.isFinite(value) ? value : formatText(type, value)
    case "json":
      return JSON.parse(value as string) as unknown
    case "list":
      return (value as ReadonlyArray<Value | null>).map((item) => toJson(type.element, item))
    default:
      return formatText(type, value)
  }
}

/** Reads the JSON form back, accepting numbers where the text form would be a number. */
export const fromJson = (type: LogicalType, json: unknown): Either.Either<Value, string> => {
  if (type.kind === "json") return Either.right(typeof json === "string" ? json : JSON.stringify(json))
  if (type.kind === "list") {
    if (!Array.isArray(json)) return Either.left(`expected a JSON array, got ${JSON.stringify(json)}`)
    const items: Array<Value | null> = []
    for (const item of json) {
      if (item === null) {
        items.push(null)
        continue
      }
      const parsed = fromJson(type.element, item)
      if (Either.isLeft(parsed)) return parsed
      items.push(parsed.right)
    }
    return Either.right(items)
  }
  if (type.kind === "bool" && typeof json === "boolean") return Either.right(json)
  if (typeof json === "number" || typeof json === "bigint" || typeof json === "boolean") {
    return parseText(type, String(json))
  }
  if (typeof json === "string") return parseText(type, json)
  return Either.left(`expected a ${type.kind} value, got ${JSON.stringify(json)}`)
}

// ---- comparison --------------------------------------------------------------------

/**
 * Total order on values of one type, used by filters and incremental cursors.
 * NaN sorts after every other float, as in PostgreSQL.
 */
export const compareValues = (type: LogicalType, a: Value, b: Value): number => {
  switch (type.kind) {
    case "float32":
    case "float64": {
      const x = a as number
      const y = b as number
      if (Number.isNaN(x)) return Number.isNaN(y) ? 0 : 1
      if (Number.isNaN(y)) return -1
      return x < y ? -1 : x > y ? 1 : 0
    }
    case "binary": {
      const x = a as Uint8Array
      const y = b as Uint8Array
      const length = Math.min(x.length, y.length)
      for (let i = 0; i < length; i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1
      return x.length - y.length
    }
    case "list":
      return compareStrings(formatText(type, a), formatText(type, b))
    case "bool":
      return Number(a) - Number(b)
    case "utf8":
    case "json":
    case "uuid":
      return compareStrings(a as string, b as string)
    default:
      return a < b ? -1 : a > b ? 1 : 0
  }
}

/** UTF-16 code-unit order, independent of locale, so a watermark compares the same everywhere. */
const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
