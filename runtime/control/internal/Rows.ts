/**
 * The rows of the control tables as the drivers return them, decoded into the control
 * store's types; and the opaque cursors of its lists. Times are ISO text (or a Date
 * where a driver parses one), BIGINT columns a number (SQLite) or decimal text (pg),
 * config entries JSON text.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Count, Time } from "../../state/internal/Rows.js"
import type {
  Account,
  Actor,
  AuditEntry,
  Dataset,
  Invitation,
  Mapping,
  Origin,
  RunRequest,
  Share,
  Spec,
  Store,
  Subscription,
  Token
} from "../ControlStore.js"
import { NotFoundError } from "../ControlStore.js"

const OriginColumn = Schema.Literal("config", "api")
const SpecJson = Schema.parseJson(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
const Text = Schema.NullOr(Schema.String)
const OptionalTime = Schema.NullOr(Time)
/** A dataset's place: any safe integer, negative ones included (a dataset put before the first). */
const Position = Schema.Union(Schema.Number, Schema.NumberFromString).pipe(
  Schema.filter((position) => Number.isSafeInteger(position), { message: () => "a position must be an integer" })
)

export const AccountRow = Schema.Struct({
  name: Schema.String,
  email: Text,
  description: Text,
  origin: OriginColumn,
  created_at: Time
})

export const TokenRow = Schema.Struct({
  id: Schema.String,
  account: Text,
  description: Text,
  created_at: Time,
  last_used_at: OptionalTime
})

export const StoreRow = Schema.Struct({
  account: Schema.String,
  name: Schema.String,
  type: Schema.String,
  settings: SpecJson,
  origin: OriginColumn,
  created_at: Time,
  updated_at: Time
})

export const ShareRow = Schema.Struct({
  account: Schema.String,
  name: Schema.String,
  description: Text,
  terms: Text,
  kind: Schema.Literal("snapshot", "in_place"),
  schedule: Schema.NullOr(SpecJson),
  dataset_count: Count,
  origin: OriginColumn,
  created_at: Time,
  updated_at: Time
})

export const DatasetRow = Schema.Struct({
  account: Schema.String,
  share: Schema.String,
  name: Schema.String,
  position: Position,
  spec: SpecJson,
  origin: OriginColumn,
  created_at: Time,
  updated_at: Time
})

export const InvitationRow = Schema.Struct({
  id: Schema.String,
  account: Schema.String,
  share: Schema.String,
  recipient: Schema.String,
  status: Schema.Literal("Pending", "Accepted", "Rejected", "Withdrawn"),
  expires_at: OptionalTime,
  origin: OriginColumn,
  created_at: Time,
  sent_at: OptionalTime,
  responded_at: OptionalTime,
  responded_by: Text,
  subscription: Text
})

export const SubscriptionRow = Schema.Struct({
  account: Schema.String,
  name: Schema.String,
  provider: Schema.String,
  share: Schema.String,
  status: Schema.Literal("Active", "Revoked"),
  trigger_kind: Schema.Literal("manual", "schedule"),
  origin: OriginColumn,
  created_at: Time,
  revoked_at: OptionalTime,
  invitation_id: Text
})

export const MappingRow = Schema.Struct({
  account: Schema.String,
  subscription: Schema.String,
  dataset: Schema.String,
  spec: SpecJson,
  origin: OriginColumn,
  updated_at: Time
})

export const RunRequestRow = Schema.Struct({
  run_id: Schema.String,
  account: Schema.String,
  subscription: Schema.String,
  mode: Schema.Literal("full", "incremental"),
  requested_at: Time,
  requested_by: Schema.String
})

export const AuditRow = Schema.Struct({
  id: Count,
  at: Time,
  actor: Schema.String,
  action: Schema.String,
  resource: Schema.String,
  detail: Schema.NullOr(SpecJson)
})

export const AuditAccountRow = Schema.Struct({ audit_id: Count, account: Schema.String })

export const IdRow = Schema.Struct({ last_id: Count })

export const TickRow = Schema.Struct({ tick: Time })

const optional = <K extends string, A>(key: K, value: A | null): { readonly [P in K]?: A } =>
  (value === null ? {} : { [key]: value }) as { readonly [P in K]?: A }

export const toAccount = (row: typeof AccountRow.Type): Account => ({
  name: row.name,
  ...optional("email", row.email),
  ...optional("description", row.description),
  origin: row.origin,
  createdAt: row.created_at
})

export const toToken = (row: typeof TokenRow.Type): Token => ({
  id: row.id,
  ...optional("account", row.account),
  ...optional("description", row.description),
  createdAt: row.created_at,
  ...optional("lastUsedAt", row.last_used_at)
})

export const toStore = (row: typeof StoreRow.Type): Store => ({
  account: row.account,
  name: row.name,
  type: row.type,
  settings: row.settings,
  origin: row.origin,
  createdAt: row.created_at,
  updatedAt: row.updated_at
})

export const toShare = (row: typeof ShareRow.Type): Share => ({
  account: row.account,
  name: row.name,
  ...optional("description", row.description),
  ...optional("terms", row.terms),
  kind: row.kind,
  ...optional("schedule", row.schedule),
  datasetCount: row.dataset_count,
  origin: row.origin,
  createdAt: row.created_at,
  updatedAt: row.updated_at
})

export const toDataset = (row: typeof DatasetRow.Type): Dataset => ({
  account: row.account,
  share: row.share,
  name: row.name,
  spec: row.spec,
  position: row.position,
  origin: row.origin,
  createdAt: row.created_at,
  updatedAt: row.updated_at
})

/** `Expired` is not stored: a pending invitation whose expiry has passed reads as expired. */
export const toInvitation = (row: typeof InvitationRow.Type, now: Date): Invitation => ({
  id: row.id,
  account: row.account,
  share: row.share,
  to: row.recipient,
  status:
    row.status === "Pending" && row.expires_at !== null && row.expires_at.getTime() <= now.getTime()
      ? "Expired"
      : row.status,
  ...optional("expiresAt", row.expires_at),
  origin: row.origin,
  createdAt: row.created_at,
  ...optional("sentAt", row.sent_at),
  ...optional("respondedAt", row.responded_at),
  ...optional("respondedBy", row.responded_by),
  ...optional("subscription", row.subscription)
})

export const toSubscription = (row: typeof SubscriptionRow.Type): Subscription => ({
  account: row.account,
  name: row.name,
  provider: row.provider,
  share: row.share,
  status: row.status,
  trigger: row.trigger_kind,
  origin: row.origin,
  createdAt: row.created_at,
  ...optional("revokedAt", row.revoked_at),
  ...optional("invitationId", row.invitation_id)
})

export const toMapping = (row: typeof MappingRow.Type): Mapping => ({
  account: row.account,
  subscription: row.subscription,
  dataset: row.dataset,
  spec: row.spec,
  origin: row.origin,
  updatedAt: row.updated_at
})

export const toRunRequest = (row: typeof RunRequestRow.Type): RunRequest => ({
  runId: row.run_id,
  account: row.account,
  subscription: row.subscription,
  mode: row.mode,
  requestedAt: row.requested_at,
  requestedBy: row.requested_by
})

export const toAuditEntry = (row: typeof AuditRow.Type, accounts: ReadonlyArray<string>): AuditEntry => ({
  id: row.id,
  at: row.at,
  actor: row.actor,
  accounts,
  action: row.action,
  resource: row.resource,
  ...optional("detail", row.detail)
})

/** The origin a write gives what it creates: a config's, or the API's. */
export const originOf = (actor: Actor): Origin => (actor.kind === "config" ? "config" : "api")

/** JSON with the keys of every object sorted, so that equal entries have equal text. */
export const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_, item: unknown) =>
    typeof item === "object" && item !== null && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item
  )

export const sameSpec = (a: Spec | undefined, b: Spec | undefined): boolean =>
  (a === undefined ? undefined : canonicalJson(a)) === (b === undefined ? undefined : canonicalJson(b))

// ---- cursors ----

/** A cursor holds the sort key of a page's last item, as base64url JSON: opaque to callers. */
export type CursorKey = ReadonlyArray<string | number>

export const encodeCursor = (key: CursorKey): string => Buffer.from(JSON.stringify(key), "utf8").toString("base64url")

const CursorSchema = Schema.parseJson(Schema.Array(Schema.Union(Schema.String, Schema.Number)))

const invalidCursor = (list: string) =>
  new NotFoundError({ resource: "cursor", message: `The cursor is not one that listing ${list} returned` })

/** The key a cursor holds, checked against the kinds of the list's sort key. */
export const decodeCursor = (
  after: string,
  kinds: ReadonlyArray<"string" | "number">,
  list: string
): Effect.Effect<CursorKey, NotFoundError> =>
  Schema.decodeUnknown(CursorSchema)(Buffer.from(after, "base64url").toString("utf8")).pipe(
    Effect.mapError(() => invalidCursor(list)),
    Effect.filterOrFail(
      (key) => key.length === kinds.length && key.every((part, i) => typeof part === kinds[i]),
      () => invalidCursor(list)
    )
  )
