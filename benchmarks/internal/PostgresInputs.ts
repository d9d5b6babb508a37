/**
 * The PostgreSQL benchmark's input: a table of mixed rows generated in the database
 * with generate_series, in a schema of its own (`ferry_bench`), the same columns and
 * value classes as the file benchmark's input (Inputs.ts). A table is kept between
 * runs while its definition (the SQL that makes it) is unchanged, and `--clean` drops
 * the schemas. Next to it, under benchmarks/.data/postgres-N/, psql's CSV export of
 * the table: the reference every side's output is digested against, and the file the
 * load-only peer copies in.
 */
import { spawnSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import pg from "pg"
import { BenchmarkError } from "./Measure.js"

/** Bump when the generated data changes without the SQL text changing. */
const GENERATOR_VERSION = 1

export const BENCH_SCHEMA = "ferry_bench"
/** Where the loads into PostgreSQL go; every target table is dropped once checked. */
export const OUT_SCHEMA = "ferry_bench_out"

export const DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/test"

export interface PgColumn {
  readonly name: string
  readonly type: string
  /** SQL over `i`, the row number from 0 (bigint). */
  readonly expression: string
}

/**
 * Each column's values as a function of the row number, so that a row changed by the
 * incremental job can be put back exactly. NULLs in every column but the key.
 */
export const PG_COLUMNS: ReadonlyArray<PgColumn> = [
  { name: "id", type: "bigint NOT NULL", expression: "i * 7919 + 1234567890123" },
  {
    name: "qty",
    type: "integer",
    expression: "CASE WHEN i % 29 = 5 THEN NULL ELSE ((i * 37) % 100000 - 50000)::integer END"
  },
  {
    name: "score",
    type: "double precision",
    expression: "CASE WHEN i % 17 = 3 THEN NULL ELSE round(((i * 2654435761) % 1000003) / 1000.0 - 500, 3)::float8 END"
  },
  {
    name: "amount",
    type: "numeric(12,2)",
    expression:
      "CASE WHEN i % 31 = 7 THEN NULL ELSE (((i * 104729) % 1000000000 - 300000000) * 0.01)::numeric(12,2) END"
  },
  {
    name: "name",
    type: "text",
    expression: `CASE WHEN i % 23 = 11 THEN NULL
      WHEN i % 101 = 0 THEN ''
      WHEN i % 997 = 1 THEN 'line one' || chr(10) || 'line two ' || i
      WHEN i % 10 = 0 THEN 'Müller, "Hans" ' || i
      WHEN i % 10 = 1 THEN '東京都 渋谷区 ' || i
      ELSE repeat('abcdefghij', (i % 7)::integer) || 'n' || i END`
  },
  { name: "ok", type: "boolean", expression: "CASE WHEN i % 37 = 13 THEN NULL ELSE i % 3 = 0 END" },
  {
    name: "day",
    type: "date",
    expression: "CASE WHEN i % 43 = 17 THEN NULL ELSE DATE '2000-01-01' + (i % 9000)::integer END"
  },
  {
    name: "updated_at",
    type: "timestamp with time zone",
    expression:
      "CASE WHEN i % 41 = 19 THEN NULL ELSE timestamptz 'epoch' + (1700000000000000 + i * 1000003) * interval '1 microsecond' END"
  }
]

export const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`
export const quoteLiteral = (text: string): string => `'${text.replaceAll("'", "''")}'`

export const tableName = (rows: number): string => `mixed_${rows}`
export const qualified = (rows: number): string => `${BENCH_SCHEMA}.${tableName(rows)}`

/** The statements that make the table of `rows` rows; their digest is the cache key. */
const definition = (rows: number): ReadonlyArray<string> => {
  const table = qualified(rows)
  return [
    `CREATE TABLE ${table} (${PG_COLUMNS.map((column) => `${column.name} ${column.type}`).join(", ")})`,
    `INSERT INTO ${table} SELECT ${PG_COLUMNS.map((column) => column.expression).join(",\n  ")}
     FROM generate_series(0::bigint, ${rows - 1}::bigint) AS g(i)`,
    `ALTER TABLE ${table} ADD PRIMARY KEY (id)`,
    // The incremental job's cursor: an index on (cursor, key) serves its range and its order.
    `CREATE INDEX ${tableName(rows)}_updated_at ON ${table} (updated_at, id)`,
    // Hint bits set and pages all-visible now, so that no measured read pays for them.
    `VACUUM (FREEZE, ANALYZE) ${table}`
  ]
}

const sha256 = (value: unknown): string => crypto.createHash("sha256").update(JSON.stringify(value)).digest("hex")

/** What the cached table depends on: the statements that make it. */
const definitionDigest = (rows: number): string => sha256({ version: GENERATOR_VERSION, statements: definition(rows) })

export interface PostgresInput {
  readonly rows: number
  /** schema.table */
  readonly table: string
  /** psql's CSV export of the table (with a header line). */
  readonly referenceCsv: string
  readonly csvBytes: number
  /** The table's size in PostgreSQL (heap, without indexes). */
  readonly tableBytes: number
  /** A digest of the table computed in PostgreSQL, which every target table must match. */
  readonly pgDigest: string
}

export const connect = async (url: string): Promise<pg.Client> => {
  const client = new pg.Client({ connectionString: url, application_name: "ferry-bench" })
  await client.connect()
  await client.query("SET client_min_messages = warning")
  return client
}

const psqlBase = (url: string): Array<string> => [url, "-X", "-q", "-v", "ON_ERROR_STOP=1"]

/** The psql command that runs one meta-command or statement. */
export const psqlArgs = (url: string, command: string): Array<string> => [...psqlBase(url), "-c", command]

export const runPsql = (url: string, command: string, cwd: string): void => {
  const result = spawnSync("psql", psqlArgs(url, command), { cwd, encoding: "utf8" })
  if (result.status !== 0) {
    throw new BenchmarkError({ message: `psql ${command} failed: ${result.stderr.trim() || result.error?.message}` })
  }
}

/**
 * Per column: its non-NULL count and an exact sum over its values (text: over hashes
 * and lengths), computed in PostgreSQL; equal for two tables holding the same rows.
 */
export const pgDigest = async (client: pg.Client, table: string): Promise<string> => {
  const result = await client.query<Record<string, string | number | null>>(digestQuery(table))
  return JSON.stringify(Object.values(result.rows[0]!))
}

const digestQuery = (table: string): string => {
  const parts = PG_COLUMNS.flatMap((column) => {
    const name = quoteIdent(column.name)
    const count = `count(${name})`
    if (column.type === "text") return [count, `sum(hashtext(${name})::bigint)`, `sum(length(${name}))`]
    if (column.type === "boolean") return [count, `sum(${name}::integer)`]
    // Exact, so that the order rows are summed in does not matter.
    if (column.type === "double precision") return [count, `sum(${name}::numeric)`]
    if (column.type === "date") return [count, `sum(${name} - DATE '2000-01-01')`]
    if (column.type.startsWith("timestamp")) return [count, `sum(extract(epoch FROM ${name}) * 1000000)`]
    return [count, `sum(${name})`]
  })
  const list = ["count(*)", ...parts].map((part, i) => `${part} AS c${i}`)
  return `SELECT ${list.join(", ")} FROM ${table}`
}

interface Marker {
  readonly definition: string
  readonly pgDigest: string
}

const MARKER = "complete.json"

const readMarker = (folder: string): Marker | undefined => {
  try {
    return JSON.parse(fs.readFileSync(path.join(folder, MARKER), "utf8")) as Marker
  } catch {
    return undefined
  }
}

const ensureCatalog = async (client: pg.Client): Promise<void> => {
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${BENCH_SCHEMA}`)
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${OUT_SCHEMA}`)
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${BENCH_SCHEMA}.generated (name text PRIMARY KEY, definition text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`
  )
}

/**
 * The table of `rows` rows, made unless a table of the same definition is there, and
 * its reference CSV, exported with psql unless cached for that definition.
 */
export const postgresInput = async (
  client: pg.Client,
  url: string,
  dataDir: string,
  rows: number,
  log: (line: string) => void
): Promise<PostgresInput> => {
  await ensureCatalog(client)
  const name = tableName(rows)
  const table = qualified(rows)
  const digest = definitionDigest(rows)
  const existing = await client.query<{ definition: string }>(
    `SELECT definition FROM ${BENCH_SCHEMA}.generated WHERE name = $1 AND to_regclass($2) IS NOT NULL`,
    [name, table]
  )
  const folder = path.join(dataDir, `postgres-${rows}`)
  const referenceCsv = path.join(folder, "reference.csv")
  if (existing.rows[0]?.definition !== digest) {
    log(`generating ${rows.toLocaleString("en-US")} rows in PostgreSQL into ${table}`)
    const started = performance.now()
    await client.query(`DROP TABLE IF EXISTS ${table}`)
    await client.query(`DELETE FROM ${BENCH_SCHEMA}.generated WHERE name = $1`, [name])
    for (const statement of definition(rows)) await client.query(statement)
    await client.query(`INSERT INTO ${BENCH_SCHEMA}.generated (name, definition) VALUES ($1, $2)`, [name, digest])
    log(`  generated in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  }
  // The export and the digest depend on the table and on how it is digested.
  const exported = sha256({ table: digest, digest: digestQuery("") })
  const marker = readMarker(folder)
  let tableDigest = marker?.pgDigest
  if (marker?.definition !== exported || !fs.existsSync(referenceCsv)) {
    log(`exporting the reference CSV of ${table} with psql into ${path.relative(process.cwd(), folder)}/`)
    fs.rmSync(folder, { recursive: true, force: true })
    fs.mkdirSync(folder, { recursive: true })
    runPsql(url, `\\copy (SELECT * FROM ${table}) TO ${quoteLiteral(referenceCsv)} WITH (FORMAT csv, HEADER)`, folder)
    tableDigest = await pgDigest(client, table)
    fs.writeFileSync(
      path.join(folder, MARKER),
      JSON.stringify({ definition: exported, pgDigest: tableDigest } satisfies Marker)
    )
  }
  const size = await client.query<{ bytes: string }>(`SELECT pg_table_size($1::regclass) AS bytes`, [table])
  return {
    rows,
    table,
    referenceCsv,
    csvBytes: fs.statSync(referenceCsv).size,
    tableBytes: Number(size.rows[0]!.bytes),
    pgDigest: tableDigest!
  }
}

/** Drops the benchmark's schemas, the sink's bookkeeping schema when it holds no commit, and the cached exports. */
export const cleanPostgres = async (client: pg.Client, dataDir: string, log: (line: string) => void): Promise<void> => {
  await client.query(`DROP SCHEMA IF EXISTS ${BENCH_SCHEMA} CASCADE`)
  await client.query(`DROP SCHEMA IF EXISTS ${OUT_SCHEMA} CASCADE`)
  // The sink's bookkeeping schema, made by the load into PostgreSQL, when nothing else has used it.
  // Two statements: a name in a statement is resolved before its WHERE runs, so one that may be missing cannot be guarded there.
  const ledger = await client.query<{ exists: boolean }>(`SELECT to_regclass('_ferry.commits') IS NOT NULL AS exists`)
  if (ledger.rows[0]?.exists === true) {
    const bookkeeping = await client.query<{ used: boolean }>(`SELECT EXISTS (SELECT FROM _ferry.commits) AS used`)
    if (bookkeeping.rows[0]?.used === false) await client.query("DROP SCHEMA _ferry CASCADE")
  }
  for (const entry of fs.existsSync(dataDir) ? fs.readdirSync(dataDir) : []) {
    if (entry.startsWith("postgres-")) fs.rmSync(path.join(dataDir, entry), { recursive: true, force: true })
  }
  log(`dropped the schemas ${BENCH_SCHEMA} and ${OUT_SCHEMA}, and the cached exports`)
}
