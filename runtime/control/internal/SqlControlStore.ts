/**
 * The control store over any `SqlClient`, in SQL that SQLite (3.35+) and PostgreSQL both
 * run, beside the state store's tables (migration 0002).
 *
 * Every write is one transaction that starts by locking the audit sequence's row (a
 * write, as both databases need: see runtime/state/internal/SqlStore.ts), so control
 * writes are serialized: the checks a write makes (a store in use, a run going, a name
 * taken) hold until it commits, and audit ids follow commit order. A write that would
 * change nothing returns what is stored and writes no audit entry.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import { v7 as uuidv7 } from "uuid"
import { decodeRows, encodeTime, fromSqlError } from "../../state/internal/Rows.js"
import { StateError } from "../../state/StateError.js"
import type {
  AcceptInvitation,
  Actor,
  AuditEntry,
  ControlError,
  ControlStore,
  Invitation,
  Page,
  PageRequest,
  RunRequest,
  Spec,
  SubscriptionStatus,
  Trigger
} from "../ControlStore.js"
import { actorName, ConflictError, NotFoundError, subscriptionKey } from "../ControlStore.js"
import {
  AccountRow,
  AuditAccountRow,
  AuditRow,
  canonicalJson,
  type CursorKey,
  DatasetRow,
  decodeCursor,
  encodeCursor,
  IdRow,
  InvitationRow,
  MappingRow,
  originOf,
  RunRequestRow,
  sameSpec,
  ShareRow,
  StoreRow,
  SubscriptionRow,
  TickRow,
  toAccount,
  toAuditEntry,
  toDataset,
  toInvitation,
  toMapping,
  toRunRequest,
  toShare,
  toStore,
  toSubscription,
  TokenRow,
  toToken
} from "./Rows.js"

type Service = Context.Tag.Service<ControlStore>

/** An audit entry as a write records it; the transaction gives its id, time and actor. */
interface Audit {
  readonly accounts: ReadonlyArray<string | undefined>
  readonly action: string
  readonly resource: string
  readonly detail?: Spec
}

/** What a write's body may use: the time it runs at and the audit log. */
interface Tx {
  readonly at: Date
  readonly audit: (entry: Audit) => Effect.Effect<void, SqlError | StateError>
}

/** As in the state store: the store's operations never run on another client's transaction. */
const own =
  <Args extends ReadonlyArray<unknown>, A, E>(operation: (...args: Args) => Effect.Effect<A, E>) =>
  (...args: Args): Effect.Effect<A, E> =>
    Effect.mapInputContext(operation(...args), Context.omit(SqlClient.TransactionConnection))

const isSqlError = (error: unknown): error is SqlError =>
  typeof error === "object" && error !== null && (error as { _tag?: unknown })._tag === "SqlError"

const time = (date: Date | undefined): string | null => (date === undefined ? null : encodeTime(date))

const notFound = (resource: string, what: string) => new NotFoundError({ resource, message: `There is no ${what}` })

const conflict = (resource: string, message: string) => new ConflictError({ resource, message })

const storeOf = (spec: Spec, key: "source" | "store"): string | null => {
  const holder = key === "source" ? spec["source"] : spec
  const store = typeof holder === "object" && holder !== null ? (holder as Record<string, unknown>)["store"] : undefined
  return typeof store === "string" ? store : null
}

const MAX_LIMIT = 1000

/** A token's last use is recorded to the minute. */
const LAST_USE_RESOLUTION = 60_000

export const make: Effect.Effect<Service, never, SqlClient.SqlClient> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const now = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis))

  const rows = <A, I>(schema: Schema.Schema<A, I>, doing: string) => Effect.flatMap(decodeRows(schema, doing))

  const first = <A, I>(schema: Schema.Schema<A, I>, doing: string) =>
    Effect.flatMap((found: ReadonlyArray<unknown>) =>
      Effect.map(decodeRows(schema, doing)(found), (decoded) => Option.fromNullable(decoded[0]))
    )

  const toControlError =
    (doing: string) =>
    (error: ControlError | SqlError): ControlError =>
      isSqlError(error) ? fromSqlError(doing)(error) : error

  const read = <A>(doing: string, effect: Effect.Effect<A, ControlError | SqlError>): Effect.Effect<A, ControlError> =>
    Effect.mapError(effect, toControlError(doing))

  const appendAudit = (actor: Actor, at: Date, entry: Audit, doing: string) =>
    Effect.gen(function* () {
      const [next] = yield* sql`UPDATE control_sequence SET last_id = last_id + 1 WHERE name = 'audit'
        RETURNING last_id`.pipe(rows(IdRow, doing))
      const id = next!.last_id
      yield* sql`INSERT INTO audit_log (id, at, actor, action, resource, detail)
        VALUES (${id}, ${encodeTime(at)}, ${actorName(actor)}, ${entry.action}, ${entry.resource},
          ${entry.detail === undefined ? null : canonicalJson(entry.detail)})`
      const accounts = new Set(entry.accounts.filter((account) => account !== undefined))
      if (actor.kind === "account") accounts.add(actor.account)
      for (const account of accounts) {
        yield* sql`INSERT INTO audit_accounts (audit_id, account) VALUES (${id}, ${account})`
      }
    })

  /** One write: a transaction that locks the sequence first, with the audit log at hand. */
  const write = <A>(
    doing: string,
    actor: Actor,
    body: (tx: Tx) => Effect.Effect<A, ControlError | SqlError>,
    at?: Date
  ): Effect.Effect<A, ControlError> =>
    sql
      .withTransaction(
        Effect.gen(function* () {
          yield* sql`UPDATE control_sequence SET last_id = last_id WHERE name = 'audit'`
          const when = at ?? (yield* now)
          return yield* body({ at: when, audit: (entry) => appendAudit(actor, when, entry, doing) })
        })
      )
      .pipe(Effect.mapError(toControlError(doing)))

  /** Keyset paging: one row more than asked tells whether there is a next page. */
  const paged = <R, A>(
    found: ReadonlyArray<R>,
    limit: number,
    toItem: (row: R) => A,
    keyOf: (row: R) => CursorKey
  ): Page<A> => {
    const items = found.slice(0, limit)
    const last = items[items.length - 1]
    return {
      items: items.map(toItem),
      ...(found.length > limit && last !== undefined ? { next: encodeCursor(keyOf(last)) } : {})
    }
  }

  const checkLimit = (page: PageRequest, doing: string): Effect.Effect<number, ControlError> =>
    Number.isSafeInteger(page.limit) && page.limit >= 1
      ? Effect.succeed(Math.min(page.limit, MAX_LIMIT))
      : Effect.fail(new StateError({ message: `Cannot ${doing}: the limit must be a positive integer` }))

  const cursor = (page: PageRequest, kinds: ReadonlyArray<"string" | "number">, list: string) =>
    page.after === undefined
      ? Effect.succeed(Option.none<CursorKey>())
      : Effect.asSome(decodeCursor(page.after, kinds, list))

  // ---- finders, used inside and outside transactions ----

  const findAccount = (name: string, doing: string) =>
    sql`SELECT name, email, description, origin, created_at FROM accounts WHERE name = ${name}`.pipe(
      first(AccountRow, doing)
    )

  const requireAccount = (name: string, doing: string) =>
    Effect.flatMap(findAccount(name, doing), (found) =>
      Option.isSome(found) ? Effect.succeed(found.value) : Effect.fail(notFound(`account:${name}`, `account ${name}`))
    )

  const selectStores = sql`SELECT account, name, type, settings, origin, created_at, updated_at FROM stores`

  const findStore = (account: string, name: string, doing: string) =>
    sql`${selectStores} WHERE account = ${account} AND name = ${name}`.pipe(first(StoreRow, doing))

  const requireStore = (account: string, name: string, doing: string) =>
    Effect.flatMap(findStore(account, name, doing), (found) =>
      Option.isSome(found)
        ? Effect.succeed(found.value)
        : Effect.fail(notFound(`store:${account}/${name}`, `store ${name} in account ${account}`))
    )

  const selectShares = sql`SELECT account, name, description, terms, kind, schedule, origin, created_at, updated_at,
      (SELECT COUNT(*) FROM datasets d WHERE d.account = shares.account AND d.share = shares.name) AS dataset_count
    FROM shares`

  const findShare = (account: string, name: string, doing: string) =>
    sql`${selectShares} WHERE account = ${account} AND name = ${name}`.pipe(first(ShareRow, doing))

  const requireShare = (account: string, name: string, doing: string) =>
    Effect.flatMap(findShare(account, name, doing), (found) =>
      Option.isSome(found)
        ? Effect.succeed(found.value)
        : Effect.fail(notFound(`share:${account}/${name}`, `share ${name} in account ${account}`))
    )

  const selectDatasets = sql`SELECT account, share, name, position, spec, origin, created_at, updated_at FROM datasets`

  const findDataset = (account: string, share: string, name: string, doing: string) =>
    sql`${selectDatasets} WHERE account = ${account} AND share = ${share} AND name = ${name}`.pipe(
      first(DatasetRow, doing)
    )

  const selectInvitations = sql`SELECT id, account, share, recipient, status, expires_at, origin, created_at,
      sent_at, responded_at, responded_by, subscription FROM invitations`

  const findInvitation = (id: string, doing: string) =>
    sql`${selectInvitations} WHERE id = ${id}`.pipe(first(InvitationRow, doing))

  const requireInvitation = (id: string, doing: string) =>
    Effect.flatMap(findInvitation(id, doing), (found) =>
      Option.isSome(found) ? Effect.succeed(found.value) : Effect.fail(notFound(`invitation:${id}`, `invitation ${id}`))
    )

  const selectSubscriptions = sql`SELECT account, name, provider, share, status, trigger_kind, origin, created_at,
      revoked_at, invitation_id FROM subscriptions`

  const findSubscription = (account: string, name: string, doing: string) =>
    sql`${selectSubscriptions} WHERE account = ${account} AND name = ${name}`.pipe(first(SubscriptionRow, doing))

  const requireSubscription = (account: string, name: string, doing: string) =>
    Effect.flatMap(findSubscription(account, name, doing), (found) =>
      Option.isSome(found)
        ? Effect.succeed(found.value)
        : Effect.fail(notFound(`subscription:${account}/${name}`, `subscription ${name} in account ${account}`))
    )

  const selectMappings = sql`SELECT account, subscription, dataset, spec, origin, updated_at FROM mappings`

  const findMapping = (account: string, subscription: string, dataset: string, doing: string) =>
    sql`${selectMappings} WHERE account = ${account} AND subscription = ${subscription} AND dataset = ${dataset}`.pipe(
      first(MappingRow, doing)
    )

  /** The origin a write leaves: a config's write adopts the resource, an API write keeps what was there. */
  const originAfter = (actor: Actor, existing: { readonly origin: "config" | "api" } | undefined) =>
    actor.kind === "config" ? "config" : (existing?.origin ?? "api")

  // ---- accounts and tokens ----

  const putAccount: Service["putAccount"] = (actor, account) => {
    const doing = `put account ${account.name}`
    return write(doing, actor, (tx) =>
      Effect.gen(function* () {
        const existing = Option.getOrUndefined(yield* findAccount(account.name, doing))
        const origin = originAfter(actor, existing)
        const email = account.email ?? null
        const description = account.description ?? null
        if (existing === undefined) {
          yield* sql`INSERT INTO accounts (name, email, description, origin, created_at)
            VALUES (${account.name}, ${email}, ${description}, ${origin}, ${encodeTime(tx.at)})`
          yield* tx.audit({ accounts: [account.name], action: "account.create", resource: `account:${account.name}` })
          return toAccount({ name: account.name, email, description, origin, created_at: tx.at })
        }
        if (existing.email === email && existing.description === description && existing.origin === origin) {
          return toAccount(existing)
        }
        yield* sql`UPDATE accounts SET email = ${email}, description = ${description}, origin = ${origin}
          WHERE name = ${account.name}`
        yield* tx.audit({ accounts: [account.name], action: "account.update", resource: `account:${account.name}` })
        return toAccount({ ...existing, email, description, origin })
      })
    )
  }

  const getAccount: Service["getAccount"] = (name) => {
    const doing = `read account ${name}`
    return read(doing, Effect.map(findAccount(name, doing), Option.map(toAccount)))
  }

  const listAccounts: Service["listAccounts"] = (page) => {
    const doing = "list accounts"
    return read(
      doing,
      Effect.gen(function* () {
        const limit = yield* checkLimit(page, doing)
        const after = yield* cursor(page, ["string"], "accounts")
        const conditions = Option.match(after, { onNone: () => [], onSome: ([name]) => [sql`name > ${name!}`] })
        const found = yield* sql`SELECT name, email, description, origin, created_at FROM accounts
          WHERE ${sql.and(conditions)} ORDER BY name LIMIT ${limit + 1}`.pipe(rows(AccountRow, doing))
        return paged(found, limit, toAccount, (row) => [row.name])
      })
    )
  }

  const deleteAccount: Service["deleteAccount"] = (actor, name) => {
    const doing = `delete account ${name}`
    return write(doing, actor, (tx) =>
      Effect.gen(function* () {
        yield* requireAccount(name, doing)
        const subscribed = yield* sql<{ account: string; name: string; share: string }>`SELECT account, name, share
          FROM subscriptions WHERE provider = ${name} AND account <> ${name} AND status = 'Active'
          ORDER BY account, name LIMIT 1`
        const other = subscribed[0]
        if (other !== undefined) {
          return yield* conflict(
            `account:${name}`,
            `Account ${name} cannot be deleted while account ${other.account} subscribes to its share ${other.share}; revoke the subscription first`
          )
        }
        yield* sql`DELETE FROM accounts WHERE name = ${name}`
        yield* tx.audit({ accounts: [name], action: "account.delete", resource: `account:${name}` })
      })
    )
  }

  const createToken: Service["createToken"] = (actor, token) => {
    const doing = token.account === undefined ? "create an operator token" : `create a token for ${token.account}`
    return write(doing, actor, (tx) =>
      Effect.gen(function* () {
        if (token.account !== undefined) yield* requireAccount(token.account, doing)
        const id = uuidv7()
        yield* sql`INSERT INTO tokens (id, account, description, secret_hash, created_at)
          VALUES (${id}, ${token.account ?? null}, ${token.description ?? null}, ${token.secretHash}, ${encodeTime(tx.at)})`
        yield* tx.audit({
          accounts: [token.account],
          action: "token.create",
          resource: `token:${id}`,
          ...(token.description === undefined ? {} : { detail: { description: token.description } })
        })
        return toToken({
          id,
          account: token.account ?? null,
          description: token.description ?? null,
          created_at: tx.at,
          last_used_at: null
        })
      })
    )
  }

  const authenticate: Service["authenticate"] = (secretHash, at) => {
    const doing = "authenticate a token"
    return read(
      doing,
      Effect.gen(function* () {
        const found = yield* sql`SELECT id, account, description, created_at, last_used_at FROM tokens
          WHERE secret_hash = ${secretHash}`.pipe(first(TokenRow, doing), Effect.map(Option.map(toToken)))
        if (Option.isNone(found)) return found
        const token = found.value
        // Every request is authenticated; a durable write for each would cost more than the request.
        if (token.lastUsedAt !== undefined && at.getTime() - token.lastUsedAt.getTime() < LAST_USE_RESOLUTION) {
          return found
        }
        yield* sql`UPDATE tokens SET last_used_at = ${encodeTime(at)} WHERE id = ${token.id}`
        return Option.some({ ...token, lastUsedAt: at })
      })
    )
  }

  const revokeToken: Service["revokeToken"] = (actor, id) => {
    const doing = `revoke token ${id}`
    return write(doing, actor, (tx) =>
      Effect.gen(function* () {
        const deleted = yield* sql<{ account: string | null }>`DELETE FROM tokens WHERE id = ${id} RETURNING account`
        const token = deleted[0]
        if (token === undefined) return yield* notFound(`token:${id}`, `token ${id}`)
        yield* tx.audit({ accounts: [token.account ?? undefined], action: "token.revoke", resource: `token:${id}` })
      })
    )
  }

  const listTokens: Service["listTokens"] = (query, page) => {
    const doing = query.account === undefined ? "list tokens" : `list the tokens of ${query.account}`
    return read(
      doing,
      Effect.gen(function* () {
        const limit = yield* checkLimit(page, doing)
        const after = yield* cursor(page, ["string"], "tokens")
        const conditions = [
          ...(query.account === undefined ? [] : [sql`account = ${query.account}`]),
          ...Option.match(after, { onNone: () => [], onSome: ([id]) => [sql`id > ${id!}`] })
        ]
        const found = yield* sql`SELECT id, account, description, created_at, last_used_at FROM tokens
          WHERE ${sql.and(conditions)} ORDER BY id LIMIT ${limit + 1}`.pipe(rows(TokenRow, doing))
        return paged(found, limit, toToken, (row) => [row.id])
      })
    )
  }

  // ---- stores ----

  const putStore: Service["putStore"] = (actor, store) => {
    const doing = `put store ${store.name} of ${store.account}`
    const resource = `store:${store.account}/${store.name}`
    return write(doing, actor, (tx) =>
      Effect.gen(function* () {
        yield* requireAccount(store.account, doing)
        const existing = Option.getOrUndefined(yield* findStore(store.account, store.name, doing))
        const origin = originAfter(actor, existing)
        const settings = canonicalJson(store.settings)
        if (existing === undefined) {
          yield* sql`INSERT INTO stores (account, name, type, settings, origin, created_at, updated_at)
            VALUES (${store.account}, ${store.name}, ${store.type}, ${settings}, ${origin},
              ${encodeTime(tx.at)}, ${encodeTime(tx.at)})`
          // Settings may hold secrets: the audit log says which store and its type only.
          yield* tx.audit({ accounts: [store.account], action: "store.create", resource, detail: { type: store.type } })
          return toStore({ ...store, origin, created_at: tx.at, updated_at: tx.at })
        }
        if (existing.type === store.type && sameSpec(existing.settings, store.settings) && existing.origin === origin) {
          return toStore(existing)
        }
        yield* sql`UPDATE stores SET type = ${store.type}, settings = ${settings}, origin = ${origin},
            updated_at = ${encodeTime(tx.at)}
          WHERE account = ${store.account} AND name = ${store.name}`
        yield* tx.audit({ accounts: [store.account], action: "store.update", resource, detail: { type: store.type } })
        return toStore({ ...existing, type: store.type, settings: store.settings, origin, updated_at: tx.at })
      })
    )
  }

  const getStore: Service["getStore"] = (account, name) => {
    const doing = `read store ${name} of ${account}`
    return read(doing, Effect.map(findStore(account, name, doing), Option.map(toStore)))
  }

  const listStores: Service["listStores"] = (account, page) => {
    const doing = `list the stores of ${account}`
    return read(
      doing,
      Effect.gen(function* () {
        const limit = yield* checkLimit(page, doing)
        const after = yield* cursor(page, ["string"], "stores")
        const conditions = [
          sql`account = ${account}`,
          ...Option.match(after, { onNone: () => [], onSome: ([name]) => [sql`name > ${name!}`] })
        ]
        const found = yield* sql`${selectStores} WHERE ${sql.and(conditions)} ORDER BY name LIMIT ${limit + 1}`.pipe(
          rows(StoreRow, doing)
        )
        return paged(found, limit, toStore, (row) => [row.name])
      })
    )
  }

  const deleteStore: Service["deleteStore"] = (actor, account, name) => {
    const doing = `delete store ${name} of ${account}`
    const resource = `store:${account}/${name}`
    return write(doing, actor, (tx) =>
      Effect.gen(function* () {
        yield* requireStore(account, name, doing)
        const datasets = yield* sql<{ share: string; name: string }>`SELECT share, name FROM datasets
          WHERE account = ${account} AND store = ${name} ORDER BY share, name LIMIT 1`
        if (datasets[0] !== undefined) {
          return yield* conflict(
            resource,
            `Store ${name} is the source of dataset ${datasets[0].name} of share ${datasets[0].share}; remove the dataset first`
          )
        }
        const mappings = yield* sql<{ subscription: string; dataset: string }>`SELECT subscription, dataset
          FROM mappings WHERE account = ${account} AND store = ${name} ORDER BY subscription, dataset LIMIT 1`
        if (mappings[0] !== undefined) {
          return yield* conflict(
            resource,
            `Store ${name} receives dataset ${mappings[0].dataset} of subscription ${mappings[0].subscription}; remove the mapping first`
          )
        }
        yield* sql`DELETE FROM stores WHERE account = ${account} AND name = ${name}`
        yield* tx.audit({ accounts: [account], action: "store.delete", resource })
      })
    )
  }

  // ---- shares and datasets ----

  const putShare: Service["putShare"] = (actor, share) => {
    const doing = `put share ${share.name} of ${share.account}`
    const resource = `share:${share.account}/${share.name}`
    return write(doing, actor, (tx) =>
      Effect.gen(function* () {
        yield* requireAccount(share.account, doing)
        const existing = Option.getOrUndefined(yield* findShare(share.account, share.name, doing))
        const origin = originAfter(actor, existing)
        const description = share.description ?? null
        const terms = share.terms ?? null
        const schedule = share.schedule === undefined ? null : canonicalJson(share.schedule)
        const detail = { kind: share.kind, ...(share.schedule === undefined ? {} : { schedule: share.schedule }) }
        if (existing === undefined) {
          yield* sql`INSERT INTO shares (account, name, description, terms, kind, schedule, origin, created_at, updated_at)
            VALUES (${share.account}, ${share.name}, ${description}, ${terms}, ${share.kind}, ${schedule}, ${origin},
              ${encodeTime(tx.at)}, ${encodeTime(tx.at)})`
          yield* tx.audit({ accounts: [share.account], action: "share.create", resource, detail })
          return toShare({
            account: share.account,
            name: share.name,
            description,
            terms,
            kind: share.kind,
            schedule: share.schedule ?? null,
            dataset_count: 0,
            origin,
            created_at: tx.at,
            updated_at: tx.at
          })
        }
        if (
          existing.description === description &&
          existing.terms === terms &&
          existing.kind === share.kind &&
          sameSpec(existing.schedule ?? undefined, share.schedule) &&
          existing.origin === origin
        ) {
          return toShare(existing)
        }
        yield* sql`UPDATE shares SET description = ${description}, terms = ${terms}, kind = ${share.kind},
            schedule = ${schedule}, origin = ${origin}, updated_at = ${encodeTime(tx.at)}
          WHERE account = ${share.account} AND name = ${share.name}`
        yield* tx.audit({ accounts: [share.account], action: "share.update", resource, detail })
        return toShare({
          ...existing,
          description,
          terms,
          kind: share.kind,
          schedule: share.schedule ?? null,
          origin,
          updated_at: tx.at
        })
      })
    )
  }

  const getShare: Service["getShare"] = (account, name) => {
    const doing = `read share ${name} of ${account}`
    return read(doing, Effect.map(findShare(account, name, doing), Option.map(toShare)))
  }

  const listShares: Service["listShares"] = (account, page) => {
    const doing = `list the shares of ${account}`
    return read(
      doing,
      Effect.gen(function* () {
        const limit = yield* checkLimit(page, doing)
        const after = yield* cursor(page, ["string"], "shares")
        const conditions = [
          sql`account = ${account}`,
          ...Option.match(after, { onNone: () => [], onSome: ([name]) => [sql`name > ${name!}`] })
        ]
        const found = yield* sql`${selectShares} WHERE ${sql.and(conditions)} ORDER BY name LIMIT ${limit + 1}`.pipe(
          rows(ShareRow, doing)
        )
        return paged(found, limit, toShare, (row) => [row.name])
      })
    )
  }

  const deleteShare: Service["deleteShare"] = (actor, account, name) => {
    const doing = `delete share ${name} of ${account}`
    return write(doing, actor, (tx) =>
      Effect.gen(function* () {
        yield* requireShare(account, name, doing)
        const revoked = yield* sql<{ account: string; name: string }>`UPDATE subscriptions
          SET status = 'Revoked', revoked_at = ${encodeTime(tx.at)}
          WHERE provider = ${account} AND share = ${name} AND status = 'Active'
          RETURNING account, name`
        yield* sql`DELETE FROM run_requests WHERE EXISTS (SELECT 1 FROM subscriptions s
          WHERE s.account = run_requests.account AND s.name = run_requests.subscription
            AND s.provider = ${account} AND s.share = ${name})`
        yield* sql`DELETE FROM shares WHERE account = ${account} AND name = ${name}`
        const keys = revoked.map((subscription) => subscriptionKey(subscription)).sort()
        yield* tx.audit({
          accounts: [account, ...revoked.map((subscription) => subscription.account)],
          action: "share.delete",
          resource: `share:${account}/${name}`,
          ...(keys.length === 0 ? {} : { detail: { revoked_subscriptions: keys } })
        })
      })
    )
  }

  const putDataset: Service["putDataset"] = (actor, dataset) => {
    const doing = `put dataset ${dataset.name} of share ${dataset.account}/${dataset.share}`
    const resource = `dataset:${dataset.account}/${dataset.share}/${dataset.name}`
    return write(doing, actor, (tx) =>
      Effect.gen(function* () {
        if (dataset.position !== undefined && !Number.isSafeInteger(dataset.position)) {
          return yield* new StateError({ message: `Cannot ${doing}: the position must be an integer` })
        }
        yield* requireShare(dataset.account, dataset.share, doing)
        const store = storeOf(dataset.spec, "source")
        if (store !== null) yield* requireStore(dataset.account, store, doing)
        const existing = Option.getOrUndefined(yield* findDataset(dataset.account, dataset.share, dataset.name, doing))
        const origin = originAfter(actor, existing)
        const spec = canonicalJson(dataset.spec)
        if (existing === undefined) {
          const [last] = yield* sql<{ last: number | string | null }>`SELECT MAX(position) AS last FROM datasets
            WHERE account = ${dataset.account} AND share = ${dataset.share}`
          const position = dataset.position ?? (last?.last === null || last === undefined ? 0 : Number(last.last) + 1)
          yield* sql`INSERT INTO datasets (account, share, name, position, store, spec, origin, created_at, updated_at)
            VALUES (${dataset.account}, ${dataset.share}, ${dataset.name}, ${position}, ${store}, ${spec}, ${origin},
              ${encodeTime(tx.at)}, ${encodeTime(tx.at)})`
          yield* tx.audit({ accounts: [dataset.account], action: "dataset.create", resource })
          return toDataset({ ...dataset, position, origin, created_at: tx.at, updated_at: tx.at })
        }
        const position = dataset.position ?? existing.position
        if (sameSpec(existing.spec, dataset.spec) && existing.position === position && existing.origin === origin) {
          return toDataset(existing)
        }
        yield* sql`UPDATE datasets SET position = ${position}, store = ${store}, spec = ${spec}, origin = ${origin},
            updated_at = ${encodeTime(tx.at)}
          WHERE account = ${dataset.account} AND share = ${dataset.share} AND name = ${dataset.name}`
        yield* tx.audit({ accounts: [dataset.account], action: "dataset.update", resource })
        return toDataset({ ...existing, spec: dataset.spec, position, origin, updated_at: tx.at })
      })
    )
  }

  const getDataset: Service["getDataset"] = (account, share, name) => {
    const doing = `read dataset ${name} of share ${account}/${share}`
    return read(doing, Effect.map(findDataset(account, share, name, doing), Option.map(toDataset)))
  }

  const listDatasets: Service["listDatasets"] = (account, share, page) => {
    const doing = `list the datasets of share ${account}/${share}`
    return read(
      doing,
      Effect.gen(function* () {
        const limit = yield* checkLimit(page, doing)
        const after = yield* cursor(page, ["number", "string"], "datasets")
        const conditions = [
          sql`account = ${account}`,
          sql`share = ${share}`,
          ...Option.match(after, {
            onNone: () => [],
            onSome: ([position, name]) => [sql`(position, name) > (${position!}, ${name!})`]
          })
        ]
        const found = yield* sql`${selectDatasets} WHERE ${sql.and(conditions)}
          ORDER BY position, name LIMIT ${limit + 1}`.pipe(rows(DatasetRow, doing))
        return paged(found, limit, toDataset, (row) => [row.position, row.name])
      })
    )
  }

  const deleteDataset: Service["deleteDataset"] = (actor, account, share, name) => {
    const doing = `delete dataset ${name} of share ${account}/${share}`
    const resource = `dataset:${account}/${share}/${name}`
    return write(doing, actor, (tx) =>
      Effect.gen(function* () {
        const deleted = yield* sql`DELETE FROM datasets
          WHERE account = ${account} AND share = ${share} AND name = ${name} RETURNING name`
        if (deleted.length === 0) return yield* notFound(resource, `dataset ${name} in share ${account}/${share}`)
        yield* tx.audit({ accounts: [account], action: "dataset.delete", resource })
      })
    )
  }

  // ---- invitations ----

  /** The account an invitation is addressed to by name, when it is one: it sees the invitation's audit entries. */
  const addressee = (invitation: { readonly recipient: string }) =>
    invitation.recipient.includes("@") ? undefined : invitation.recipient

  const createInvitation: Service["createInvitation"] = (actor, invitation) => {
    const doing = `invite ${invitation.to} to share ${invitation.account}/${invitation.share}`
    return write(
      doing,
      actor,
      (tx) =>
        Effect.gen(function* () {
          yield* requireShare(invitation.account, invitation.share, doing)
          const pending = yield* sql<{ id: string }>`SELECT id FROM invitations
            WHERE account = ${invitation.account} AND share = ${invitation.share} AND recipient = ${invitation.to}
              AND status = 'Pending' AND (expires_at IS NULL OR expires_at > ${encodeTime(invitation.at)})`
          if (pending[0] !== undefined) {
            return yield* conflict(
              `invitation:${pending[0].id}`,
              `${invitation.to} already has a pending invitation to share ${invitation.account}/${invitation.share}; resend it instead`
            )
          }
          const id = uuidv7()
          const origin = originOf(actor)
          yield* sql`INSERT INTO invitations (id, account, share, recipient, status, token_hash, expires_at, origin, created_at)
            VALUES (${id}, ${invitation.account}, ${invitation.share}, ${invitation.to}, 'Pending', ${invitation.secretHash},
              ${time(invitation.expiresAt)}, ${origin}, ${encodeTime(invitation.at)})`
          const row = {
            id,
            account: invitation.account,
            share: invitation.share,
            recipient: invitation.to,
            status: "Pending" as const,
            expires_at: invitation.expiresAt ?? null,
            origin,
            created_at: invitation.at,
            sent_at: null,
            responded_at: null,
            responded_by: null,
            subscription: null
          }
          yield* tx.audit({
            accounts: [invitation.account, addressee(row)],
            action: "invitation.create",
            resource: `invitation:${id}`,
            detail: {
              share: invitation.share,
              to: invitation.to,
              ...(invitation.expiresAt === undefined ? {} : { expires_at: invitation.expiresAt.toISOString() })
            }
          })
          return toInvitation(row, invitation.at)
        }),
      invitation.at
    )
  }

  const getInvitation: Service["getInvitation"] = (id, at) => {
    const doing = `read invitation ${id}`
    return read(
      doing,
      Effect.map(
        findInvitation(id, doing),
        Option.map((row) => toInvitation(row, at))
      )
    )
  }

  const invitationByToken: Service["invitationByToken"] = (secretHash, at, options) => {
    const doing = "find an invitation by its token"
    const query =
      options?.spent === true
        ? sql`${selectInvitations} WHERE token_hash = ${secretHash}`
        : sql`${selectInvitations} WHERE token_hash = ${secretHash} AND token_spent_at IS NULL`
    return read(doing, query.pipe(first(InvitationRow, doing), Effect.map(Option.map((row) => toInvitation(row, at)))))
  }

  const invitationPage = (
    doing: string,
    page: PageRequest,
    at: Date,
    where: ReadonlyArray<ReturnType<typeof sql.and>>
  ): Effect.Effect<Page<Invitation>, ControlError> =>
    read(
      doing,
      Effect.gen(function* () {
        const limit = yield* checkLimit(page, doing)
        const after = yield* cursor(page, ["string", "string"], "invitations")
        const conditions = [
          ...where,
          ...Option.match(after, {
            onNone: () => [],
            onSome: ([created, id]) => [sql`(created_at, id) > (${created!}, ${id!})`]
          })
        ]
        const found = yield* sql`${selectInvitations} WHERE ${sql.and(conditions)}
          ORDER BY created_at, id LIMIT ${limit + 1}`.pipe(rows(InvitationRow, doing))
        return paged(
          found,
          limit,
          (row) => toInvitation(row, at),
          (row) => [encodeTime(row.created_at), row.id]
        )
      })
    )

  const listInvitations: Service["listInvitations"] = (query, page) =>
    invitationPage(`list the invitations of ${query.account}`, page, query.now, [
      sql`account = ${query.account}`,
      ...(query.share === undefined ? [] : [sql`share = ${query.share}`])
    ])

  const listReceivedInvitations: Service["listReceivedInvitations"] = (query, page) =>
    invitationPage(`list the invitations received by ${query.account}`, page, query.now, [
      sql`(recipient = ${query.account} OR lower(recipient) =
        (SELECT lower(email) FROM accounts WHERE name = ${query.account}))`
    ])

  /** An invitation that can still be answered: pending and not expired at `at`. */
  const requirePending = (row: typeof InvitationRow.Type, at: Date, doing: string) => {
    const invitation = toInvitation(row, at)
    return invitation.status === "Pending"
      ? Effect.succeed(invitation)
      : Effect.fail(
          conflict(`invitation:${row.id}`, `Cannot ${doing}: the invitation is ${invitation.status.toLowerCase()}`)
        )
  }

  const renewInvitation: Service["renewInvitation"] = (actor, id, renewal) => {
    const doing = `renew invitation ${id}`
    return write(doing, actor, (tx) =>
      Effect.gen(function* () {
        const row = yield* requireInvitation(id, doing)
        yield* requirePending(row, tx.at, doing)
        const sentAt = renewal.sentAt ?? row.sent_at ?? undefined
        yield* sql`UPDATE invitations SET token_hash = ${renewal.secretHash}, token_spent_at = NULL,
          sent_at = ${time(sentAt)} WHERE id = ${id}`
        yield* tx.audit({
          accounts: [row.account, addressee(row)],
          action: "invitation.renew",
          resource: `invitation:${id}`
        })
        return toInvitation({ ...row, sent_at: sentAt ?? null }, tx.at)
      })
    )
  }

  const markInvitationSent: Service["markInvitationSent"] = (id, at) => {
    const doing = `mark invitation ${id} sent`
    return write(
      doing,
      { kind: "service" },
      (tx) =>
        Effect.gen(function* () {
          const row = yield* requireInvitation(id, doing)
          yield* sql`UPDATE invitations SET sent_at = ${encodeTime(at)} WHERE id = ${id}`
          yield* tx.audit({
            accounts: [row.account, addressee(row)],
            action: "invitation.send",
            resource: `invitation:${id}`
          })
        }),
      at
    )
  }

  /** Answers a pending invitation: its token is spent whatever the answer. */
  const answer = (
    actor: Actor,
    id: string,
    at: Date,
    status: "Withdrawn" | "Rejected",
    by: string | undefined,
    action: string
  ) => {
    const doing = `${status === "Withdrawn" ? "withdraw" : "reject"} invitation ${id}`
    return write(
      doing,
      actor,
      (tx) =>
        Effect.gen(function* () {
          const row = yield* requireInvitation(id, doing)
          // A provider may withdraw an invitation that expired; an expired one can no longer be answered.
          if (status === "Withdrawn" ? row.status !== "Pending" : true) yield* requirePending(row, at, doing)
          yield* sql`UPDATE invitations SET status = ${status}, responded_at = ${encodeTime(at)},
            responded_by = ${by ?? null}, token_spent_at = ${encodeTime(at)} WHERE id = ${id}`
          yield* tx.audit({ accounts: [row.account, addressee(row), by], action, resource: `invitation:${id}` })
          return toInvitation({ ...row, status, responded_at: at, responded_by: by ?? null }, at)
        }),
      at
    )
  }

  const withdrawInvitation: Service["withdrawInvitation"] = (actor, id, at) =>
    answer(actor, id, at, "Withdrawn", undefined, "invitation.withdraw")

  const rejectInvitation: Service["rejectInvitation"] = (actor, id, account, at) =>
    answer(actor, id, at, "Rejected", account, "invitation.reject")

  const acceptInvitation: Service["acceptInvitation"] = (actor, accept: AcceptInvitation) => {
    const doing = `accept invitation ${accept.invitationId}`
    return write(
      doing,
      actor,
      (tx) =>
        Effect.gen(function* () {
          const row = yield* requireInvitation(accept.invitationId, doing)
          yield* requirePending(row, accept.at, doing)
          yield* requireAccount(accept.account, doing)
          const taken = yield* findSubscription(accept.account, accept.subscription, doing)
          if (Option.isSome(taken)) {
            return yield* conflict(
              `subscription:${accept.account}/${accept.subscription}`,
              `Account ${accept.account} already has a subscription named ${accept.subscription}`
            )
          }
          const at = encodeTime(accept.at)
          yield* sql`UPDATE invitations SET status = 'Accepted', responded_at = ${at}, responded_by = ${accept.account},
            subscription = ${accept.subscription}, token_spent_at = ${at} WHERE id = ${row.id}`
          const origin = originOf(actor)
          yield* sql`INSERT INTO subscriptions (account, name, provider, share, status, trigger_kind, origin, created_at,
              invitation_id)
            VALUES (${accept.account}, ${accept.subscription}, ${row.account}, ${row.share}, 'Active', ${accept.trigger},
              ${origin}, ${at}, ${row.id})`
          const key = `${accept.account}/${accept.subscription}`
          yield* tx.audit({
            accounts: [row.account, accept.account],
            action: "invitation.accept",
            resource: `invitation:${row.id}`,
            detail: { subscription: key }
          })
          yield* tx.audit({
            accounts: [row.account, accept.account],
            action: "subscription.create",
            resource: `subscription:${key}`,
            detail: { share: `${row.account}/${row.share}`, trigger: accept.trigger, invitation: row.id }
          })
          return {
            invitation: toInvitation(
              {
                ...row,
                status: "Accepted",
                responded_at: accept.at,
                responded_by: accept.account,
                subscription: accept.subscription
              },
              accept.at
            ),
            subscription: toSubscription({
              account: accept.account,
              name: accept.subscription,
              provider: row.account,
              share: row.share,
              status: "Active",
              trigger_kind: accept.trigger,
              origin,
              created_at: accept.at,
              revoked_at: null,
              invitation_id: row.id
            })
          }
        }),
      accept.at
    )
  }

  // ---- subscriptions and mappings ----

  const putSubscription: Service["putSubscription"] = (actor, subscription) => {
    const key = subscriptionKey(subscription)
    const doing = `put subscription ${key}`
    const resource = `subscription:${key}`
    return write(doing, actor, (tx) =>
      Effect.gen(function* () {
        yield* requireAccount(subscription.account, doing)
        yield* requireShare(subscription.provider, subscription.share, doing)
        const existing = Option.getOrUndefined(yield* findSubscription(subscription.account, subscription.name, doing))
        const origin = originAfter(actor, existing)
        const accounts = [subscription.account, subscription.provider]
        const detail = { share: `${subscription.provider}/${subscription.share}`, trigger: subscription.trigger }
        if (existing === undefined) {
          yield* sql`INSERT INTO subscriptions (account, name, provider, share, status, trigger_kind, origin, created_at)
            VALUES (${subscription.account}, ${subscription.name}, ${subscription.provider}, ${subscription.share},
              'Active', ${subscription.trigger}, ${origin}, ${encodeTime(tx.at)})`
          yield* tx.audit({ accounts, action: "subscription.create", resource, detail })
          return toSubscription({
            account: subscription.account,
            name: subscription.name,
            provider: subscription.provider,
            share: subscription.share,
            status: "Active",
            trigger_kind: subscription.trigger,
            origin,
            created_at: tx.at,
            revoked_at: null,
            invitation_id: null
          })
        }
        if (existing.provider !== subscription.provider || existing.share !== subscription.share) {
          return yield* conflict(
            resource,
            `Account ${subscription.account} already has a subscription named ${subscription.name}, to share ${existing.provider}/${existing.share}`
          )
        }
        if (existing.trigger_kind === subscription.trigger && existing.origin === origin)
          return toSubscription(existing)
        yield* sql`UPDATE subscriptions SET trigger_kind = ${subscription.trigger}, origin = ${origin}
          WHERE account = ${subscription.account} AND name = ${subscription.name}`
        yield* tx.audit({ accounts, action: "subscription.update", resource, detail })
        return toSubscription({ ...existing, trigger_kind: subscription.trigger, origin })
      })
    )
  }

  const getSubscription: Service["getSubscription"] = (account, name) => {
    const doing = `read subscription ${account}/${name}`
    return read(doing, Effect.map(findSubscription(account, name, doing), Option.map(toSubscription)))
  }

  const listSubscriptions: Service["listSubscriptions"] = (account, page) => {
    const doing = `list the subscriptions of ${account}`
    return read(
      doing,
      Effect.gen(function* () {
        const limit = yield* checkLimit(page, doing)
        const after = yield* cursor(page, ["string"], "subscriptions")
        const conditions = [
          sql`account = ${account}`,
          ...Option.match(after, { onNone: () => [], onSome: ([name]) => [sql`name > ${name!}`] })
        ]
        const found = yield* sql`${selectSubscriptions} WHERE ${sql.and(conditions)}
          ORDER BY name LIMIT ${limit + 1}`.pipe(rows(SubscriptionRow, doing))
        return paged(found, limit, toSubscription, (row) => [row.name])
      })
    )
  }

  const listShareSubscriptions: Service["listShareSubscriptions"] = (query, page) => {
    const doing = `list the subscriptions to the shares of ${query.provider}`
    return read(
      doing,
      Effect.gen(function* () {
        const limit = yield* checkLimit(page, doing)
        const after = yield* cursor(page, ["string", "string", "string"], "subscriptions")
        const conditions = [
          sql`provider = ${query.provider}`,
          ...(query.share === undefined ? [] : [sql`share = ${query.share}`]),
          ...Option.match(after, {
            onNone: () => [],
            onSome: ([share, account, name]) => [sql`(share, account, name) > (${share!}, ${account!}, ${name!})`]
          })
        ]
        const found = yield* sql`${selectSubscriptions} WHERE ${sql.and(conditions)}
          ORDER BY share, account, name LIMIT ${limit + 1}`.pipe(rows(SubscriptionRow, doing))
        return paged(found, limit, toSubscription, (row) => [row.share, row.account, row.name])
      })
    )
  }

  const scheduledSubscriptions: Service["scheduledSubscriptions"] = (provider, share) => {
    const doing = `list the scheduled subscriptions to share ${provider}/${share}`
    return read(
      doing,
      sql`${selectSubscriptions} WHERE provider = ${provider} AND share = ${share}
          AND status = 'Active' AND trigger_kind = 'schedule' ORDER BY account, name`.pipe(
        rows(SubscriptionRow, doing),
        Effect.map((found) => found.map(toSubscription))
      )
    )
  }

  const setTrigger: Service["setTrigger"] = (actor, account, name, trigger: Trigger) => {
    const doing = `set the trigger of subscription ${account}/${name}`
    return write(doing, actor, (tx) =>
      Effect.gen(function* () {
        const existing = yield* requireSubscription(account, name, doing)
        if (existing.trigger_kind === trigger) return toSubscription(existing)
        yield* sql`UPDATE subscriptions SET trigger_kind = ${trigger} WHERE account = ${account} AND name = ${name}`
        yield* tx.audit({
          accounts: [account, existing.provider],
          action: "subscription.trigger",
          resource: `subscription:${account}/${name}`,
          detail: { trigger }
        })
        return toSubscription({ ...existing, trigger_kind: trigger })
      })
    )
  }

  const setSubscriptionStatus: Service["setSubscriptionStatus"] = (actor, key, status: SubscriptionStatus, at) => {
    const doing = `${status === "Revoked" ? "revoke" : "reinstate"} subscription ${subscriptionKey(key)}`
    return write(
      doing,
      actor,
      (tx) =>
        Effect.gen(function* () {
          const existing = yield* requireSubscription(key.account, key.name, doing)
          if (existing.status === status) return toSubscription(existing)
          const revokedAt = status === "Revoked" ? at : null
          yield* sql`UPDATE subscriptions SET status = ${status}, revoked_at = ${revokedAt === null ? null : encodeTime(revokedAt)}
            WHERE account = ${key.account} AND name = ${key.name}`
          // A revoked subscription's queued run never starts.
          if (status === "Revoked") {
            yield* sql`DELETE FROM run_requests WHERE account = ${key.account} AND subscription = ${key.name}`
          }
          yield* tx.audit({
            accounts: [key.account, existing.provider],
            action: status === "Revoked" ? "subscription.revoke" : "subscription.reinstate",
            resource: `subscription:${subscriptionKey(key)}`
          })
          return toSubscription({ ...existing, status, revoked_at: revokedAt })
        }),
      at
    )
  }

  const deleteSubscription: Service["deleteSubscription"] = (actor, account, name) => {
    const doing = `delete subscription ${account}/${name}`
    return write(doing, actor, (tx) =>
      Effect.gen(function* () {
        const existing = yield* requireSubscription(account, name, doing)
        yield* sql`DELETE FROM subscriptions WHERE account = ${account} AND name = ${name}`
        yield* tx.audit({
          accounts: [account, existing.provider],
          action: "subscription.delete",
          resource: `subscription:${account}/${name}`
        })
      })
    )
  }

  const putMapping: Service["putMapping"] = (actor, mapping) => {
    const doing = `put the mapping of dataset ${mapping.dataset} of subscription ${mapping.account}/${mapping.subscription}`
    const resource = `mapping:${mapping.account}/${mapping.subscription}/${mapping.dataset}`
    return write(doing, actor, (tx) =>
      Effect.gen(function* () {
        yield* requireSubscription(mapping.account, mapping.subscription, doing)
        const store = storeOf(mapping.spec, "store")
        if (store !== null) yield* requireStore(mapping.account, store, doing)
        const existing = Option.getOrUndefined(
          yield* findMapping(mapping.account, mapping.subscription, mapping.dataset, doing)
        )
        const origin = originAfter(actor, existing)
        const spec = canonicalJson(mapping.spec)
        if (existing !== undefined && sameSpec(existing.spec, mapping.spec) && existing.origin === origin) {
          return toMapping(existing)
        }
        yield* sql`INSERT INTO mappings (account, subscription, dataset, store, spec, origin, updated_at)
          VALUES (${mapping.account}, ${mapping.subscription}, ${mapping.dataset}, ${store}, ${spec}, ${origin},
            ${encodeTime(tx.at)})
          ON CONFLICT (account, subscription, dataset) DO UPDATE SET
            store = excluded.store, spec = excluded.spec, origin = excluded.origin, updated_at = excluded.updated_at`
        yield* tx.audit({
          accounts: [mapping.account],
          action: existing === undefined ? "mapping.create" : "mapping.update",
          resource
        })
        return toMapping({ ...mapping, origin, updated_at: tx.at })
      })
    )
  }

  /** In the order of the share's datasets; mappings of datasets the share no longer has come last. */
  const listMappings: Service["listMappings"] = (account, subscription) => {
    const doing = `list the mappings of subscription ${account}/${subscription}`
    return read(
      doing,
      sql`SELECT m.account, m.subscription, m.dataset, m.spec, m.origin, m.updated_at
        FROM mappings m
        JOIN subscriptions s ON s.account = m.account AND s.name = m.subscription
        LEFT JOIN datasets d ON d.account = s.provider AND d.share = s.share AND d.name = m.dataset
        WHERE m.account = ${account} AND m.subscription = ${subscription}
        ORDER BY CASE WHEN d.position IS NULL THEN 1 ELSE 0 END, d.position, m.dataset`.pipe(
        rows(MappingRow, doing),
        Effect.map((found) => found.map(toMapping))
      )
    )
  }

  const deleteMapping: Service["deleteMapping"] = (actor, account, subscription, dataset) => {
    const doing = `delete the mapping of dataset ${dataset} of subscription ${account}/${subscription}`
    const resource = `mapping:${account}/${subscription}/${dataset}`
    return write(doing, actor, (tx) =>
      Effect.gen(function* () {
        const deleted = yield* sql`DELETE FROM mappings
          WHERE account = ${account} AND subscription = ${subscription} AND dataset = ${dataset} RETURNING dataset`
        if (deleted.length === 0) {
          return yield* notFound(resource, `mapping of dataset ${dataset} in subscription ${account}/${subscription}`)
        }
        yield* tx.audit({ accounts: [account], action: "mapping.delete", resource })
      })
    )
  }

  // ---- run requests ----

  const requestRun: Service["requestRun"] = (actor, request: RunRequest) => {
    const key = subscriptionKey({ account: request.account, name: request.subscription })
    const doing = `queue a run of subscription ${key}`
    const resource = `subscription:${key}`
    return write(
      doing,
      actor,
      (tx) =>
        Effect.gen(function* () {
          const subscription = yield* requireSubscription(request.account, request.subscription, doing)
          if (subscription.status === "Revoked") {
            return yield* conflict(resource, `Subscription ${key} is revoked`)
          }
          const queued = yield* sql<{ run_id: string }>`SELECT run_id FROM run_requests
            WHERE account = ${request.account} AND subscription = ${request.subscription}`
          if (queued[0] !== undefined) {
            return yield* conflict(resource, `Subscription ${key} already has run ${queued[0].run_id} queued`)
          }
          const running = yield* sql<{ run_id: string }>`SELECT run_id FROM runs
            WHERE subscription = ${key} AND status = 'running' ORDER BY started_at LIMIT 1`
          if (running[0] !== undefined) {
            return yield* conflict(resource, `Subscription ${key} has run ${running[0].run_id} in progress`)
          }
          yield* sql`INSERT INTO run_requests (run_id, account, subscription, mode, requested_at, requested_by)
            VALUES (${request.runId}, ${request.account}, ${request.subscription}, ${request.mode},
              ${encodeTime(request.requestedAt)}, ${request.requestedBy})`
          yield* tx.audit({
            accounts: [request.account, subscription.provider],
            action: "run.request",
            resource: `run:${request.runId}`,
            detail: { subscription: key, mode: request.mode, requested_by: request.requestedBy }
          })
          return request
        }),
      request.requestedAt
    )
  }

  const pendingRunRequests: Service["pendingRunRequests"] = () => {
    const doing = "list the queued runs"
    return read(
      doing,
      sql`SELECT run_id, account, subscription, mode, requested_at, requested_by FROM run_requests
        ORDER BY requested_at, run_id`.pipe(
        rows(RunRequestRow, doing),
        Effect.map((found) => found.map(toRunRequest))
      )
    )
  }

  const takeRunRequest: Service["takeRunRequest"] = (runId) => {
    const doing = `take the queued run ${runId}`
    return read(
      doing,
      sql`DELETE FROM run_requests WHERE run_id = ${runId}
        RETURNING run_id, account, subscription, mode, requested_at, requested_by`.pipe(
        first(RunRequestRow, doing),
        Effect.map(Option.map(toRunRequest))
      )
    )
  }

  // ---- schedules ----

  const lastTick: Service["lastTick"] = (provider, share) => {
    const doing = `read the last tick of share ${provider}/${share}`
    return read(
      doing,
      sql`SELECT tick FROM schedule_ticks WHERE provider = ${provider} AND share = ${share}`.pipe(
        first(TickRow, doing),
        Effect.map(Option.map((row) => row.tick))
      )
    )
  }

  const recordTick: Service["recordTick"] = (provider, share, tick) => {
    const doing = `record a tick of share ${provider}/${share}`
    return read(
      doing,
      sql`INSERT INTO schedule_ticks (provider, share, tick) VALUES (${provider}, ${share}, ${encodeTime(tick)})
        ON CONFLICT (provider, share) DO UPDATE SET tick = excluded.tick`.pipe(Effect.asVoid)
    )
  }

  // ---- audit ----

  const audit: Service["audit"] = (actor, entry) =>
    write(
      `record ${entry.action} of ${entry.resource} in the audit log`,
      actor,
      (tx) =>
        tx.audit({
          accounts: entry.accounts,
          action: entry.action,
          resource: entry.resource,
          ...(entry.detail === undefined ? {} : { detail: entry.detail })
        }),
      entry.at
    )

  const listAudit: Service["listAudit"] = (query, page) => {
    const doing = query.account === undefined ? "list the audit log" : `list the audit log of ${query.account}`
    return read(
      doing,
      Effect.gen(function* () {
        const limit = yield* checkLimit(page, doing)
        const after = yield* cursor(page, ["number"], "the audit log")
        const conditions = [
          ...(query.account === undefined
            ? []
            : [sql`id IN (SELECT audit_id FROM audit_accounts WHERE account = ${query.account})`]),
          ...(query.resource === undefined ? [] : [sql`resource = ${query.resource}`]),
          ...Option.match(after, { onNone: () => [], onSome: ([id]) => [sql`id < ${id!}`] })
        ]
        const found = yield* sql`SELECT id, at, actor, action, resource, detail FROM audit_log
          WHERE ${sql.and(conditions)} ORDER BY id DESC LIMIT ${limit + 1}`.pipe(rows(AuditRow, doing))
        const ids = found.slice(0, limit).map((row) => row.id)
        const accounts =
          ids.length === 0
            ? []
            : yield* sql`SELECT audit_id, account FROM audit_accounts WHERE ${sql.in("audit_id", ids)}
                ORDER BY account`.pipe(rows(AuditAccountRow, doing))
        const byId = new Map<number, Array<string>>()
        for (const row of accounts) byId.set(row.audit_id, [...(byId.get(row.audit_id) ?? []), row.account])
        return paged(
          found,
          limit,
          (row): AuditEntry => toAuditEntry(row, byId.get(row.id) ?? []),
          (row) => [row.id]
        )
      })
    )
  }

  return {
    putAccount: own(putAccount),
    getAccount: own(getAccount),
    listAccounts: own(listAccounts),
    deleteAccount: own(deleteAccount),
    createToken: own(createToken),
    authenticate: own(authenticate),
    revokeToken: own(revokeToken),
    listTokens: own(listTokens),
    putStore: own(putStore),
    getStore: own(getStore),
    listStores: own(listStores),
    deleteStore: own(deleteStore),
    putShare: own(putShare),
    getShare: own(getShare),
    listShares: own(listShares),
    deleteShare: own(deleteShare),
    putDataset: own(putDataset),
    getDataset: own(getDataset),
    listDatasets: own(listDatasets),
    deleteDataset: own(deleteDataset),
    createInvitation: own(createInvitation),
    getInvitation: own(getInvitation),
    invitationByToken: own(invitationByToken),
    listInvitations: own(listInvitations),
    listReceivedInvitations: own(listReceivedInvitations),
    renewInvitation: own(renewInvitation),
    markInvitationSent: own(markInvitationSent),
    withdrawInvitation: own(withdrawInvitation),
    rejectInvitation: own(rejectInvitation),
    acceptInvitation: own(acceptInvitation),
    putSubscription: own(putSubscription),
    getSubscription: own(getSubscription),
    listSubscriptions: own(listSubscriptions),
    listShareSubscriptions: own(listShareSubscriptions),
    scheduledSubscriptions: own(scheduledSubscriptions),
    setTrigger: own(setTrigger),
    setSubscriptionStatus: own(setSubscriptionStatus),
    deleteSubscription: own(deleteSubscription),
    putMapping: own(putMapping),
    listMappings: own(listMappings),
    deleteMapping: own(deleteMapping),
    requestRun: own(requestRun),
    pendingRunRequests: own(pendingRunRequests),
    takeRunRequest: own(takeRunRequest),
    lastTick: own(lastTick),
    recordTick: own(recordTick),
    audit: own(audit),
    listAudit: own(listAudit)
  } satisfies Service
})
