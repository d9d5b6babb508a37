/**
 * The PostgreSQL client of the state store: a pg pool from the config's URL, confined
 * to one schema, migrated on open under an advisory lock. The only PostgreSQL-specific
 * SQL of the store lives here.
 *
 * The URL may carry a password, so it is never logged nor put in an error: errors name
 * the database and the host at most, and any reason a driver gives is scrubbed of the
 * URL and the password before it is shown.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { loader, migrationsTable, runMigrations } from "../Migrations.js"
import type { PostgresOptions } from "../StateStore.js"
import { StateError } from "../StateError.js"

/** The schema the state lives in when the URL names none. */
export const DEFAULT_SCHEMA = "ferry"

/**
 * Lower-case identifiers only: they need no quoting in SQL nor escaping in the
 * connection's startup options, and PostgreSQL folds unquoted names to lower case, so
 * `ferry` in psql is the same schema.
 */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

/** The first key of the two-key advisory lock; the second is the schema's hash, so that two schemas migrate independently. */
const MIGRATION_LOCK = 0x46455259

export interface Target {
  /** The URL handed to pg: the configured one without `schema`, plus the startup options. */
  readonly url: Redacted.Redacted<string>
  readonly schema: string
  /** `database D on HOST[:PORT]`, for messages and logs. */
  readonly where: string
  /** Removes the URL and its password from a driver's message. */
  readonly scrub: (text: string) => string
}

const secrets = (text: string, url: URL): ReadonlyArray<string> => {
  const password = url.password
  const decoded = password === "" ? "" : safeDecode(password)
  return [text, url.toString(), password, decoded].filter((secret) => secret.length > 0)
}

const safeDecode = (text: string): string => {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/**
 * Reads `?schema=` and pins two settings in the connection's startup options, so that
 * every pooled connection has them before its first statement:
 * - `search_path` is the state's schema alone, so the store's unqualified names (and the
 *   migrator's table) resolve there and nowhere else;
 * - `default_transaction_isolation` is READ COMMITTED whatever the server's default: the
 *   store's transactions start with a write that locks the rows they depend on, which is
 *   safe at READ COMMITTED, whereas a stricter level fails the second of two concurrent
 *   commits with a serialization error (docs/state.md).
 */
export const parseTarget = (configured: Redacted.Redacted<string>): Either.Either<Target, StateError> => {
  const text = Redacted.value(configured)
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return Either.left(new StateError({ message: "The state store's PostgreSQL URL is not a valid URL" }))
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    return Either.left(
      new StateError({ message: "The state store's URL must start with postgres:// or postgresql://" })
    )
  }
  const hidden = secrets(text, url)
  const scrub = (message: string) => hidden.reduce((clean, secret) => clean.split(secret).join("***"), message)
  const host = url.hostname === "" ? (url.searchParams.get("host") ?? "localhost") : safeDecode(url.hostname)
  const database = safeDecode(url.pathname.slice(1)) || safeDecode(url.username) || "postgres"
  const where = scrub(`database ${database} on ${host}${url.port === "" ? "" : `:${url.port}`}`)
  const schema = url.searchParams.get("schema") ?? DEFAULT_SCHEMA
  if (!SCHEMA_NAME.test(schema)) {
    return Either.left(
      new StateError({
        message: `The state store's schema must be a lower-case SQL identifier (letters, digits, _), not ${JSON.stringify(scrub(schema))}`
      })
    )
  }
  url.searchParams.delete("schema")
  const options = url.searchParams.get("options")
  url.searchParams.set(
    "options",
    [options, `-c search_path=${schema}`, "-c default_transaction_isolation=read\\ committed"]
      .filter((option) => option !== null)
      .join(" ")
  )
  return Either.right({ url: Redacted.make(url.toString()), schema, where, scrub })
}

const reason = (error: unknown): string => {
  if (error instanceof Migrator.MigrationError && error.cause !== undefined) {
    return `${error.message}: ${reason(error.cause)}`
  }
  if (error instanceof AggregateError && error.message === "") {
    return error.errors.map(reason).join("; ")
  }
  if (error instanceof Error) {
    return error.cause instanceof Error ? reason(error.cause) : error.message
  }
  return String(error)
}

/**
 * Two processes opening a new database at once must not both create the schema or
 * migrate it: PgMigrator creates its table outside any lock, so the loser of that race
 * would fail. Everything is done in one transaction that first takes a transaction-level
 * advisory lock (released at commit, or when a crashed process's connection closes); the
 * migrations table is created here so that the migrator finds it instead of creating it
 * inside the transaction, where its probe's error would abort the transaction.
 */
const migrate = (client: PgClient.PgClient, schema: string) =>
  client
    .withTransaction(
      Effect.gen(function* () {
        yield* client`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK}, hashtext(${schema}))`
        // CREATE SCHEMA IF NOT EXISTS needs the right to create schemas even when the schema
        // exists; a role given only a schema made by its DBA must be able to start.
        const found = yield* client`SELECT 1 FROM pg_namespace WHERE nspname = ${schema}`
        if (found.length === 0) yield* client`CREATE SCHEMA ${client(schema)}`
        yield* client`CREATE TABLE IF NOT EXISTS ${client(migrationsTable)} (
          migration_id integer PRIMARY KEY,
          created_at timestamp with time zone NOT NULL DEFAULT now(),
          name text NOT NULL
        )`
        return yield* runMigrations({ loader, table: migrationsTable })
      })
    )
    .pipe(Effect.provideService(PgClient.PgClient, client), Effect.provideService(SqlClient.SqlClient, client))

export const layerClient = (
  options: PostgresOptions
): Layer.Layer<SqlClient.SqlClient | PgClient.PgClient, StateError> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const target = yield* parseTarget(options.url)
      const cannot = (doing: string) => (error: unknown) =>
        new StateError({ message: target.scrub(`Cannot ${doing} the state ${target.where}: ${reason(error)}`) })
      const client = yield* PgClient.make({
        url: target.url,
        applicationName: "ferry-state",
        connectTimeout: options.connectTimeout ?? "10 seconds"
      }).pipe(Effect.mapError(cannot("connect to")))
      const applied = yield* migrate(client, target.schema).pipe(
        Effect.mapError(cannot("migrate")),
        // The migrator turns a failing migration into a defect.
        Effect.catchSomeDefect((defect) =>
          defect instanceof Migrator.MigrationError
            ? Option.some(Effect.fail(cannot("migrate")(defect)))
            : Option.none()
        )
      )
      if (applied.length > 0) {
        yield* Effect.logInfo("Migrated the state database").pipe(
          Effect.annotateLogs({
            database: target.where,
            schema: target.schema,
            migrations: applied.map(([id, name]) => `${id}_${name}`).join(", ")
          })
        )
      }
      return Context.make(SqlClient.SqlClient, client).pipe(Context.add(PgClient.PgClient, client))
    }).pipe(
      // Opened inside another client's transaction, the settings and migrations would go
      // to that client's connection: every @effect/sql client shares the transaction tag.
      Effect.mapInputContext(Context.omit(SqlClient.TransactionConnection)<Scope.Scope | Reactivity.Reactivity>)
    )
  ).pipe(Layer.provide(Reactivity.layer))
