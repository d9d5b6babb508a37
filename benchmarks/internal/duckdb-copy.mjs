/**
 * The DuckDB peer: runs one COPY statement in a process of its own and prints its
 * settings as one JSON line. Plain JavaScript, so that the peer's figures carry no
 * TypeScript loader (Ferry's carry tsx, as `ferry` does).
 *
 *   node benchmarks/internal/duckdb-copy.mjs "<SQL>" [threads]
 */
import { DuckDBInstance } from "@duckdb/node-api"

const [sql, threads] = process.argv.slice(2)
const instance = await DuckDBInstance.create(":memory:", threads === undefined ? {} : { threads })
const connection = await instance.connect()
await connection.run("SET TimeZone = 'UTC'")
await connection.run(sql)
const settings = await connection.runAndReadAll(
  "SELECT version() AS version, current_setting('threads') AS threads, current_setting('memory_limit') AS memory_limit"
)
console.log(JSON.stringify(settings.getRowObjectsJson()[0]))
connection.closeSync()
instance.closeSync()
