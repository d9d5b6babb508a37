/**
 * The benchmark's inputs, generated once per size and kept under benchmarks/.data/
 * (git-ignored): a table of mixed rows as CSV and as Parquet, both written by DuckDB
 * from one SQL expression per column, and a folder of files for the copy job.
 */
import { DuckDBInstance } from "@duckdb/node-api"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"

/** Bump when the generated data changes, so that cached inputs are made again. */
const GENERATOR_VERSION = 1

export const ROW_GROUP_ROWS = 131_072
/** Files in the folder-copy input, whatever its size. */
export const COPY_FILES = 200
/** Bytes of the folder-copy input per table row: 1 GB at 1M rows. */
export const COPY_BYTES_PER_ROW = 1_000

export interface BenchColumn {
  readonly name: string
  /** The type as a share config spells it. */
  readonly ferry: string
  readonly duckdb: string
  /** DuckDB SQL over `i`, the row number from 0. */
  readonly expression: string
}

/**
 * Every third-or-so value class of a real table: int64 beyond 2^32, int32, doubles,
 * exact decimals, text of varied lengths (empty, non-ASCII, with quotes, commas and a
 * line break), booleans, dates, microsecond UTC timestamps, and NULLs in all but the key.
 */
export const COLUMNS: ReadonlyArray<BenchColumn> = [
  { name: "id", ferry: "int64", duckdb: "BIGINT", expression: "i * 7919 + 1234567890123" },
  {
    name: "qty",
    ferry: "int32",
    duckdb: "INTEGER",
    expression: "CASE WHEN i % 29 = 5 THEN NULL ELSE CAST((i * 37) % 100000 - 50000 AS INTEGER) END"
  },
  {
    name: "score",
    ferry: "float64",
    duckdb: "DOUBLE",
    expression: "CASE WHEN i % 17 = 3 THEN NULL ELSE round(((i * 2654435761) % 1000003) / 1000.0 - 500, 3) END"
  },
  {
    name: "amount",
    ferry: "decimal(12,2)",
    duckdb: "DECIMAL(12,2)",
    expression:
      "CASE WHEN i % 31 = 7 THEN NULL ELSE CAST(((i * 104729) % 1000000000 - 300000000) * 0.01 AS DECIMAL(12,2)) END"
  },
  {
    name: "name",
    ferry: "utf8",
    duckdb: "VARCHAR",
    expression: `CASE WHEN i % 23 = 11 THEN NULL
      WHEN i % 101 = 0 THEN ''
      WHEN i % 997 = 1 THEN 'line one' || chr(10) || 'line two ' || i
      WHEN i % 10 = 0 THEN 'Müller, "Hans" ' || i
      WHEN i % 10 = 1 THEN '東京都 渋谷区 ' || i
      ELSE repeat('abcdefghij', CAST(i % 7 AS INTEGER)) || 'n' || i END`
  },
  { name: "ok", ferry: "bool", duckdb: "BOOLEAN", expression: "CASE WHEN i % 37 = 13 THEN NULL ELSE i % 3 = 0 END" },
  {
    name: "day",
    ferry: "date",
    duckdb: "DATE",
    expression: "CASE WHEN i % 43 = 17 THEN NULL ELSE DATE '2000-01-01' + CAST(i % 9000 AS INTEGER) END"
  },
  {
    name: "updated_at",
    ferry: "timestamp(us, UTC)",
    duckdb: "TIMESTAMPTZ",
    expression:
      "CASE WHEN i % 41 = 19 THEN NULL ELSE CAST(make_timestamp(1700000000000000 + i * 1000003) AS TIMESTAMPTZ) END"
  }
]

/** DuckDB's `read_csv` options that read the CSV input with exactly the generated types and NULLs. */
export const duckdbCsvOptions = (): string =>
  [
    "header = true",
    "delim = ','",
    `quote = '"'`,
    `escape = '"'`,
    // A quoted empty field is the empty string, as in Ferry and PostgreSQL.
    "allow_quoted_nulls = false",
    `columns = {${COLUMNS.map((column) => `'${column.name}': '${column.duckdb}'`).join(", ")}}`
  ].join(", ")

export interface TableInput {
  readonly rows: number
  readonly folder: string
  readonly csv: string
  readonly parquet: string
  readonly csvBytes: number
  readonly parquetBytes: number
}

export interface FolderInput {
  /** The store's root; the files are in `dataset` under it. */
  readonly root: string
  readonly dataset: string
  readonly files: number
  readonly bytes: number
}

interface Marker {
  readonly version: number
}

const MARKER = "complete.json"

const isComplete = (folder: string): boolean => {
  try {
    const marker = JSON.parse(fs.readFileSync(path.join(folder, MARKER), "utf8")) as Marker
    return marker.version === GENERATOR_VERSION
  } catch {
    return false
  }
}

const markComplete = (folder: string): void =>
  fs.writeFileSync(path.join(folder, MARKER), JSON.stringify({ version: GENERATOR_VERSION } satisfies Marker))

const sqlString = (text: string): string => `'${text.replaceAll("'", "''")}'`

/** The generated rows as a DuckDB query. */
const rowsQuery = (rows: number): string =>
  `SELECT ${COLUMNS.map((column) => `${column.expression} AS ${column.name}`).join(",\n  ")}\nFROM range(${rows}) t(i)`

/**
 * The table input of `rows` rows, made with DuckDB unless cached. Timestamps are
 * written to the CSV in ISO 8601 with a `Z` (`2023-11-14T22:13:21.000003Z`), the form
 * Ferry writes and most exporters use.
 */
export const tableInput = async (dataDir: string, rows: number, log: (line: string) => void): Promise<TableInput> => {
  const folder = path.join(dataDir, `table-${rows}`)
  const csv = path.join(folder, "input.csv")
  const parquet = path.join(folder, "input.parquet")
  if (!isComplete(folder)) {
    log(`generating ${rows.toLocaleString("en-US")} rows with DuckDB into ${path.relative(process.cwd(), folder)}/`)
    fs.rmSync(folder, { recursive: true, force: true })
    fs.mkdirSync(folder, { recursive: true })
    const instance = await DuckDBInstance.create(":memory:")
    const connection = await instance.connect()
    try {
      await connection.run("SET TimeZone = 'UTC'")
      const query = rowsQuery(rows)
      const csvColumns = COLUMNS.map((column) =>
        column.duckdb === "TIMESTAMPTZ"
          ? `strftime(${column.name}, '%Y-%m-%dT%H:%M:%S.%fZ') AS ${column.name}`
          : column.name
      ).join(", ")
      await connection.run(`COPY (SELECT ${csvColumns} FROM (${query})) TO ${sqlString(csv)} (HEADER, DELIMITER ',')`)
      await connection.run(
        `COPY (${query}) TO ${sqlString(parquet)} (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE ${ROW_GROUP_ROWS})`
      )
    } finally {
      connection.closeSync()
      instance.closeSync()
    }
    markComplete(folder)
  }
  return { rows, folder, csv, parquet, csvBytes: fs.statSync(csv).size, parquetBytes: fs.statSync(parquet).size }
}

/**
 * The folder-copy input: `COPY_FILES` files of random (incompressible) bytes, sized
 * from half to one and a half times the mean, `COPY_BYTES_PER_ROW × rows` bytes in
 * all. Their modification time is set an hour back, so that no run takes them for
 * files still being written.
 */
export const folderInput = async (dataDir: string, rows: number, log: (line: string) => void): Promise<FolderInput> => {
  const root = path.join(dataDir, `files-${rows}`)
  const dataset = "docs"
  const folder = path.join(root, dataset)
  const mean = (rows * COPY_BYTES_PER_ROW) / COPY_FILES
  const sizes = Array.from({ length: COPY_FILES }, (_, k) => Math.round(mean * (0.5 + ((k * 37) % 200) / 200)))
  if (!isComplete(root)) {
    const total = sizes.reduce((sum, size) => sum + size, 0)
    log(`generating ${COPY_FILES} files (${(total / 1e6).toFixed(0)} MB) into ${path.relative(process.cwd(), root)}/`)
    fs.rmSync(root, { recursive: true, force: true })
    fs.mkdirSync(folder, { recursive: true })
    const block = Buffer.alloc(4 * 1024 * 1024)
    const past = new Date(Date.now() - 3_600_000)
    for (const [k, size] of sizes.entries()) {
      const file = path.join(folder, `file-${String(k).padStart(3, "0")}.bin`)
      crypto.randomFillSync(block)
      const handle = fs.openSync(file, "w")
      for (let written = 0; written < size; written += block.length) {
        fs.writeSync(handle, block, 0, Math.min(block.length, size - written))
      }
      fs.closeSync(handle)
      fs.utimesSync(file, past, past)
    }
    markComplete(root)
  }
  return { root, dataset, files: sizes.length, bytes: sizes.reduce((sum, size) => sum + size, 0) }
}
