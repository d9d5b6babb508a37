/**
 * What a load does to an existing target table, decided before anything changes: the
 * source columns it lacks are added; a source column whose target type cannot hold
 * every value of the source type exactly, or a NOT NULL target column the source does
 * not fill, refuses the load with a message naming the table and the column.
 */
import * as Either from "effect/Either"
import { numericTypmod, PgOid } from "../../../connectors/postgres/PostgresTypes.js"
import type { Column, LogicalType } from "../../../core/Types.js"
import { typeName } from "../../../core/Types.js"

/** A column of the target as the catalog describes it; a domain is described by its base type. */
export interface TargetColumn {
  readonly name: string
  /** The column's type as SQL spells it (the domain's name for a domain), for messages. */
  readonly typeName: string
  readonly oid: number
  /** -1 when the type has no modifier. */
  readonly typmod: number
  /** The element type of an array, 0 otherwise. */
  readonly element: number
  readonly notNull: boolean
  /** A default, an identity or a generated value fills it when a load leaves it out. */
  readonly hasDefault: boolean
  /** GENERATED ALWAYS (identity or expression): a load cannot write it. */
  readonly generated: boolean
}

/** The catalog query that gives `TargetColumn`s of the table whose OID is `$1`. */
export const TARGET_COLUMNS_QUERY = `
SELECT a.attname AS name,
       format_type(a.atttypid, a.atttypmod) AS type_name,
       base.oid::int4 AS oid,
       CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END AS typmod,
       CASE WHEN base.typcategory = 'A' THEN base.typelem ELSE 0 END::int4 AS element,
       a.attnotnull AS not_null,
       a.atthasdef OR a.attidentity <> '' AS has_default,
       a.attidentity = 'a' OR a.attgenerated <> '' AS generated
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
JOIN pg_catalog.pg_type base ON base.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`

export interface TargetColumnRow {
  readonly name: string
  readonly type_name: string
  readonly oid: number
  readonly typmod: number
  readonly element: number
  readonly not_null: boolean
  readonly has_default: boolean
  readonly generated: boolean
}

export const targetColumnOfRow = (row: TargetColumnRow): TargetColumn => ({
  name: row.name,
  typeName: row.type_name,
  oid: row.oid,
  typmod: row.typmod,
  element: row.element,
  notNull: row.not_null,
  hasDefault: row.has_default,
  generated: row.generated
})

/** Decimal digits before the point that each integer type needs. */
const INTEGER_DIGITS = { int8: 3, int16: 5, int32: 10, int64: 19 } as const

/** Integer types of PostgreSQL by OID, with the logical width they hold. */
const INTEGER_WIDTH: ReadonlyMap<number, number> = new Map([
  [PgOid.int2, 16],
  [PgOid.int4, 32],
  [PgOid.int8, 64]
])

const LOGICAL_WIDTH = { int8: 8, int16: 16, int32: 32, int64: 64 } as const

/** True when numeric with this typmod holds every decimal with these digits around the point. */
const numericHolds = (typmod: number, integerDigits: number, scale: number): boolean => {
  const declared = numericTypmod(typmod)
  if (declared === undefined) return true
  return declared.scale >= scale && declared.precision - declared.scale >= integerDigits
}

/** True when a column of this PostgreSQL type holds every value of `source` exactly. */
export const holdsExactly = (source: LogicalType, oid: number, typmod: number, element: number): boolean => {
  switch (source.kind) {
    case "int8":
    case "int16":
    case "int32":
    case "int64": {
      const width = INTEGER_WIDTH.get(oid)
      if (width !== undefined) return width >= LOGICAL_WIDTH[source.kind]
      if (oid === PgOid.numeric) return numericHolds(typmod, INTEGER_DIGITS[source.kind], 0)
      // A double's 53-bit significand holds 32-bit integers, a real's 24 bits hold 16-bit ones.
      if (oid === PgOid.float8) return source.kind !== "int64"
      if (oid === PgOid.float4) return source.kind === "int8" || source.kind === "int16"
      return false
    }
    case "float32":
      return oid === PgOid.float4 || oid === PgOid.float8
    case "float64":
      return oid === PgOid.float8
    case "decimal":
      return oid === PgOid.numeric && numericHolds(typmod, source.precision - source.scale, source.scale)
    case "bool":
      return oid === PgOid.bool
    // varchar(n) refuses a longer value rather than cutting it; char(n) would pad it.
    case "utf8":
      return oid === PgOid.text || oid === PgOid.varchar
    case "json":
      return oid === PgOid.json || oid === PgOid.jsonb
    case "binary":
      return oid === PgOid.bytea
    case "uuid":
      return oid === PgOid.uuid
    case "date":
      return oid === PgOid.date
    case "time":
      return oid === PgOid.time
    case "timestamp":
      return oid === (source.timeZone === null ? PgOid.timestamp : PgOid.timestamptz)
    case "list":
      // The element of an array column carries the column's typmod (numeric(12,2)[]).
      return element !== 0 && holdsExactly(source.element, element, typmod, 0)
  }
}

export interface TargetPlan {
  /** Source columns the target does not have, to add before loading. */
  readonly added: ReadonlyArray<Column>
}

/**
 * How the source columns load into an existing target, or the first reason they
 * cannot: a type the target cannot hold exactly, a generated target column, a NOT NULL
 * target column without a default that the source leaves empty.
 */
export const planTarget = (
  table: string,
  source: ReadonlyArray<Column>,
  target: ReadonlyArray<TargetColumn>
): Either.Either<TargetPlan, string> => {
  const byName = new Map(target.map((column) => [column.name, column]))
  const added: Array<Column> = []
  for (const column of source) {
    const existing = byName.get(column.name)
    if (existing === undefined) {
      added.push(column)
      continue
    }
    if (existing.generated) {
      return Either.left(
        `column ${column.name} of ${table} is generated by PostgreSQL (GENERATED ALWAYS), so a load cannot write it`
      )
    }
    if (!holdsExactly(column.type, existing.oid, existing.typmod, existing.element)) {
      return Either.left(
        `column ${column.name} of ${table} is ${existing.typeName}, which cannot hold every ${typeName(column.type)} value of the source exactly; ` +
          `change the column's type, or cast the dataset's column (casts:)`
      )
    }
  }
  const sourceNames = new Set(source.map((column) => column.name))
  for (const column of target) {
    if (column.notNull && !column.hasDefault && !sourceNames.has(column.name)) {
      return Either.left(
        `column ${column.name} of ${table} is NOT NULL without a default, and the source has no such column`
      )
    }
  }
  return Either.right({ added })
}
