/**
 * A full read of a large table split into ranges of its pages, each read on a
 * connection of its own on the session's snapshot, so that the server formats the
 * table on as many cores as there are ranges (`parallel_reads`). A range is a ctid
 * condition, which PostgreSQL 14 and later read with a TID Range Scan of those pages
 * alone; the ranges together cover the table, and every row version is in exactly one.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type pg from "pg"
import type { PgErrorContext } from "../PostgresStore.js"
import { DEFAULT_POOL_SIZE, describePgError, PostgresError, runQuery } from "../PostgresStore.js"

/** How a full read of a large table splits (`parallel_reads`, `parallel_read_min_mb`). */
export interface ParallelReads {
  readonly connections: number
  readonly minBytes: number
}

/** A connection in a transaction on the read's snapshot; `finish` ends the transaction. */
export interface SnapshotReader {
  readonly client: pg.PoolClient
  readonly finish: Effect.Effect<void, PostgresError>
}

/** A reader and the ctid conditions of its range (none: the whole table). */
export interface TableReader extends SnapshotReader {
  readonly range: ReadonlyArray<string>
}

const TABLE_SIZE_QUERY = `SELECT c.relkind::text AS kind, pg_relation_size(c.oid)::float8 AS bytes,
  current_setting('block_size')::int AS block_size, current_setting('server_version_num')::int AS version
  FROM pg_class c WHERE c.oid = $1::regclass`

interface TableSize {
  readonly kind: string
  readonly bytes: number
  readonly block_size: number
  readonly version: number
}

/** From PostgreSQL 14 a range of ctids is read without scanning the rest of the table (TID Range Scan). */
const TID_RANGE_SCAN_VERSION = 140_000

const LOCK_NOT_AVAILABLE = "55P03"

/**
 * The ctid conditions that split a table of `blocks` pages into `parts` ranges: the
 * first from the table's start, the last to its end (so that pages added since the
 * size was read are in it), each one's upper bound the next one's lower bound.
 */
export const pageRanges = (blocks: number, parts: number): ReadonlyArray<ReadonlyArray<string>> =>
  Array.from({ length: parts }, (_, part) => {
    const from = Math.floor((part * blocks) / parts)
    const to = Math.floor(((part + 1) * blocks) / parts)
    return [
      ...(part === 0 ? [] : [`ctid >= '(${from},0)'::tid`]),
      ...(part === parts - 1 ? [] : [`ctid < '(${to},0)'::tid`])
    ]
  })

/** Whether the pool can hand out a connection now, without waiting for one to come back. */
const poolHasRoom = (pool: pg.Pool): boolean =>
  pool.waitingCount === 0 && (pool.idleCount > 0 || pool.totalCount < (pool.options.max ?? DEFAULT_POOL_SIZE))

/**
 * The readers of a full read of `relation`, `first` among them with the first range:
 * `first` alone unless the relation is a table or materialized view of at least
 * `minBytes` on a server with TID range scans.
 *
 * Every reader holds ACCESS SHARE on the table before any of them reads, so that no
 * rewrite (VACUUM FULL, CLUSTER, a rewriting ALTER TABLE) moves rows from one range to
 * another while they read. `first` waits for its lock as any read does; the others take
 * theirs with NOWAIT, as pg_dump's parallel workers do, because a rewrite queued behind
 * `first`'s lock would make them wait for `first`, which cannot finish before they do.
 * When NOWAIT is refused the table is read by `first` alone. Further connections are
 * taken only while the pool has one to spare, so that readers of several datasets
 * never wait on one another for the pool; one the server refuses leaves fewer ranges.
 */
export const splitTable = (options: {
  readonly store: string
  readonly pool: pg.Pool
  readonly context: PgErrorContext
  readonly parallel: ParallelReads
  /** The table as SQL names it (quoted, qualified) and as messages name it. */
  readonly relation: { readonly sql: string; readonly shown: string }
  readonly first: SnapshotReader
  /** Another reader on the same snapshot, with the same settings as `first`. */
  readonly connect: Effect.Effect<SnapshotReader, PostgresError, Scope.Scope>
}): Effect.Effect<ReadonlyArray<TableReader>, PostgresError, Scope.Scope> =>
  Effect.gen(function* () {
    const { context, first, parallel, relation, store } = options
    const alone = [{ ...first, range: [] }]
    if (parallel.connections < 2) return alone
    const size = yield* runQuery<TableSize>(first.client, store, TABLE_SIZE_QUERY, [relation.sql], context)
    const table = size.rows[0]!
    if (
      (table.kind !== "r" && table.kind !== "m") ||
      table.version < TID_RANGE_SCAN_VERSION ||
      table.bytes < parallel.minBytes
    ) {
      return alone
    }
    yield* runQuery(first.client, store, `LOCK TABLE ${relation.sql} IN ACCESS SHARE MODE`, [], context)
    const others: Array<SnapshotReader> = []
    while (others.length < parallel.connections - 1 && poolHasRoom(options.pool)) {
      // A connection the server refuses (max_connections reached, say) only means fewer ranges.
      const opened = yield* Effect.option(options.connect)
      if (Option.isNone(opened)) {
        yield* Effect.logDebug(`${relation.shown} is read on ${others.length + 1} connections: no more could open`)
        break
      }
      const reader = opened.value
      others.push(reader)
      const locked = yield* Effect.tryPromise({
        try: () => reader.client.query(`LOCK TABLE ${relation.sql} IN ACCESS SHARE MODE NOWAIT`),
        catch: (error) => error
      }).pipe(
        Effect.as(true),
        Effect.catchAll((error) =>
          (error as { code?: unknown }).code === LOCK_NOT_AVAILABLE
            ? Effect.succeed(false)
            : Effect.fail(new PostgresError({ store, message: describePgError(error, context) }))
        )
      )
      if (!locked) {
        yield* Effect.logDebug(`${relation.shown} is read on one connection: a rewrite of it waits for a lock`)
        yield* Effect.forEach(others, (other) => other.finish, { discard: true })
        return alone
      }
    }
    const ranges = pageRanges(Math.ceil(table.bytes / table.block_size), others.length + 1)
    return [first, ...others].map((reader, index) => ({ ...reader, range: ranges[index]! }))
  })
