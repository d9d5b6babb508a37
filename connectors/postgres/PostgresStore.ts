/**
 * A PostgreSQL store: its config, its connection pool, and the errors of the driver
 * told as sentences a user can act on. The source (connectors/postgres) and the sink
 * (sinks/postgres) share all of it.
 *
 * Every connection runs with `standard_conforming_strings = on` (a backslash in a
 * string literal is an ordinary character, which the literals rendered for COPY rely
 * on) and `application_name = 'ferry'`, both set in the startup packet so that they
 * hold from the first statement of every connection, pooled or not.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import pg from "pg"

const POSTGRES_URL = /^postgres(?:ql)?:\/\//
const URL_DESCRIPTION =
  "The server and database, as postgres://user:password@host:port/database. Keep the password out of the config: write ${env:VARIABLE}."

export const PostgresStoreConfig = Schema.Struct({
  url: Schema.Redacted(
    Schema.String.pipe(
      Schema.filter((url) => POSTGRES_URL.test(url), {
        message: () => "expected a URL starting with postgres:// (or postgresql://)"
      })
    ).annotations({ description: URL_DESCRIPTION, examples: ["${env:SALES_DB_URL}"] })
  ).annotations({ description: URL_DESCRIPTION }),
  pool_size: Schema.optional(
    Schema.Int.pipe(Schema.between(1, 100)).annotations({
      description: "Connections the store may open at once (default 10); each dataset read concurrently takes one.",
      examples: [10]
    })
  ),
  connect_timeout_seconds: Schema.optional(
    Schema.Int.pipe(Schema.between(1, 600)).annotations({
      description: "How long to wait for the server to accept a connection (default 10).",
      examples: [10]
    })
  ),
  parallel_reads: Schema.optional(
    Schema.Int.pipe(Schema.between(1, 16)).annotations({
      description:
        "Connections a full snapshot of one large table into CSV reads it on at once, each a range of the table's " +
        "pages written as a part file of its own, while the pool has connections to spare (default 1: every table " +
        "on one connection). Worth raising when the server, not Ferry, is the slower side.",
      examples: [2]
    })
  ),
  parallel_read_min_mb: Schema.optional(
    Schema.Int.pipe(Schema.between(1, 1_048_576)).annotations({
      description:
        "The size in MiB from which a table's pages are split between parallel_reads connections (default 64).",
      examples: [64]
    })
  )
}).annotations({
  identifier: "PostgresStoreConfig",
  description: "A PostgreSQL database."
})
export type PostgresStoreConfig = typeof PostgresStoreConfig.Type

/** A PostgreSQL store could not be reached or answered with an error. Never carries the URL or password. */
export class PostgresError extends Schema.TaggedError<PostgresError>()("PostgresError", {
  store: Schema.String,
  message: Schema.String
}) {}

export const DEFAULT_POOL_SIZE = 10
export const DEFAULT_PARALLEL_READS = 1
export const DEFAULT_PARALLEL_READ_MIN_MB = 64
export const DEFAULT_CONNECT_TIMEOUT_SECONDS = 10

/** What a message about a failure may name: never the URL or the password. */
export interface PgErrorContext {
  /** `host:port` of the server, as the URL gives it. */
  readonly server?: string
  readonly user?: string
  readonly database?: string
  /** The table being read or written, as the config names it. */
  readonly table?: string
  readonly column?: string
  /** Strings that must never appear in a message (the password), removed if the driver quotes them. */
  readonly secrets?: ReadonlyArray<string>
}

/** The parts of a postgres:// URL that messages may name. */
export const describeUrl = (url: string): PgErrorContext => {
  try {
    const parsed = new URL(url)
    const password = decodeURIComponent(parsed.password)
    const host = decodeURIComponent(parsed.hostname) || parsed.searchParams.get("host") || "localhost"
    return {
      server: `${host}:${parsed.port || "5432"}`,
      user: decodeURIComponent(parsed.username) || process.env["PGUSER"] || process.env["USER"] || "postgres",
      database: decodeURIComponent(parsed.pathname.replace(/^\//, "")) || "(the user's default)",
      secrets: password === "" ? [url] : [url, password, parsed.password]
    }
  } catch {
    return { secrets: [url] }
  }
}

interface DriverError {
  readonly code?: string
  readonly message?: string
  readonly address?: string
  readonly port?: number
  readonly hostname?: string
  readonly table?: string
  readonly column?: string
  readonly schema?: string
}

const quoted = (message: string, pattern: RegExp): string | undefined => pattern.exec(message)?.[1]

const scrub = (text: string, secrets: ReadonlyArray<string> | undefined): string => {
  let clean = text
  for (const secret of secrets ?? []) if (secret.length > 0) clean = clean.split(secret).join("<redacted>")
  // A URL with credentials that the driver may have echoed, whatever it is.
  return clean.replace(/(postgres(?:ql)?:\/\/[^:@/\s]*):[^@\s]*@/g, "$1:<redacted>@")
}

/**
 * A driver error as one secret-free sentence naming what matters: the server that
 * cannot be reached, the user whose password is wrong, the database, table or column
 * that is missing, the permission that is lacking.
 */
export const describePgError = (error: unknown, context: PgErrorContext = {}): string => {
  const driver = (typeof error === "object" && error !== null ? error : {}) as DriverError
  const raw = error instanceof Error ? error.message : typeof error === "string" ? error : String(error)
  const message = driver.message ?? raw
  const server =
    context.server ?? (driver.address !== undefined ? `${driver.address}:${driver.port ?? 5432}` : "the server")
  const table = driver.table ?? context.table
  const onTable = table === undefined ? "" : ` (table ${table})`
  const text = ((): string => {
    switch (driver.code) {
      case "ECONNREFUSED":
        return `cannot reach the PostgreSQL server at ${server}: connection refused (is it running, on this port?)`
      case "ENOTFOUND":
      case "EAI_AGAIN":
        return `cannot reach the PostgreSQL server at ${server}: the host name ${driver.hostname ?? ""} does not resolve`.replace(
          /  +/g,
          " "
        )
      case "ETIMEDOUT":
      case "EHOSTUNREACH":
      case "ENETUNREACH":
        return `cannot reach the PostgreSQL server at ${server}: ${driver.code === "ETIMEDOUT" ? "no answer" : "no route to the host"}`
      case "ECONNRESET":
      case "EPIPE":
        return `the connection to the PostgreSQL server at ${server} was closed unexpectedly`
      case "28P01": {
        const user = quoted(message, /user "((?:[^"]|"")*)"/) ?? context.user ?? "(unknown)"
        return `wrong password for user ${user} on the PostgreSQL server at ${server}`
      }
      case "28000":
        return `the PostgreSQL server at ${server} refuses the connection: ${message}`
      case "3D000":
        return `database ${quoted(message, /database "((?:[^"]|"")*)"/) ?? context.database ?? "(unknown)"} does not exist on the PostgreSQL server at ${server}`
      case "42501":
        return `${message}${onTable}; grant the store's user the privilege it needs`
      case "42P01":
        return `table ${quoted(message, /relation "((?:[^"]|"")*)"/) ?? table ?? "(unknown)"} does not exist`
      case "3F000":
        return `schema ${quoted(message, /schema "((?:[^"]|"")*)"/) ?? "(unknown)"} does not exist`
      case "42703": {
        const column = quoted(message, /column "((?:[^"]|"")*)"/) ?? driver.column ?? context.column ?? "(unknown)"
        return `column ${column} does not exist${onTable}`
      }
      case "57P01":
      case "57P02":
      case "57P03":
        return `the PostgreSQL server at ${server} is shutting down or starting up: ${message}`
      case "53300":
        return `the PostgreSQL server at ${server} has no free connection: ${message}`
      case "25006":
        return `the query tries to change data, but it runs in a read-only transaction: ${message}`
      case "57014":
        return `the statement was canceled: ${message}`
      default:
        break
    }
    if (/timeout/i.test(message)) {
      return `cannot reach the PostgreSQL server at ${server}: no answer in time (${message})`
    }
    if (/client password must be a string|password authentication|SASL/i.test(message)) {
      return `the PostgreSQL server at ${server} asks user ${context.user ?? "(unknown)"} for a password, and the URL gives none`
    }
    if (/Connection terminated/i.test(message)) {
      return `the connection to the PostgreSQL server at ${server} was closed unexpectedly`
    }
    return driver.code !== undefined && /^[0-9A-Z]{5}$/.test(driver.code)
      ? `PostgreSQL error ${driver.code}: ${message}${onTable}`
      : `${message}${onTable}`
  })()
  return scrub(text, context.secrets)
}

export interface OpenedPool {
  readonly pool: pg.Pool
  /** What messages may say about this store's server; pass it to `describePgError`. */
  readonly context: PgErrorContext
}

const STARTUP_OPTIONS = "-c standard_conforming_strings=on"

/** The pool's settings: the URL, the pool size, the connect timeout, and the session settings of every connection. */
export const poolConfig = (config: PostgresStoreConfig): pg.PoolConfig => ({
  connectionString: Redacted.value(config.url),
  max: config.pool_size ?? DEFAULT_POOL_SIZE,
  connectionTimeoutMillis: (config.connect_timeout_seconds ?? DEFAULT_CONNECT_TIMEOUT_SECONDS) * 1000,
  application_name: "ferry",
  options: STARTUP_OPTIONS,
  // A pooled connection left idle goes away; a read or a load holds its own for as long as it needs.
  idleTimeoutMillis: 30_000
})

/**
 * Opens a pool on the store's database for the life of the scope, after checking
 * with a trivial query that the server answers and lets the user in, so that a wrong
 * URL fails when the store opens rather than at the first read.
 */
export const openPool = (
  config: PostgresStoreConfig,
  store: string
): Effect.Effect<OpenedPool, PostgresError, Scope.Scope> =>
  Effect.gen(function* () {
    const context = describeUrl(Redacted.value(config.url))
    const pool = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const created = new pg.Pool(poolConfig(config))
        // An idle connection that drops emits on the pool; without a listener Node would exit. The next query reports it.
        created.on("error", () => undefined)
        return created
      }),
      (created) => Effect.promise(() => created.end().catch(() => undefined))
    )
    yield* Effect.tryPromise({
      try: () => pool.query("SELECT 1"),
      catch: (error) => new PostgresError({ store, message: describePgError(error, context) })
    })
    return { pool, context }
  })

/**
 * One connection of the pool for the life of the scope. A connection whose scope
 * ends in failure or interruption may be mid-COPY or mid-transaction, so it is
 * closed rather than returned to the pool.
 */
export const acquireClient = (
  opened: OpenedPool,
  store: string
): Effect.Effect<pg.PoolClient, PostgresError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => opened.pool.connect(),
      catch: (error) => new PostgresError({ store, message: describePgError(error, opened.context) })
    }).pipe(
      // A checked-out connection that the server ends between statements emits an error
      // on the client; without a listener Node would end the process. The next query
      // on it fails and says so.
      Effect.tap((client) => Effect.sync(() => client.on("error", ignoreConnectionError)))
    ),
    (client, exit) =>
      Effect.sync(() => {
        client.off("error", ignoreConnectionError)
        client.release(Exit.isSuccess(exit) ? undefined : true)
      })
  )

const ignoreConnectionError = (): void => undefined

/** Runs one statement, as a PostgresError told with `context` when it fails. */
export const runQuery = <R extends pg.QueryResultRow = pg.QueryResultRow>(
  client: pg.ClientBase | pg.Pool,
  store: string,
  sql: string,
  values: ReadonlyArray<unknown> = [],
  context: PgErrorContext = {}
): Effect.Effect<pg.QueryResult<R>, PostgresError> =>
  Effect.tryPromise({
    try: () => client.query<R>(sql, values as Array<unknown>),
    catch: (error) => new PostgresError({ store, message: describePgError(error, context) })
  })
