/**
 * The jobs the benchmark measures, each done by Ferry and by a peer. Ferry runs the
 * whole user path: a share config with two local stores, `ferry run --full` through
 * bin/ferry.js, a state file of its own. Every side writes into a fresh folder, and
 * its output is checked against the input before its figures count.
 */
import type { DuckDBConnection } from "@duckdb/node-api"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { stringify } from "yaml"
import { runnable } from "../../bin/compiled.js"
import type { FolderInput, TableInput } from "./Inputs.js"
import { COLUMNS, duckdbCsvOptions, ROW_GROUP_ROWS } from "./Inputs.js"
import type { Command } from "./Measure.js"
import { BenchmarkError } from "./Measure.js"

export type JobName =
  | "startup"
  | "csv-to-parquet"
  | "parquet-to-csv"
  | "folder-copy"
  | "pg-startup"
  | "pg-to-csv"
  | "pg-to-parquet"
  | "pg-to-postgres"
  | "pg-incremental"
  | "blob-copy"
  | "blob-stream"
  | "pg-to-blob"

/**
 * bin/ferry.js, run as `npm ci` leaves it: bundled (dist/bundle/). The sources may
 * change during a run (an edit in the checkout); they are built again (`npm run build`)
 * before the next measurement of Ferry, outside it, so that no measurement runs the
 * sources through tsx.
 */
export const ferryBin = (env: Pick<Environment, "repository">): string => {
  if (runnable(env.repository) !== "bundle") {
    const steps = [
      [path.join(env.repository, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"],
      [path.join(env.repository, "bin", "bundle.js")]
    ]
    for (const step of steps) {
      const build = spawnSync(process.execPath, step, { cwd: env.repository, encoding: "utf8" })
      if (build.status !== 0)
        throw new BenchmarkError({ message: `npm run build failed: ${build.stdout}${build.stderr}` })
    }
  }
  return path.join(env.repository, "bin", "ferry.js")
}

/** Jobs that measure the fixed cost of a run (one row), for which a rate means nothing. */
export const isStartup = (job: JobName): boolean => job === "startup" || job === "pg-startup"

export interface Side {
  readonly name: string
  readonly isFerry: boolean
  /** Writes what the side needs into the fresh folder `run` and returns its command. */
  readonly prepare: (run: string) => Omit<Command, "log">
  /** What the side wrote, once it has run. */
  readonly output: (run: string) => string
  /** Removes what the side wrote outside its folder (a table), once it has been checked. */
  readonly cleanup?: (run: string) => Promise<void>
}

export interface Job {
  readonly name: JobName
  readonly title: string
  readonly unit: "rows" | "files"
  readonly count: number
  readonly inputBytes: number
  readonly sides: ReadonlyArray<Side>
  /** A digest of the input's content, and of a side's output, which must be equal. */
  readonly expected: () => Promise<string>
  readonly digest: (output: string) => Promise<string>
}

/**
 * The seconds of the last dataset a `ferry run` recorded in its state file (run_datasets:
 * from the dataset's start, opening its stores, to its commit): the transfer without the
 * process's start-up. Read with the sqlite3 shell when it is installed, with millisecond
 * precision; otherwise from the summary line `ferry run` prints ("… in 3.1 s").
 */
export const reportedSeconds = (stateFile: string, logFile: string): number | undefined => {
  const query = spawnSync(
    "sqlite3",
    [
      "-readonly",
      stateFile,
      "SELECT started_at, ended_at FROM run_datasets WHERE ended_at IS NOT NULL ORDER BY started_at DESC LIMIT 1"
    ],
    { encoding: "utf8" }
  )
  const [started, ended] = query.status === 0 ? query.stdout.trim().split("|") : []
  if (started !== undefined && ended !== undefined) return (Date.parse(ended) - Date.parse(started)) / 1000
  const match = / in ([\d.]+) s\b/.exec(fs.readFileSync(logFile, "utf8"))
  return match === null ? undefined : Number(match[1])
}

export interface Environment {
  readonly repository: string
  readonly duckdb: DuckDBConnection
  /** DuckDB's worker threads; `undefined` keeps DuckDB's default (one per core). */
  readonly peerThreads: number | undefined
}

const sqlString = (text: string): string => `'${text.replaceAll("'", "''")}'`

// ---- Ferry ---------------------------------------------------------------------------

const FERRY_DATASET = "data"
const FERRY_TARGET = "data"

/** A share config moving one dataset from a local store to another. */
const ferryConfig = (run: string, inputRoot: string, source: object, mapping: object): string =>
  stringify({
    version: 1,
    state: `sqlite:${path.join(run, "state.db")}`,
    accounts: { provider: {}, consumer: {} },
    stores: {
      input: { type: "local", root: inputRoot, account: "provider" },
      output: { type: "local", root: path.join(run, "out"), account: "consumer" }
    },
    shares: [
      {
        name: "bench",
        account: "provider",
        kind: "snapshot",
        datasets: [{ name: FERRY_DATASET, source: { store: "input", ...source } }]
      }
    ],
    subscriptions: [
      {
        name: "bench-copy",
        account: "consumer",
        share: "provider/bench",
        accept_terms: true,
        trigger: "manual",
        mappings: { [FERRY_DATASET]: { store: "output", path: `${FERRY_TARGET}/`, ...mapping } }
      }
    ]
  })

const ferrySide = (env: Environment, inputRoot: string, source: object, mapping: object, extension?: string): Side => ({
  name: "ferry",
  isFerry: true,
  prepare: (run) => {
    const config = path.join(run, "ferry.yaml")
    fs.writeFileSync(config, ferryConfig(run, inputRoot, source, mapping))
    return {
      file: process.execPath,
      args: [ferryBin(env), "run", config, "--full"],
      cwd: run
    }
  },
  output: (run) => {
    const target = path.join(run, "out", FERRY_TARGET)
    if (extension === undefined) return target
    const part = fs.readdirSync(target).find((name) => name.endsWith(`.${extension}`))
    if (part === undefined) throw new BenchmarkError({ message: `ferry wrote no .${extension} file in ${target}` })
    return path.join(target, part)
  }
})

// ---- DuckDB --------------------------------------------------------------------------

const duckdbSide = (env: Environment, output: string, copy: (target: string) => string): Side => ({
  name: "duckdb",
  isFerry: false,
  prepare: (run) => ({
    file: process.execPath,
    args: [
      path.join(env.repository, "benchmarks/internal/duckdb-copy.mjs"),
      copy(path.join(run, output)),
      ...(env.peerThreads === undefined ? [] : [String(env.peerThreads)])
    ],
    cwd: run
  }),
  output: (run) => path.join(run, output)
})

// ---- digests -------------------------------------------------------------------------

/** Per column, its non-NULL count and exact sums over its values (text: over hashes and lengths). */
const columnDigest = (name: string, type: string): ReadonlyArray<string> => {
  const count = `count(${name}) AS ${name}_count`
  switch (type) {
    case "DOUBLE":
      return [count, `sum(CAST(${name} AS DECIMAL(18,3))) AS ${name}_sum`]
    case "VARCHAR":
      return [count, `sum(hash(${name})) AS ${name}_hash`, `sum(length(${name})) AS ${name}_length`]
    case "BOOLEAN":
      return [count, `sum(CAST(${name} AS INTEGER)) AS ${name}_sum`]
    case "DATE":
      return [count, `sum(${name} - DATE '2000-01-01') AS ${name}_sum`]
    case "TIMESTAMPTZ":
      return [count, `sum(epoch_us(${name})) AS ${name}_sum`]
    default:
      return [count, `sum(${name}) AS ${name}_sum`]
  }
}

const tableDigest = async (env: Environment, relation: string): Promise<string> => {
  const reader = await env.duckdb.runAndReadAll(
    `SELECT count(*) AS row_count, ${COLUMNS.flatMap((column) => columnDigest(column.name, column.duckdb)).join(", ")} FROM ${relation}`
  )
  return JSON.stringify(reader.getRowObjectsJson()[0])
}

export const parquetDigest = (env: Environment) => (file: string) =>
  tableDigest(env, `read_parquet(${sqlString(file)})`)
export const csvDigest = (env: Environment) => (file: string) =>
  tableDigest(env, `read_csv(${sqlString(file)}, ${duckdbCsvOptions()})`)

/** The files of a folder with their sizes, Ferry's bookkeeping excluded. */
const folderDigest = async (folder: string): Promise<string> => {
  const entries = await fs.promises.readdir(folder, { recursive: true, withFileTypes: true })
  const files = entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(folder, path.join(entry.parentPath, entry.name)))
    .filter((file) => !file.split(path.sep).some((part) => part === "_ferry" || part.startsWith(".ferry-")))
    .sort()
  const sizes = await Promise.all(
    files.map(async (file) => [file, (await fs.promises.stat(path.join(folder, file))).size])
  )
  return JSON.stringify(sizes)
}

// ---- the jobs ------------------------------------------------------------------------

const columnTypes = Object.fromEntries(COLUMNS.map((column) => [column.name, column.ferry]))

const PARQUET_OPTIONS = `FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE ${ROW_GROUP_ROWS}`

/**
 * CSV to Parquet. Both sides are told the column types (Ferry with `column_types`,
 * DuckDB with `columns`), so both do the same conversion; both write snappy Parquet
 * in row groups of 131,072 rows (Ferry's default).
 */
export const csvToParquet = (env: Environment, input: TableInput, name: JobName = "csv-to-parquet"): Job => ({
  name,
  title: name === "startup" ? "start-up (1 row)" : "CSV → Parquet",
  unit: "rows",
  count: input.rows,
  inputBytes: input.csvBytes,
  sides: [
    ferrySide(
      env,
      input.folder,
      { table: path.basename(input.csv), column_types: columnTypes },
      { format: "parquet", parquet: { compression: "snappy", row_group_rows: ROW_GROUP_ROWS } },
      "parquet"
    ),
    duckdbSide(
      env,
      "output.parquet",
      (target) =>
        `COPY (SELECT * FROM read_csv(${sqlString(input.csv)}, ${duckdbCsvOptions()})) TO ${sqlString(target)} (${PARQUET_OPTIONS})`
    )
  ],
  expected: () => parquetDigest(env)(input.parquet),
  digest: parquetDigest(env)
})

/** Parquet to CSV with a header line; each side writes timestamps its own way (ISO with `Z`, or `+00`). */
export const parquetToCsv = (env: Environment, input: TableInput): Job => ({
  name: "parquet-to-csv",
  title: "Parquet → CSV",
  unit: "rows",
  count: input.rows,
  inputBytes: input.parquetBytes,
  sides: [
    ferrySide(env, input.folder, { table: path.basename(input.parquet) }, { format: "csv" }, "csv"),
    duckdbSide(
      env,
      "output.csv",
      (target) =>
        `COPY (SELECT * FROM read_parquet(${sqlString(input.parquet)})) TO ${sqlString(target)} (HEADER, DELIMITER ',')`
    )
  ],
  expected: () => parquetDigest(env)(input.parquet),
  digest: csvDigest(env)
})

/**
 * A folder copied file for file. DuckDB cannot copy files, so the peer is coreutils'
 * `cp -r`, which does not fsync (the data may still be in the page cache when it
 * exits) and does not hash; Ferry fsyncs every file and records its SHA-256 in the
 * run's manifest. `cp -r` followed by `sync` on every copied file is measured too.
 */
export const folderCopy = (env: Environment, input: FolderInput): Job => {
  const source = path.join(input.root, input.dataset)
  return {
    name: "folder-copy",
    title: "folder copy",
    unit: "files",
    count: input.files,
    inputBytes: input.bytes,
    sides: [
      ferrySide(env, input.root, { files: `${input.dataset}/` }, {}),
      {
        name: "cp -r",
        isFerry: false,
        prepare: (run) => ({ file: "cp", args: ["-r", source, path.join(run, "copy")], cwd: run }),
        output: (run) => path.join(run, "copy")
      },
      {
        name: "cp -r + sync",
        isFerry: false,
        prepare: (run) => ({
          file: "sh",
          args: ["-c", 'cp -r "$0" "$1" && find "$1" -type f -exec sync {} +', source, path.join(run, "copy")],
          cwd: run
        }),
        output: (run) => path.join(run, "copy")
      }
    ],
    expected: () => folderDigest(source),
    digest: folderDigest
  }
}
