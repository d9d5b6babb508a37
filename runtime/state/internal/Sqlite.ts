/**
 * The SQLite client of the state store: one better-sqlite3 connection per layer, in
 * WAL mode, migrated on open. The only SQLite-specific SQL of the store lives here.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { mkdir } from "node:fs/promises"
import * as path from "node:path"
import { loader, migrationsTable, runMigrations } from "../Migrations.js"
import type { SqliteOptions } from "../StateStore.js"
import { StateError } from "../StateError.js"

const MEMORY = ":memory:"

const reason = (error: unknown): string =>
  error instanceof Migrator.MigrationError && error.cause !== undefined
    ? `${error.message}: ${reason(error.cause)}`
    : error instanceof Error
      ? error.cause instanceof Error
        ? error.cause.message
        : error.message
      : String(error)

/**
 * A commit must survive a power loss, not only a crash of the process: the commit
 * protocol relies on an intent being durable before the sink publishes. better-sqlite3
 * builds SQLite with NORMAL synchronisation in WAL mode, which can lose the last
 * commits on power loss, so it is raised to FULL. Foreign keys are off by default in SQLite.
 */
const configure = (client: SqlClient.SqlClient, busyTimeout: Duration.Duration) =>
  Effect.all(
    [
      client.unsafe(`PRAGMA busy_timeout = ${Math.round(Duration.toMillis(busyTimeout))}`),
      client.unsafe("PRAGMA synchronous = FULL"),
      client.unsafe("PRAGMA foreign_keys = ON")
    ],
    { discard: true }
  )

/**
 * Two processes opening a new file at once must not both migrate it. The migrator
 * reads its table before writing, and in SQLite the loser of that race fails instead of
 * waiting; so the migrations table is created first and a write to it, at the start of
 * an enclosing transaction, takes the write lock before the migrator reads.
 */
const migrate = (client: SqliteClient.SqliteClient) =>
  Effect.gen(function* () {
    yield* client.unsafe(`CREATE TABLE IF NOT EXISTS ${migrationsTable} (
      migration_id integer PRIMARY KEY NOT NULL,
      created_at datetime NOT NULL DEFAULT current_timestamp,
      name VARCHAR(255) NOT NULL
    )`)
    return yield* client.withTransaction(
      client
        .unsafe(`DELETE FROM ${migrationsTable} WHERE 1 = 0`)
        .pipe(Effect.zipRight(runMigrations({ loader, table: migrationsTable })))
    )
  }).pipe(Effect.provideService(SqliteClient.SqliteClient, client), Effect.provideService(SqlClient.SqlClient, client))

const makeFolder = (filename: string) =>
  filename === MEMORY
    ? Effect.void
    : Effect.tryPromise({
        try: () => mkdir(path.dirname(filename), { recursive: true }),
        catch: (error) => new StateError({ message: `Cannot create the folder of ${filename}: ${reason(error)}` })
      })

export const layerClient = (
  options: SqliteOptions
): Layer.Layer<SqlClient.SqlClient | SqliteClient.SqliteClient, StateError> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const { filename } = options
      yield* makeFolder(filename)
      // better-sqlite3 throws, and the client dies, when the file cannot be opened or is not a database.
      const client = yield* SqliteClient.make({ filename }).pipe(
        Effect.catchAllDefect((defect) =>
          Effect.fail(new StateError({ message: `Cannot open the state database ${filename}: ${reason(defect)}` }))
        ),
        // Opening switches a new file to WAL, which needs the file to itself, before any busy
        // timeout is set: another process writing a new file at that moment makes it fail at
        // once, so it is tried again for as long as a statement would wait.
        Effect.retry({
          schedule: Schedule.spaced("50 millis").pipe(
            Schedule.upTo(Duration.decode(options.busyTimeout ?? "5 seconds"))
          ),
          while: (error) => error.message.endsWith("database is locked")
        })
      )
      const cannot = (doing: string) => (error: unknown) =>
        new StateError({ message: `Cannot ${doing} the state database ${filename}: ${reason(error)}` })
      yield* configure(client, Duration.decode(options.busyTimeout ?? "5 seconds")).pipe(
        Effect.mapError(cannot("configure"))
      )
      const applied = yield* migrate(client).pipe(
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
          Effect.annotateLogs({ file: filename, migrations: applied.map(([id, name]) => `${id}_${name}`).join(", ") })
        )
      }
      return Context.make(SqlClient.SqlClient, client).pipe(Context.add(SqliteClient.SqliteClient, client))
    }).pipe(
      // Opened inside another client's transaction, the settings and migrations would go
      // to that client's connection: every @effect/sql client shares the transaction tag.
      Effect.mapInputContext(Context.omit(SqlClient.TransactionConnection)<Scope.Scope | Reactivity.Reactivity>)
    )
  ).pipe(Layer.provide(Reactivity.layer))
