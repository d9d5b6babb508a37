/**
 * The type mapping between PostgreSQL and Ferry's logical types, both ways
 * (docs/postgres.md has it as a table).
 *
 * Reading, a column is known by its type OID and typmod; the catalog (`pg_type`) says
 * what a user-defined OID is: a domain (read as its base type), an enum (text), an
 * array (a list of its element), or a type with a text form of its own. Each mapped
 * column says how COPY BINARY sends it (`wire`, which picks its decoder) and, for
 * types read through their text form, the casts that turn it into text in the SELECT
 * list: PostgreSQL does that work, and the decoder only ever sees a few wire formats.
 *
 * Decisions (each exact, or refused by name):
 * - numeric(p,s) is decimal(p,s) up to 38 digits; numeric(p,s) with a negative scale
 *   or a scale above its precision is the decimal that holds exactly the same values;
 *   numeric without a typmod, or with more than 38 digits, is its exact decimal text;
 *   a NaN or ±Infinity in a decimal column fails the read, naming the column.
 * - interval is text in ISO 8601 (`P1Y2M3DT4H5M6.5S`, IntervalStyle iso_8601): Arrow's
 *   interval types are not among Ferry's logical types.
 * - ±infinity timestamps and dates fail the read naming the column (a query dataset
 *   can map them, e.g. `CASE WHEN isfinite(t) THEN t END`).
 * - money is its exact amount as decimal text (through numeric, not the locale's
 *   currency form); xml, inet, cidr, macaddr, macaddr8, bit, varbit, timetz, "char"
 *   and string-like extension types (citext) are their text form; enums are text.
 * - Anything else (geometric types, ranges, composites, tsvector, …) is refused, naming
 *   the column; a query dataset can cast it.
 */
import * as Either from "effect/Either"
import type { Column, LogicalType } from "../../core/Types.js"
import { MAX_DECIMAL_PRECISION, typeName } from "../../core/Types.js"

/** How COPY BINARY sends a column's values: the decoder to use. */
export type WireType =
  | {
      readonly kind:
        | "int2"
        | "int4"
        | "int8"
        | "float4"
        | "float8"
        | "bool"
        | "text"
        | "bytea"
        | "uuid"
        | "date"
        | "time"
        | "timestamp"
        | "json"
        | "jsonb"
    }
  | { readonly kind: "numeric"; readonly scale: number }
  | { readonly kind: "array"; readonly element: WireType }

/** A row of `pg_type`, as `TYPE_CATALOG_QUERY` returns it. */
export interface PgType {
  readonly oid: number
  readonly name: string
  /** `b` base, `d` domain, `e` enum, `c` composite, `r` range, `m` multirange, `p` pseudo. */
  readonly typtype: string
  /** `A` array, `S` string, … (pg_type.typcategory). */
  readonly category: string
  /** The element type of an array, 0 otherwise. */
  readonly element: number
  /** The base type of a domain, 0 otherwise. */
  readonly baseType: number
  /** The typmod a domain gives its base type (-1: none). */
  readonly baseTypmod: number
}

/**
 * The catalog rows of the given type OIDs and of every type they lead to (domain base
 * types, array elements), in one round trip. `$1` is an int4/oid array.
 */
export const TYPE_CATALOG_QUERY = `
WITH RECURSIVE wanted(oid) AS (
  SELECT unnest($1::oid[])
  UNION
  SELECT next.oid FROM wanted JOIN pg_catalog.pg_type t ON t.oid = wanted.oid
  CROSS JOIN LATERAL (VALUES (t.typelem), (t.typbasetype)) AS next(oid)
  WHERE next.oid <> 0
)
SELECT t.oid::int4 AS oid, t.typname AS name, t.typtype::text AS typtype, t.typcategory::text AS category,
       t.typelem::int4 AS element, t.typbasetype::int4 AS base_type, t.typtypmod AS base_typmod
FROM pg_catalog.pg_type t JOIN wanted ON wanted.oid = t.oid`

export const pgTypeOfRow = (row: {
  oid: number
  name: string
  typtype: string
  category: string
  element: number
  base_type: number
  base_typmod: number
}): PgType => ({
  oid: row.oid,
  name: row.name,
  typtype: row.typtype,
  category: row.category,
  element: row.element,
  baseType: row.base_type,
  baseTypmod: row.base_typmod
})

/** Built-in type OIDs (pg_type.dat); they never change. */
export const PgOid = {
  bool: 16,
  bytea: 17,
  char: 18,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  json: 114,
  xml: 142,
  cidr: 650,
  float4: 700,
  float8: 701,
  macaddr8: 774,
  money: 790,
  macaddr: 829,
  inet: 869,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  interval: 1186,
  timetz: 1266,
  bit: 1560,
  varbit: 1562,
  numeric: 1700,
  uuid: 2950,
  jsonb: 3802
} as const

/** A column as the server describes it. */
export interface PgColumn {
  readonly name: string
  readonly oid: number
  /** -1 when the type has no modifier. */
  readonly typmod: number
  readonly nullable: boolean
}

/** A column mapped to Ferry: its logical type, its wire format, and the casts that read it as text if any. */
export interface MappedColumn {
  readonly column: Column
  readonly wire: WireType
  /** SQL types to cast the column to, in order, in the SELECT list (`["numeric", "text"]` for money). */
  readonly casts: ReadonlyArray<string>
}

interface Mapped {
  readonly type: LogicalType
  readonly wire: WireType
  readonly casts: ReadonlyArray<string>
}

const native = (type: LogicalType, kind: Exclude<WireType["kind"], "numeric" | "array">): Mapped => ({
  type,
  wire: { kind } as WireType,
  casts: []
})

const UTF8: LogicalType = { kind: "utf8" }
const asText = (casts: ReadonlyArray<string> = ["text"]): Mapped => ({ type: UTF8, wire: { kind: "text" }, casts })

/** Types read through their text form, and the casts that give it. */
const TEXT_FORMS: ReadonlyMap<number, ReadonlyArray<string>> = new Map([
  [PgOid.interval, ["text"]],
  [PgOid.money, ["numeric", "text"]],
  [PgOid.xml, ["text"]],
  [PgOid.inet, ["text"]],
  [PgOid.cidr, ["text"]],
  [PgOid.macaddr, ["text"]],
  [PgOid.macaddr8, ["text"]],
  [PgOid.bit, ["text"]],
  [PgOid.varbit, ["text"]],
  [PgOid.timetz, ["text"]],
  [PgOid.char, ["text"]]
])

/** numeric's typmod: precision in the high 16 bits, an 11-bit signed scale in the low ones, offset by 4. */
export const numericTypmod = (typmod: number): { precision: number; scale: number } | undefined => {
  if (typmod < 4) return undefined
  const packed = typmod - 4
  return { precision: (packed >> 16) & 0xffff, scale: ((packed & 0x7ff) ^ 1024) - 1024 }
}

const mapNumeric = (typmod: number): Mapped => {
  const declared = numericTypmod(typmod)
  if (declared === undefined) return asText()
  // numeric(3,-2) holds multiples of 100 up to 99900; numeric(2,4) holds 0.0000 to 0.0099.
  const scale = Math.max(declared.scale, 0)
  const precision = declared.scale < 0 ? declared.precision - declared.scale : Math.max(declared.precision, scale)
  if (precision > MAX_DECIMAL_PRECISION) return asText()
  return { type: { kind: "decimal", precision, scale }, wire: { kind: "numeric", scale }, casts: [] }
}

const mapBuiltin = (oid: number, typmod: number): Mapped | undefined => {
  switch (oid) {
    case PgOid.int2:
      return native({ kind: "int16" }, "int2")
    case PgOid.int4:
      return native({ kind: "int32" }, "int4")
    case PgOid.int8:
      return native({ kind: "int64" }, "int8")
    case PgOid.float4:
      return native({ kind: "float32" }, "float4")
    case PgOid.float8:
      return native({ kind: "float64" }, "float8")
    case PgOid.numeric:
      return mapNumeric(typmod)
    case PgOid.bool:
      return native({ kind: "bool" }, "bool")
    case PgOid.text:
    case PgOid.varchar:
    case PgOid.bpchar:
    case PgOid.name:
      return native(UTF8, "text")
    case PgOid.bytea:
      return native({ kind: "binary" }, "bytea")
    case PgOid.uuid:
      return native({ kind: "uuid" }, "uuid")
    case PgOid.date:
      return native({ kind: "date" }, "date")
    case PgOid.time:
      return native({ kind: "time", unit: "us" }, "time")
    case PgOid.timestamp:
      return native({ kind: "timestamp", unit: "us", timeZone: null }, "timestamp")
    case PgOid.timestamptz:
      return native({ kind: "timestamp", unit: "us", timeZone: "UTC" }, "timestamp")
    case PgOid.json:
      return native({ kind: "json" }, "json")
    case PgOid.jsonb:
      return native({ kind: "json" }, "jsonb")
    default: {
      const casts = TEXT_FORMS.get(oid)
      return casts === undefined ? undefined : asText(casts)
    }
  }
}

const MAX_DOMAIN_DEPTH = 16

const mapType = (
  oid: number,
  typmod: number,
  types: ReadonlyMap<number, PgType>,
  depth = 0
): Either.Either<Mapped, string> => {
  const builtin = mapBuiltin(oid, typmod)
  if (builtin !== undefined) return Either.right(builtin)
  const info = types.get(oid)
  if (info === undefined || depth > MAX_DOMAIN_DEPTH) return Either.left(`its type (OID ${oid}) is not in the catalog`)
  if (info.typtype === "d") return mapType(info.baseType, typmod === -1 ? info.baseTypmod : typmod, types, depth + 1)
  if (info.typtype === "e") return Either.right(native(UTF8, "text"))
  if (info.category === "A" && info.element !== 0) {
    return Either.flatMap(mapType(info.element, typmod, types, depth + 1), (element) =>
      element.type.kind === "list"
        ? Either.left(`arrays of arrays (${info.name}) have no mapping`)
        : Either.right({
            type: { kind: "list", element: element.type },
            wire: { kind: "array", element: element.wire },
            casts: element.casts.map((cast) => `${cast}[]`)
          })
    )
  }
  // String-like extension types (citext) send their text as is.
  if (info.typtype === "b" && info.category === "S") return Either.right(asText())
  return Either.left(
    `its type ${info.name} has no mapping to a Ferry type; read it through a query dataset that casts it (${info.name}::text, for one)`
  )
}

/** Maps a column the server described, or says why it cannot be carried. */
export const mapColumn = (column: PgColumn, types: ReadonlyMap<number, PgType>): Either.Either<MappedColumn, string> =>
  Either.map(mapType(column.oid, column.typmod, types), (mapped) => ({
    column: { name: column.name, type: mapped.type, nullable: column.nullable },
    wire: mapped.wire,
    casts: mapped.casts
  }))

/** OIDs the catalog must be asked about: those `mapBuiltin` does not know. */
export const isBuiltinMapped = (oid: number): boolean => mapBuiltin(oid, -1) !== undefined

/** A PostgreSQL column type for a logical type, for CREATE TABLE and ALTER TABLE. */
export interface PgColumnType {
  /** The type as SQL spells it: `numeric(12,2)`, `timestamp with time zone`, `integer[]`. */
  readonly sql: string
  /** False when values lose something on the way in (nanoseconds: PostgreSQL keeps microseconds). */
  readonly exact: boolean
  /** What reading the column back gives, when it is not the type written (int8 comes back as int16). */
  readonly readBack: LogicalType
}

/** The PostgreSQL type that holds a logical type, or why none can. */
export const pgTypeFor = (type: LogicalType): Either.Either<PgColumnType, string> => {
  const same = (sql: string): PgColumnType => ({ sql, exact: true, readBack: type })
  switch (type.kind) {
    case "int8":
      return Either.right({ sql: "smallint", exact: true, readBack: { kind: "int16" } })
    case "int16":
      return Either.right(same("smallint"))
    case "int32":
      return Either.right(same("integer"))
    case "int64":
      return Either.right(same("bigint"))
    case "float32":
      return Either.right(same("real"))
    case "float64":
      return Either.right(same("double precision"))
    case "decimal":
      return Either.right(same(`numeric(${type.precision},${type.scale})`))
    case "bool":
      return Either.right(same("boolean"))
    case "utf8":
      return Either.right(same("text"))
    case "binary":
      return Either.right(same("bytea"))
    case "json":
      // json keeps the text as written (key order, spacing, duplicate keys); jsonb would rewrite it.
      return Either.right(same("json"))
    case "uuid":
      return Either.right(same("uuid"))
    case "date":
      return Either.right(same("date"))
    case "time":
      return Either.right(same("time"))
    case "timestamp": {
      const sql = type.timeZone === null ? "timestamp" : "timestamp with time zone"
      const readBack: LogicalType = { kind: "timestamp", unit: "us", timeZone: type.timeZone === null ? null : "UTC" }
      return Either.right({ sql, exact: type.unit !== "ns", readBack })
    }
    case "list": {
      if (type.element.kind === "list") {
        return Either.left(`${typeName(type)}: PostgreSQL arrays are rectangular, lists of lists have no column type`)
      }
      return Either.map(pgTypeFor(type.element), (element) => ({
        sql: `${element.sql}[]`,
        exact: element.exact,
        readBack: { kind: "list", element: element.readBack }
      }))
    }
  }
}
