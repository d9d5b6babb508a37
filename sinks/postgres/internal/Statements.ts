/**
 * The SQL the PostgreSQL sink sends. Every identifier is quoted (`quoteIdentifier`),
 * whatever it holds; values travel as parameters. Staging columns are named by
 * position (`c0`, `c1`, …), so a name from the source never reaches the staging DDL
 * and a COPY error's column maps back to the source's name.
 */
import { createHash } from "node:crypto"
import { quoteIdentifier } from "../../../connectors/postgres/Identifiers.js"

/** The schema of Ferry's bookkeeping and staging tables in a target database. */
export const FERRY_SCHEMA = "_ferry"
export const COMMITS_TABLE = `${quoteIdentifier(FERRY_SCHEMA)}.${quoteIdentifier("commits")}`
/** A staging table's load order, for merges that keep a key's last row. */
export const ORDINAL_COLUMN = "_ferry_row"
/**
 * Set on the staged keys whose rows a merge's commit deletes (`deletes: reconcile`);
 * NULL on the rows it merges. One staging table holds both, so both live and go together.
 */
export const DELETE_COLUMN = "_ferry_delete"

/** A column of the load: its name in the target, and its SQL type when it has to be created. */
export interface LoadColumn {
  readonly name: string
  readonly sqlType: string
  readonly nullable: boolean
}

/**
 * Creates the bookkeeping schema and table. Run in a transaction holding
 * `BOOKKEEPING_LOCK`: two sessions creating the same schema at once would otherwise
 * collide on the catalog's unique index.
 */
export const CREATE_BOOKKEEPING = [
  `CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(FERRY_SCHEMA)}`,
  `CREATE TABLE IF NOT EXISTS ${COMMITS_TABLE} (
  "target" text NOT NULL,
  "run_id" text NOT NULL,
  "dataset" text NOT NULL,
  "mode" text NOT NULL,
  "rows" bigint NOT NULL,
  "watermark" jsonb,
  "committed_at" timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY ("target", "run_id")
)`,
  `COMMENT ON TABLE ${COMMITS_TABLE} IS 'Runs Ferry has published into each table of this database, one row per (target, run_id), written in the transaction that published the data.'`
]

/** Transaction-level advisory lock keys, derived in SQL from a text so that every Ferry process agrees. */
export const ADVISORY_LOCK = "hashtextextended($1, 0)"
export const BOOKKEEPING_LOCK = "ferry bookkeeping"
export const targetLock = (target: string): string => `ferry target ${target}`
export const stagingLock = (staging: string): string => `ferry staging ${staging}`

const digest = (text: string, length: number): string =>
  createHash("sha256").update(text).digest("hex").slice(0, length)

/** The prefix of every staging table of a target, to find those a crashed run left. */
export const stagingPrefix = (target: string): string => `stage_${digest(target, 12)}_`

/**
 * A staging table's name: the target's prefix and a digest of the run id. Two datasets
 * of one run land in different targets, and two runs into one target have different
 * ids, so names never collide; the table's comment says which target and run it serves.
 */
export const stagingName = (target: string, runId: string): string => `${stagingPrefix(target)}${digest(runId, 20)}`

export const stagingTable = (name: string): string => `${quoteIdentifier(FERRY_SCHEMA)}.${quoteIdentifier(name)}`

export const stagingColumn = (index: number): string => quoteIdentifier(`c${index}`)

/** UNLOGGED: the staged rows are written to the WAL once, when they are published. A merge's staging has a load order and delete marks. */
export const createStaging = (staging: string, columns: ReadonlyArray<LoadColumn>, merge: boolean): string => {
  const definitions = columns.map((column, i) => `${stagingColumn(i)} ${column.sqlType}`)
  if (merge) {
    definitions.push(`${quoteIdentifier(ORDINAL_COLUMN)} bigint GENERATED ALWAYS AS IDENTITY`)
    definitions.push(`${quoteIdentifier(DELETE_COLUMN)} boolean`)
  }
  return `CREATE UNLOGGED TABLE ${staging} (${definitions.join(", ")}) WITH (autovacuum_enabled = false)`
}

export const commentStaging = (staging: string, target: string, runId: string): string =>
  `COMMENT ON TABLE ${staging} IS ${quoteLiteral(`Ferry staging of ${target} for run ${runId}`)}`

export const copyIntoStaging = (staging: string, count: number): string =>
  `COPY ${staging} (${Array.from({ length: count }, (_, i) => stagingColumn(i)).join(", ")}) FROM STDIN (FORMAT binary)`

/** Keys to delete: the key's staging columns and the delete mark. */
export const copyDeletesIntoStaging = (staging: string, keyIndices: ReadonlyArray<number>): string =>
  `COPY ${staging} (${[...keyIndices.map(stagingColumn), quoteIdentifier(DELETE_COLUMN)].join(", ")}) FROM STDIN (FORMAT binary)`

/**
 * Deletes the target rows of the staged delete keys, except keys the load also merges
 * (a row the source still has is never deleted, whatever the staged keys say).
 */
export const deleteStagedKeys = (
  target: string,
  columns: ReadonlyArray<LoadColumn>,
  keyIndices: ReadonlyArray<number>,
  staging: string
): string => {
  const matchesTarget = keyIndices
    .map((i) => `"t".${quoteIdentifier(columns[i]!.name)} = "d".${stagingColumn(i)}`)
    .join(" AND ")
  const sameKey = keyIndices.map((i) => `"m".${stagingColumn(i)} = "d".${stagingColumn(i)}`).join(" AND ")
  return (
    `DELETE FROM ${target} AS "t" USING ${staging} AS "d" WHERE "d".${quoteIdentifier(DELETE_COLUMN)} AND ${matchesTarget} ` +
    `AND NOT EXISTS (SELECT 1 FROM ${staging} AS "m" WHERE "m".${quoteIdentifier(DELETE_COLUMN)} IS NULL AND ${sameKey})`
  )
}

/** A string literal; standard_conforming_strings is on for every connection of the store. */
const quoteLiteral = (text: string): string => `'${text.replace(/'/g, "''")}'`

const names = (columns: ReadonlyArray<LoadColumn>): string =>
  columns.map((column) => quoteIdentifier(column.name)).join(", ")

/**
 * The target as the source's columns describe it. A merge's key becomes its primary key
 * (a merge refuses rows without a key and keeps one row per key, so every load meets
 * it); a key given to a replace or an append may hold NULLs and repeats, and gets a
 * plain index, which later merges look rows up by.
 */
export const createTarget = (
  target: string,
  columns: ReadonlyArray<LoadColumn>,
  key: ReadonlyArray<string>,
  primaryKey: boolean
): ReadonlyArray<string> => {
  const definitions = columns.map(
    (column) => `${quoteIdentifier(column.name)} ${column.sqlType}${column.nullable ? "" : " NOT NULL"}`
  )
  const keyList = key.map(quoteIdentifier).join(", ")
  if (key.length > 0 && primaryKey) definitions.push(`PRIMARY KEY (${keyList})`)
  const create = `CREATE TABLE ${target} (${definitions.join(", ")})`
  return key.length > 0 && !primaryKey ? [create, `CREATE INDEX ON ${target} (${keyList})`] : [create]
}

/** New source columns join the target nullable: its rows so far have no value for them. */
export const addColumns = (target: string, columns: ReadonlyArray<LoadColumn>): string =>
  `ALTER TABLE ${target} ${columns.map((column) => `ADD COLUMN ${quoteIdentifier(column.name)} ${column.sqlType}`).join(", ")}`

const stagedColumns = (columns: ReadonlyArray<LoadColumn>): string => columns.map((_, i) => stagingColumn(i)).join(", ")

export const insertFromStaging = (target: string, columns: ReadonlyArray<LoadColumn>, staging: string): string =>
  `INSERT INTO ${target} (${names(columns)}) SELECT ${stagedColumns(columns)} FROM ${staging}`

/** The staged rows with one row per key: the last one loaded (staged delete keys are not rows). */
const lastRowPerKey = (columns: ReadonlyArray<LoadColumn>, keyIndices: ReadonlyArray<number>, staging: string) => {
  const key = keyIndices.map(stagingColumn).join(", ")
  return `SELECT DISTINCT ON (${key}) ${stagedColumns(columns)} FROM ${staging} WHERE ${quoteIdentifier(DELETE_COLUMN)} IS NULL ORDER BY ${key}, ${quoteIdentifier(ORDINAL_COLUMN)} DESC`
}

/** An upsert through the target's unique index on exactly the key. */
export const upsertFromStaging = (
  target: string,
  columns: ReadonlyArray<LoadColumn>,
  keyIndices: ReadonlyArray<number>,
  staging: string
): string => {
  const keyNames = keyIndices.map((i) => quoteIdentifier(columns[i]!.name))
  const others = columns.filter((_, i) => !keyIndices.includes(i))
  const action =
    others.length === 0
      ? "DO NOTHING"
      : `DO UPDATE SET ${others.map((column) => `${quoteIdentifier(column.name)} = EXCLUDED.${quoteIdentifier(column.name)}`).join(", ")}`
  return `INSERT INTO ${target} (${names(columns)}) ${lastRowPerKey(columns, keyIndices, staging)} ON CONFLICT (${keyNames.join(", ")}) ${action}`
}

/** MERGE (PostgreSQL 15): an upsert that needs no unique index on the key. */
export const mergeFromStaging = (
  target: string,
  columns: ReadonlyArray<LoadColumn>,
  keyIndices: ReadonlyArray<number>,
  staging: string
): string => {
  const on = keyIndices.map((i) => `"t".${quoteIdentifier(columns[i]!.name)} = "s".${stagingColumn(i)}`).join(" AND ")
  const others = columns.flatMap((column, i) => (keyIndices.includes(i) ? [] : [{ column, i }]))
  const update =
    others.length === 0
      ? ""
      : ` WHEN MATCHED THEN UPDATE SET ${others.map(({ column, i }) => `${quoteIdentifier(column.name)} = "s".${stagingColumn(i)}`).join(", ")}`
  const values = columns.map((_, i) => `"s".${stagingColumn(i)}`).join(", ")
  return (
    `MERGE INTO ${target} AS "t" USING (${lastRowPerKey(columns, keyIndices, staging)}) AS "s" ON ${on}` +
    `${update} WHEN NOT MATCHED THEN INSERT (${names(columns)}) VALUES (${values})`
  )
}

/** Records the run in the transaction that publishes it; no row back means the run was already published. */
export const RECORD_COMMIT = `INSERT INTO ${COMMITS_TABLE} ("target", "run_id", "dataset", "mode", "rows", "watermark")
VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT ("target", "run_id") DO NOTHING RETURNING "rows"`

export const COMMITTED_ROWS = `SELECT "rows"::float8 AS "rows" FROM ${COMMITS_TABLE} WHERE "target" = $1 AND "run_id" = $2`

/** The key columns of each valid, immediate, unique index of the table `$1` without predicate or expressions. */
export const UNIQUE_KEYS_QUERY = `
SELECT array(
  SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
  JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
  WHERE k.n <= i.indnkeyatts
)::text[] AS columns
FROM pg_catalog.pg_index i
WHERE i.indrelid = $1::oid AND i.indisunique AND i.indimmediate AND i.indisvalid
  AND i.indpred IS NULL AND i.indexprs IS NULL`

/** The table `$2` of schema `$1`: its OID and kind, or no row. */
export const TABLE_QUERY = `
SELECT c.oid::int8::text AS oid, c.relkind::text AS kind
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2`

/** Staging tables of one target (by name prefix `$1`) in Ferry's schema. */
export const STAGING_TABLES_QUERY = `
SELECT c.relname AS name
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = '${FERRY_SCHEMA}' AND c.relkind = 'r' AND left(c.relname, length($1)) = $1`
