/**
 * The PostgreSQL jobs: a generated table (PostgresInputs.ts) to a CSV file, to a
 * Parquet file and to another PostgreSQL table, each done by Ferry (`ferry run --full`
 * with a config of its own, a postgres store and a fresh state file) and by psql's
 * `\copy` on the same machine in the same run; and an incremental run that picks up
 * changed rows, checked not to scan the table.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type pg from "pg"
import { stringify } from "yaml"
import type { Environment, Job, JobName, Side } from "./Jobs.js"
import { csvDigest, ferryBin, parquetDigest, reportedSeconds } from "./Jobs.js"
import type { Command, Measurement } from "./Measure.js"
import { BenchmarkError, measure } from "./Measure.js"
import type { PostgresInput } from "./PostgresInputs.js"
import { OUT_SCHEMA, PG_COLUMNS, pgDigest, psqlArgs, quoteIdent, quoteLiteral, runPsql } from "./PostgresInputs.js"

export interface PostgresEnvironment extends Environment {
  readonly url: string
  readonly client: pg.Client
}

const FERRY_DATASET = "data"

interface FerryShare {
  readonly source: object
  /** Settings of the PostgreSQL store beside its URL. */
  readonly store?: object
  readonly incremental?: object
  readonly output: object
  readonly mapping: object
}

/** A share config moving one PostgreSQL dataset into a local folder or a PostgreSQL table. */
const ferryConfig = (env: PostgresEnvironment, run: string, share: FerryShare): string =>
  stringify({
    version: 1,
    state: `sqlite:${path.join(run, "state.db")}`,
    accounts: { provider: {}, consumer: {} },
    stores: {
      db: { type: "postgres", url: env.url, account: "provider", ...share.store },
      output: { ...share.output, account: "consumer" }
    },
    shares: [
      {
        name: "bench",
        account: "provider",
        kind: "snapshot",
        datasets: [
          {
            name: FERRY_DATASET,
            source: { store: "db", ...share.source },
            ...(share.incremental === undefined ? {} : { incremental: share.incremental })
          }
        ]
      }
    ],
    subscriptions: [
      {
        name: "bench-copy",
        account: "consumer",
        share: "provider/bench",
        accept_terms: true,
        trigger: "manual",
        mappings: { [FERRY_DATASET]: { store: "output", ...share.mapping } }
      }
    ]
  })

const ferryCommand = (env: Environment, config: string, run: string, extra: ReadonlyArray<string> = []) => ({
  file: process.execPath,
  args: [ferryBin(env), "run", config, ...extra],
  cwd: run
})

/** The one part file Ferry wrote into a local folder. */
const partFile = (folder: string, extension: string): string => {
  const part = fs
    .readdirSync(folder)
    .filter((name) => name.endsWith(`.${extension}`))
    .map((name) => path.join(folder, name))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0]
  if (part === undefined) throw new BenchmarkError({ message: `ferry wrote no .${extension} file in ${folder}` })
  return part
}

/**
 * Ferry writing the table into a folder as CSV or Parquet; `parallelReads` sets the
 * store's `parallel_reads` (its default otherwise). CSV may come in several parts,
 * which the digest reads together (a glob); Parquet is one file.
 */
const ferryToFile = (
  env: PostgresEnvironment,
  input: PostgresInput,
  format: "csv" | "parquet",
  parallelReads?: number
): Side => ({
  name: parallelReads === undefined ? "ferry" : `ferry, parallel_reads ${parallelReads}`,
  isFerry: true,
  prepare: (run) => {
    const config = path.join(run, "ferry.yaml")
    const share: FerryShare = {
      source: { table: input.table },
      ...(parallelReads === undefined ? {} : { store: { parallel_reads: parallelReads } }),
      output: { type: "local", root: path.join(run, "out") },
      mapping: { path: "data/", format }
    }
    fs.writeFileSync(config, ferryConfig(env, run, share))
    return ferryCommand(env, config, run, ["--full"])
  },
  output: (run) =>
    format === "csv"
      ? path.join(path.dirname(partFile(path.join(run, "out", "data"), format)), "part-*.csv")
      : partFile(path.join(run, "out", "data"), format)
})

/** psql exporting the whole table as CSV with a header line, into a file of the run. */
const psqlToCsv = (env: PostgresEnvironment, input: PostgresInput, name = "psql \\copy to csv"): Side => ({
  name,
  isFerry: false,
  prepare: (run) => ({
    file: "psql",
    args: psqlArgs(
      env.url,
      `\\copy (SELECT * FROM ${input.table}) TO ${quoteLiteral(path.join(run, "out.csv"))} WITH (FORMAT csv, HEADER)`
    ),
    cwd: run
  }),
  output: (run) => path.join(run, "out.csv")
})

/** A table in the output schema named after the run's folder, so that every side writes a table of its own. */
const targetTable = (run: string): string => `t_${path.basename(run).replace(/\W+/g, "_").toLowerCase()}`

const dropTarget = (env: PostgresEnvironment) => async (run: string) => {
  const table = `${OUT_SCHEMA}.${quoteIdent(targetTable(run))}`
  await env.client.query(`DROP TABLE IF EXISTS ${table}`)
  // Ferry's bookkeeping of the commit into it, in the target database.
  const ledger = await env.client.query<{ exists: boolean }>(
    `SELECT to_regclass('_ferry.commits') IS NOT NULL AS exists`
  )
  if (ledger.rows[0]?.exists === true) {
    await env.client.query(`DELETE FROM _ferry.commits WHERE target = $1`, [
      `${quoteIdent(OUT_SCHEMA)}.${quoteIdent(targetTable(run))}`
    ])
  }
}

/** Creates the peer's target table, with the source's columns (no indexes: Ferry's replace creates none either). */
const createPeerTarget = (env: PostgresEnvironment, input: PostgresInput, run: string): void =>
  runPsql(env.url, `CREATE TABLE ${OUT_SCHEMA}.${quoteIdent(targetTable(run))} (LIKE ${input.table})`, run)

const postgresDigest = (env: PostgresEnvironment) => (table: string) => pgDigest(env.client, table)

/** Ferry and psql copying the table into a CSV file; `others`, more sides beside them. */
const toCsvJob = (
  name: JobName,
  title: string,
  env: PostgresEnvironment,
  input: PostgresInput,
  others: ReadonlyArray<Side> = []
): Job => ({
  name,
  title,
  unit: "rows",
  count: input.rows,
  inputBytes: input.csvBytes,
  sides: [ferryToFile(env, input, "csv"), psqlToCsv(env, input), ...others],
  expected: () => csvDigest(env)(input.referenceCsv),
  digest: csvDigest(env)
})

/** The fixed cost: the same copy of a one-row table. */
export const postgresStartup = (env: PostgresEnvironment, input: PostgresInput): Job =>
  toCsvJob("pg-startup", "start-up (1 row)", env, input)

/** With a third side that reads the table on two connections (the default reads it on one). */
export const postgresToCsv = (env: PostgresEnvironment, input: PostgresInput): Job =>
  toCsvJob("pg-to-csv", "PostgreSQL → CSV", env, input, [ferryToFile(env, input, "csv", 2)])

/** psql cannot write Parquet: its side is the same CSV export, the issue's yardstick for every job. */
export const postgresToParquet = (env: PostgresEnvironment, input: PostgresInput): Job => ({
  name: "pg-to-parquet",
  title: "PostgreSQL → Parquet",
  unit: "rows",
  count: input.rows,
  inputBytes: input.csvBytes,
  sides: [ferryToFile(env, input, "parquet"), psqlToCsv(env, input)],
  expected: () => csvDigest(env)(input.referenceCsv),
  digest: (output) => (output.endsWith(".parquet") ? parquetDigest(env)(output) : csvDigest(env)(output))
})

/**
 * Into another table of the same server. Ferry replaces a new table through its sink
 * (COPY BINARY into a staging table, then the one-transaction publish); psql pipes its
 * CSV export into `\copy … from` of a table created beforehand, and, as a second peer,
 * loads psql's CSV export made when the table was generated.
 */
export const postgresToPostgres = (env: PostgresEnvironment, input: PostgresInput): Job => {
  const target = (run: string) => `${OUT_SCHEMA}.${quoteIdent(targetTable(run))}`
  const load = (run: string, from: string) =>
    `\\copy ${target(run)} FROM ${from} WITH (FORMAT csv${from === "pstdin" ? "" : ", HEADER"})`
  return {
    name: "pg-to-postgres",
    title: "PostgreSQL → PostgreSQL",
    unit: "rows",
    count: input.rows,
    inputBytes: input.tableBytes,
    sides: [
      {
        name: "ferry",
        isFerry: true,
        prepare: (run) => {
          const config = path.join(run, "ferry.yaml")
          const share: FerryShare = {
            source: { table: input.table },
            output: { type: "postgres", url: env.url },
            mapping: { table: `${OUT_SCHEMA}.${targetTable(run)}` }
          }
          fs.writeFileSync(config, ferryConfig(env, run, share))
          return ferryCommand(env, config, run, ["--full"])
        },
        output: target,
        cleanup: dropTarget(env)
      },
      {
        name: "psql \\copy to | \\copy from",
        isFerry: false,
        prepare: (run) => {
          createPeerTarget(env, input, run)
          const exportArgs = psqlArgs(env.url, `\\copy (SELECT * FROM ${input.table}) TO pstdout WITH (FORMAT csv)`)
          const loadArgs = psqlArgs(env.url, load(run, "pstdin"))
          const quote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`
          return {
            file: "sh",
            args: ["-c", `psql ${exportArgs.map(quote).join(" ")} | psql ${loadArgs.map(quote).join(" ")}`],
            cwd: run
          }
        },
        output: target,
        cleanup: dropTarget(env)
      },
      {
        name: "psql \\copy from csv",
        isFerry: false,
        prepare: (run) => {
          createPeerTarget(env, input, run)
          return { file: "psql", args: psqlArgs(env.url, load(run, quoteLiteral(input.referenceCsv))), cwd: run }
        },
        output: target,
        cleanup: dropTarget(env)
      }
    ],
    expected: () => Promise.resolve(input.pgDigest),
    digest: postgresDigest(env)
  }
}

// ---- the incremental run -------------------------------------------------------------

/** Rows the incremental job changes, spread over the table. */
export const CHANGED_ROWS = 1_000

export interface ScanCounters {
  readonly seqScan: number
  readonly seqTupRead: number
  readonly idxScan: number
  readonly idxTupFetch: number
}

export interface RoundSide extends Measurement {
  readonly loadBefore: number
  readonly rowsRead: number
  readonly transferSeconds?: number
}

export interface IncrementalRound {
  readonly ferry: RoundSide
  readonly psql: RoundSide
  /** pg_stat_user_tables of the source table, before and after Ferry's run. */
  readonly scans: { readonly before: ScanCounters; readonly after: ScanCounters }
}

export interface IncrementalResult {
  readonly rows: number
  readonly changed: number
  readonly rounds: ReadonlyArray<IncrementalRound>
  /** The statements Ferry sent for the read, from its debug log, with their plans. */
  readonly plans: ReadonlyArray<{ readonly sql: string; readonly plan: ReadonlyArray<string> }>
}

/** The row numbers the job changes, as SQL over `i`. */
const changedRows = (rows: number): string =>
  `generate_series(0::bigint, ${rows - 1}::bigint, ${Math.max(1, Math.floor(rows / CHANGED_ROWS))}::bigint) AS g(i)`

const idExpression = PG_COLUMNS.find((column) => column.name === "id")!.expression

/** Gives the changed rows a new name and a cursor value after every other row's, from the clock. */
const changeRows = (client: pg.Client, input: PostgresInput) =>
  client.query(
    `UPDATE ${input.table} AS t SET updated_at = clock_timestamp() + c.k * interval '1 microsecond', name = 'changed ' || t.id
     FROM (SELECT ${idExpression} AS id, row_number() OVER () AS k FROM ${changedRows(input.rows)} LIMIT ${CHANGED_ROWS}) AS c
     WHERE t.id = c.id`
  )

/** Puts the changed rows back as generated, so that the cached table keeps its definition's content. */
const restoreRows = (client: pg.Client, input: PostgresInput) => {
  const column = (name: string) => PG_COLUMNS.find((candidate) => candidate.name === name)!.expression
  return client.query(
    `UPDATE ${input.table} AS t SET name = g.name, updated_at = g.updated_at
     FROM (SELECT ${idExpression} AS id, ${column("name")} AS name, ${column("updated_at")} AS updated_at
           FROM ${changedRows(input.rows)}) AS g
     WHERE t.id = g.id`
  )
}

const readCounters = async (client: pg.Client, input: PostgresInput): Promise<ScanCounters> => {
  await client.query("SELECT pg_stat_clear_snapshot()")
  const result = await client.query<{
    seq_scan: string
    seq_tup_read: string
    idx_scan: string
    idx_tup_fetch: string
  }>(
    `SELECT seq_scan, seq_tup_read, coalesce(idx_scan, 0) AS idx_scan, coalesce(idx_tup_fetch, 0) AS idx_tup_fetch
     FROM pg_stat_user_tables WHERE relid = $1::regclass`,
    [input.table]
  )
  const row = result.rows[0]!
  return {
    seqScan: Number(row.seq_scan),
    seqTupRead: Number(row.seq_tup_read),
    idxScan: Number(row.idx_scan),
    idxTupFetch: Number(row.idx_tup_fetch)
  }
}

/**
 * The counters once the statistics of Ferry's sessions have reached them: a backend
 * reports when it ends, and the reports are merged a moment later.
 */
const countersAfter = async (client: pg.Client, input: PostgresInput, before: ScanCounters): Promise<ScanCounters> => {
  const deadline = Date.now() + 5_000
  let counters = await readCounters(client, input)
  while (counters.idxScan === before.idxScan && counters.seqScan === before.seqScan && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    counters = await readCounters(client, input)
  }
  return counters
}

/** The SQL of each read Ferry logged at debug level (logfmt, the value JSON-quoted). */
const loggedStatements = (logFile: string): ReadonlyArray<string> =>
  [...fs.readFileSync(logFile, "utf8").matchAll(/ sql=("(?:[^"\\]|\\.)*")/g)].map(
    (match) => JSON.parse(match[1]!) as string
  )

/** `COPY (SELECT …) TO STDOUT …` → `EXPLAIN SELECT …`, and the plan's lines. */
const explain = async (client: pg.Client, sql: string): Promise<ReadonlyArray<string>> => {
  const select = /^COPY \((.*)\) TO STDOUT/s.exec(sql)?.[1]
  if (select === undefined) throw new BenchmarkError({ message: `not a COPY Ferry would send: ${sql}` })
  const result = await client.query<{ "QUERY PLAN": string }>(`EXPLAIN ${select}`)
  return result.rows.map((row) => row["QUERY PLAN"])
}

const countCsvRows = async (env: Environment, file: string): Promise<number> => {
  const reader = await env.duckdb.runAndReadAll(
    `SELECT count(*) AS n FROM read_csv(${quoteLiteral(file)}, header = true, all_varchar = true)`
  )
  return Number((reader.getRowObjectsJson()[0] as { n: string }).n)
}

/**
 * Ferry's incremental run after 1,000 rows changed: a full run first (not measured) for
 * the checkpoint, then per round the rows change, Ferry runs (incremental, debug log for
 * its SQL) with the table's scan counters read before and after, psql exports the same
 * range, and the rows are put back.
 */
export const incrementalJob = async (
  env: PostgresEnvironment,
  input: PostgresInput,
  repeat: number,
  runsDir: string,
  log: (line: string) => void
): Promise<IncrementalResult> => {
  const run = fs.mkdtempSync(path.join(runsDir, "pg-incremental-"))
  const config = path.join(run, "ferry.yaml")
  const share: FerryShare = {
    source: { table: input.table },
    incremental: { cursor: "updated_at", key: ["id"] },
    output: { type: "local", root: path.join(run, "out") },
    mapping: { path: "data/", format: "csv" }
  }
  fs.writeFileSync(config, ferryConfig(env, run, share))
  const command = (name: string, base: Omit<Command, "log">): Command => ({
    ...base,
    log: path.join(run, `${name}.log`)
  })
  log("  full run for the checkpoint (not measured)")
  await measure(command("full", ferryCommand(env, config, run, ["--full"])), runsDir)
  const rounds: Array<IncrementalRound> = []
  let plans: IncrementalResult["plans"] = []
  try {
    for (let round = 0; round < repeat; round++) {
      const since = (await env.client.query<{ now: string }>("SELECT clock_timestamp()::text AS now")).rows[0]!.now
      const changed = await changeRows(env.client, input)
      if (changed.rowCount !== CHANGED_ROWS) {
        throw new BenchmarkError({ message: `changed ${changed.rowCount} rows, expected ${CHANGED_ROWS}` })
      }
      await env.client.query("SELECT pg_stat_force_next_flush()")
      const before = await readCounters(env.client, input)
      const ferryLog = `incremental-${round}`
      const loadFerry = os.loadavg()[0]!
      const ferry = await measure(command(ferryLog, ferryCommand(env, config, run, ["--log-level", "debug"])), runsDir)
      const after = await countersAfter(env.client, input, before)
      const ferryRows = await countCsvRows(env, partFile(path.join(run, "out", "data"), "csv"))
      const transferSeconds = reportedSeconds(path.join(run, "state.db"), path.join(run, `${ferryLog}.log`))
      const statements = loggedStatements(path.join(run, `${ferryLog}.log`))
      if (round === 0)
        plans = await Promise.all(statements.map(async (sql) => ({ sql, plan: await explain(env.client, sql) })))
      const peerOut = path.join(run, `psql-${round}.csv`)
      const loadPsql = os.loadavg()[0]!
      const psql = await measure(
        command(`psql-${round}`, {
          file: "psql",
          args: psqlArgs(
            env.url,
            `\\copy (SELECT * FROM ${input.table} WHERE updated_at > ${quoteLiteral(since)}::timestamptz ORDER BY updated_at, id) ` +
              `TO ${quoteLiteral(peerOut)} WITH (FORMAT csv, HEADER)`
          ),
          cwd: run
        }),
        runsDir
      )
      const psqlRows = await countCsvRows(env, peerOut)
      rounds.push({
        ferry: {
          ...ferry,
          loadBefore: loadFerry,
          rowsRead: ferryRows,
          ...(transferSeconds === undefined ? {} : { transferSeconds })
        },
        psql: { ...psql, loadBefore: loadPsql, rowsRead: psqlRows },
        scans: { before, after }
      })
      log(
        `  incremental ferry: ${ferry.wallSeconds.toFixed(2)} s, ${ferryRows} rows; psql: ${psql.wallSeconds.toFixed(2)} s, ${psqlRows} rows; ` +
          `sequential scans of the table during Ferry's run: ${after.seqScan - before.seqScan}`
      )
      await restoreRows(env.client, input)
    }
  } finally {
    await restoreRows(env.client, input)
  }
  fs.rmSync(run, { recursive: true, force: true })
  return { rows: input.rows, changed: CHANGED_ROWS, rounds, plans }
}
