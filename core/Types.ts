/**
 * Ferry's logical type system is Arrow's. This module names the types the way a
 * share config writes them (`int64`, `decimal(12,2)`, `timestamp(us, UTC)`,
 * `list<int32>`), and marks the two extension types Ferry carries as metadata on
 * a field: JSON (utf8 storage) and UUID (16-byte fixed-size binary storage).
 */
import * as Arrow from "apache-arrow"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

export const EXTENSION_NAME_KEY = "ARROW:extension:name"
export const JSON_EXTENSION = "arrow.json"
export const UUID_EXTENSION = "arrow.uuid"

export type TimeUnitName = "s" | "ms" | "us" | "ns"

/** The closed set of logical types a connector may produce or a sink must accept. */
export type LogicalType =
  | { readonly kind: "int8" | "int16" | "int32" | "int64" }
  | { readonly kind: "float32" | "float64" }
  | { readonly kind: "decimal"; readonly precision: number; readonly scale: number }
  | { readonly kind: "bool" | "utf8" | "binary" | "date" | "json" | "uuid" }
  | { readonly kind: "time"; readonly unit: "us" }
  | { readonly kind: "timestamp"; readonly unit: TimeUnitName; readonly timeZone: string | null }
  | { readonly kind: "list"; readonly element: LogicalType }

export const MAX_DECIMAL_PRECISION = 38

const unitToArrow: Record<TimeUnitName, Arrow.TimeUnit> = {
  s: Arrow.TimeUnit.SECOND,
  ms: Arrow.TimeUnit.MILLISECOND,
  us: Arrow.TimeUnit.MICROSECOND,
  ns: Arrow.TimeUnit.NANOSECOND
}

const arrowToUnit = (unit: Arrow.TimeUnit): TimeUnitName =>
  unit === Arrow.TimeUnit.SECOND
    ? "s"
    : unit === Arrow.TimeUnit.MILLISECOND
      ? "ms"
      : unit === Arrow.TimeUnit.MICROSECOND
        ? "us"
        : "ns"

/** How many of `unit` make one second. */
export const unitsPerSecond = (unit: TimeUnitName): bigint =>
  unit === "s" ? 1n : unit === "ms" ? 1_000n : unit === "us" ? 1_000_000n : 1_000_000_000n

const extensionMetadata = (name: string) => new Map([[EXTENSION_NAME_KEY, name]])

/** The Arrow storage type of a logical type (extension types lose their name here: see `toField`). */
export const toArrowType = (type: LogicalType): Arrow.DataType => {
  switch (type.kind) {
    case "int8":
      return new Arrow.Int8()
    case "int16":
      return new Arrow.Int16()
    case "int32":
      return new Arrow.Int32()
    case "int64":
      return new Arrow.Int64()
    case "float32":
      return new Arrow.Float32()
    case "float64":
      return new Arrow.Float64()
    case "decimal":
      return new Arrow.Decimal(type.scale, type.precision, 128)
    case "bool":
      return new Arrow.Bool()
    case "utf8":
    case "json":
      return new Arrow.Utf8()
    case "binary":
      return new Arrow.Binary()
    case "uuid":
      return new Arrow.FixedSizeBinary(16)
    case "date":
      return new Arrow.DateDay()
    case "time":
      return new Arrow.TimeMicrosecond()
    case "timestamp":
      return new Arrow.Timestamp(unitToArrow[type.unit], type.timeZone)
    case "list":
      return new Arrow.List(toField("item", type.element, true))
  }
}

/** An Arrow field carrying the logical type, with the extension name where it has one. */
export const toField = (name: string, type: LogicalType, nullable = true): Arrow.Field =>
  new Arrow.Field(
    name,
    toArrowType(type),
    nullable,
    type.kind === "json"
      ? extensionMetadata(JSON_EXTENSION)
      : type.kind === "uuid"
        ? extensionMetadata(UUID_EXTENSION)
        : undefined
  )

/** The logical type of an Arrow field, or a message saying why Ferry cannot carry it. */
export const fromField = (field: Arrow.Field): Either.Either<LogicalType, string> => {
  const extension = field.metadata.get(EXTENSION_NAME_KEY)
  const type = field.type
  if (extension === JSON_EXTENSION && Arrow.DataType.isUtf8(type)) return Either.right({ kind: "json" })
  if (extension === UUID_EXTENSION && Arrow.DataType.isFixedSizeBinary(type) && type.byteWidth === 16) {
    return Either.right({ kind: "uuid" })
  }
  return fromArrowType(type, field.name)
}

const fromArrowType = (type: Arrow.DataType, name: string): Either.Either<LogicalType, string> => {
  if (Arrow.DataType.isInt(type)) {
    if (!type.isSigned) {
      return Either.left(`column "${name}": unsigned integers (${String(type)}) are not supported`)
    }
    return Either.right({ kind: `int${type.bitWidth}` as "int8" | "int16" | "int32" | "int64" })
  }
  if (Arrow.DataType.isFloat(type)) {
    if (type.precision === Arrow.Precision.HALF) {
      return Either.left(`column "${name}": float16 is not supported`)
    }
    return Either.right({ kind: type.precision === Arrow.Precision.SINGLE ? "float32" : "float64" })
  }
  if (Arrow.DataType.isDecimal(type)) {
    if (type.bitWidth !== 128) {
      return Either.left(`column "${name}": only 128-bit decimals are supported, not ${type.bitWidth}-bit`)
    }
    return Either.right({ kind: "decimal", precision: type.precision, scale: type.scale })
  }
  if (Arrow.DataType.isBool(type)) return Either.right({ kind: "bool" })
  if (Arrow.DataType.isUtf8(type)) return Either.right({ kind: "utf8" })
  if (Arrow.DataType.isBinary(type)) return Either.right({ kind: "binary" })
  if (Arrow.DataType.isDate(type)) {
    if (type.unit !== Arrow.DateUnit.DAY) {
      return Either.left(`column "${name}": date64 is not supported; use date (days)`)
    }
    return Either.right({ kind: "date" })
  }
  if (Arrow.DataType.isTime(type)) {
    if (type.unit !== Arrow.TimeUnit.MICROSECOND) {
      return Either.left(`column "${name}": time is carried in microseconds only, not ${String(type)}`)
    }
    return Either.right({ kind: "time", unit: "us" })
  }
  if (Arrow.DataType.isTimestamp(type)) {
    return Either.right({ kind: "timestamp", unit: arrowToUnit(type.unit), timeZone: type.timezone ?? null })
  }
  if (Arrow.DataType.isList(type)) {
    const child = type.children[0]
    if (child === undefined) return Either.left(`column "${name}": list without an element type`)
    return Either.map(fromField(child), (element): LogicalType => ({ kind: "list", element }))
  }
  return Either.left(`column "${name}": Arrow type ${String(type)} has no Ferry logical type`)
}

/** The config spelling of a logical type: the inverse of `parseTypeName`. */
export const typeName = (type: LogicalType): string => {
  switch (type.kind) {
    case "decimal":
      return `decimal(${type.precision},${type.scale})`
    case "time":
      return "time"
    case "timestamp":
      return type.timeZone === null ? `timestamp(${type.unit})` : `timestamp(${type.unit}, ${type.timeZone})`
    case "list":
      return `list<${typeName(type.element)}>`
    default:
      return type.kind
  }
}

const simpleTypes: Record<string, LogicalType> = {
  int8: { kind: "int8" },
  int16: { kind: "int16" },
  int32: { kind: "int32" },
  int64: { kind: "int64" },
  float32: { kind: "float32" },
  float64: { kind: "float64" },
  bool: { kind: "bool" },
  utf8: { kind: "utf8" },
  binary: { kind: "binary" },
  date: { kind: "date" },
  time: { kind: "time", unit: "us" },
  json: { kind: "json" },
  uuid: { kind: "uuid" },
  timestamp: { kind: "timestamp", unit: "us", timeZone: null },
  timestamptz: { kind: "timestamp", unit: "us", timeZone: "UTC" }
}

/** Accepted spellings, for error messages and the JSON Schema. */
export const TYPE_NAME_EXAMPLES = [
  ...Object.keys(simpleTypes),
  "decimal(12,2)",
  "timestamp(ms)",
  "timestamp(us, UTC)",
  "timestamp(ns, Europe/Paris)",
  "list<int32>"
]

/** Parses the config spelling of a type, e.g. `decimal(12,2)` or `timestamp(us, Europe/Paris)`. */
export const parseTypeName = (text: string): Either.Either<LogicalType, string> => {
  const name = text.trim()
  const simple = simpleTypes[name.toLowerCase()]
  if (simple !== undefined) return Either.right(simple)
  const decimal = /^decimal\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)$/i.exec(name)
  if (decimal !== null) {
    const precision = Number(decimal[1])
    const scale = Number(decimal[2] ?? "0")
    if (precision < 1 || precision > MAX_DECIMAL_PRECISION) {
      return Either.left(`decimal precision must be between 1 and ${MAX_DECIMAL_PRECISION}, got ${precision}`)
    }
    if (scale > precision) return Either.left(`decimal scale ${scale} is larger than its precision ${precision}`)
    return Either.right({ kind: "decimal", precision, scale })
  }
  const timestamp = /^timestamp\s*\(\s*(s|ms|us|ns)\s*(?:,\s*([^)]+?)\s*)?\)$/i.exec(name)
  if (timestamp !== null) {
    const unit = timestamp[1]!.toLowerCase() as TimeUnitName
    const zone = timestamp[2] ?? null
    if (zone !== null && !isValidTimeZone(zone)) return Either.left(`unknown time zone "${zone}"`)
    return Either.right({ kind: "timestamp", unit, timeZone: zone })
  }
  const list = /^list\s*<(.+)>$/i.exec(name)
  if (list !== null) {
    return Either.map(parseTypeName(list[1]!), (element): LogicalType => ({ kind: "list", element }))
  }
  return Either.left(`unknown type "${name}"; expected one of ${TYPE_NAME_EXAMPLES.join(", ")}`)
}

export const isValidTimeZone = (zone: string): boolean => {
  if (/^[+-]\d{2}:\d{2}$/.test(zone)) return true
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone })
    return true
  } catch {
    return false
  }
}

export const isSameType = (a: LogicalType, b: LogicalType): boolean => typeName(a) === typeName(b)

/** A named, typed column: the unit in which connectors describe what they read. */
export interface Column {
  readonly name: string
  readonly type: LogicalType
  readonly nullable: boolean
}

export const toSchema = (columns: ReadonlyArray<Column>): Arrow.Schema =>
  new Arrow.Schema(columns.map((column) => toField(column.name, column.type, column.nullable)))

/** The columns of an Arrow schema, or the first message saying why one cannot be carried. */
export const columnsOf = (schema: Arrow.Schema): Either.Either<ReadonlyArray<Column>, string> =>
  Either.all(
    schema.fields.map((field) =>
      Either.map(fromField(field), (type): Column => ({ name: field.name, type, nullable: field.nullable }))
    )
  )

const LogicalTypeFromSelf = Schema.declare(
  (u: unknown): u is LogicalType => typeof u === "object" && u !== null && "kind" in u,
  { identifier: "LogicalType" }
)

/** A type as a share config spells it (`decimal(12,2)`), decoded into its logical type. */
export const LogicalTypeFromString = Schema.transformOrFail(
  Schema.String.annotations({
    description: "A Ferry type name.",
    examples: [TYPE_NAME_EXAMPLES[0]!, ...TYPE_NAME_EXAMPLES.slice(1)]
  }),
  LogicalTypeFromSelf,
  {
    strict: true,
    decode: (text, _, ast) =>
      Either.match(parseTypeName(text), {
        onLeft: (message) => ParseResult.fail(new ParseResult.Type(ast, text, message)),
        onRight: ParseResult.succeed
      }),
    encode: (type) => ParseResult.succeed(typeName(type))
  }
)
