/** The control plane's records as the API shows them: snake_case, secrets replaced. */
import type { Registry } from "../../../core/Registry.js"
import type * as Control from "../../control/ControlStore.js"
import type * as State from "../../state/StateStore.js"
import { redactSettings } from "../Redact.js"
import type * as Resources from "../Resources.js"
import { seconds } from "./Common.js"

type Mutable<A> = { -readonly [K in keyof A]: A[K] }

/** Sets the optional fields whose value is defined; `exactOptionalPropertyTypes` wants them absent otherwise. */
const defined = <A extends object>(fields: A): { [K in keyof A]?: Exclude<A[K], undefined> } =>
  Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as {
    [K in keyof A]?: Exclude<A[K], undefined>
  }

export const account = (account: Control.Account): Resources.Account => ({
  name: account.name,
  created_at: account.createdAt,
  ...defined({ email: account.email, description: account.description })
})

export const token = (token: Control.Token) => ({
  id: token.id,
  created_at: token.createdAt,
  ...defined({ account: token.account, description: token.description, last_used_at: token.lastUsedAt })
})

export const store = (store: Control.Store, registry: Registry): Resources.Store => ({
  name: store.name,
  type: store.type,
  settings: redactSettings(store.settings, registry.types.get(store.type)?.storeConfig),
  created_at: store.createdAt,
  updated_at: store.updatedAt
})

export const share = (share: Control.Share): Resources.Share => ({
  name: share.name,
  kind: share.kind,
  dataset_count: share.datasetCount,
  created_at: share.createdAt,
  updated_at: share.updatedAt,
  ...defined({
    description: share.description,
    terms: share.terms,
    schedule: share.schedule as Resources.Share["schedule"]
  })
})

/**
 * A dataset as its spec holds it; the source's settings redacted by the source
 * connector's dataset Schema (`storeType` is the type of the store it reads).
 */
export const dataset = (
  dataset: Control.Dataset,
  registry: Registry,
  storeType: string | undefined
): Resources.Dataset => {
  const spec = dataset.spec as Mutable<Resources.DatasetBody>
  const connector = storeType === undefined ? undefined : registry.types.get(storeType)?.source
  const source = spec.source as Readonly<Record<string, unknown>>
  const { store: storeName, ...settings } = source
  return {
    ...spec,
    name: dataset.name,
    source: { ...redactSettings(settings, connector?.datasetConfig), store: String(storeName) },
    created_at: dataset.createdAt,
    updated_at: dataset.updatedAt
  }
}

export const datasetStore = (dataset: Control.Dataset): string | undefined => {
  const source = dataset.spec["source"]
  if (typeof source !== "object" || source === null) return undefined
  const store = (source as Record<string, unknown>)["store"]
  return typeof store === "string" ? store : undefined
}

export const invitation = (invitation: Control.Invitation, acceptToken?: string): Resources.Invitation => ({
  id: invitation.id,
  share: invitation.share,
  to: invitation.to,
  status: invitation.status,
  created_at: invitation.createdAt,
  ...defined({
    expires_at: invitation.expiresAt,
    sent_at: invitation.sentAt,
    responded_at: invitation.respondedAt,
    responded_by: invitation.respondedBy,
    subscription: invitation.subscription,
    accept_token: acceptToken
  })
})

export const receivedInvitation = (
  invitation: Control.Invitation,
  share: Control.Share | undefined
): Resources.ReceivedInvitation => ({
  id: invitation.id,
  provider: invitation.account,
  share: invitation.share,
  dataset_count: share?.datasetCount ?? 0,
  to: invitation.to,
  status: invitation.status,
  created_at: invitation.createdAt,
  ...defined({ description: share?.description, terms: share?.terms, expires_at: invitation.expiresAt })
})

export const subscription = (subscription: Control.Subscription): Resources.Subscription => ({
  name: subscription.name,
  provider: subscription.provider,
  share: subscription.share,
  status: subscription.status,
  trigger: subscription.trigger,
  created_at: subscription.createdAt,
  ...defined({ revoked_at: subscription.revokedAt, invitation_id: subscription.invitationId })
})

export const shareSubscription = (subscription: Control.Subscription): Resources.ShareSubscription => ({
  consumer: subscription.account,
  subscription: subscription.name,
  share: subscription.share,
  status: subscription.status,
  trigger: subscription.trigger,
  since: subscription.createdAt,
  ...defined({ revoked_at: subscription.revokedAt })
})

/** A mapping as its spec holds it; the target's settings redacted by the sink's target Schema. */
export const mapping = (
  mapping: Control.Mapping,
  registry: Registry,
  storeType: string | undefined
): Resources.Mapping => {
  const connector = storeType === undefined ? undefined : registry.types.get(storeType)?.sink
  const { store: storeName, format, ...rest } = mapping.spec
  return {
    ...redactSettings(rest, connector?.targetConfig),
    dataset: mapping.dataset,
    store: String(storeName),
    ...(format === "csv" || format === "parquet" || format === "jsonl" ? { format } : {}),
    updated_at: mapping.updatedAt
  }
}

const MODE = { full: "Full", incremental: "Incremental" } as const

const STATUS = {
  running: "InProgress",
  succeeded: "Succeeded",
  failed: "Failed",
  canceled: "Canceled"
} as const

/** The name part of a subscription key (`account/name`). */
export const subscriptionName = (key: string) => key.slice(key.indexOf("/") + 1)

export const datasetRun = (run: State.DatasetRun): Resources.DatasetRun => ({
  dataset: run.dataset,
  status: STATUS[run.status],
  started_at: run.startedAt,
  rows: run.rows,
  bytes: run.bytes,
  files: run.files,
  ...defined({
    ended_at: run.endedAt,
    duration_seconds: run.endedAt === undefined ? undefined : seconds(run.startedAt, run.endedAt),
    message: run.message
  })
})

export const run = (run: State.Run, datasets: ReadonlyArray<State.DatasetRun>): Resources.Run => ({
  run_id: run.runId,
  subscription: subscriptionName(run.subscription),
  mode: MODE[run.mode],
  status: STATUS[run.status],
  started_at: run.startedAt,
  datasets: datasets.map(datasetRun),
  ...defined({
    ended_at: run.endedAt,
    duration_seconds: run.endedAt === undefined ? undefined : seconds(run.startedAt, run.endedAt),
    message: run.message
  })
})

export const queuedRun = (request: Control.RunRequest): Resources.Run => ({
  run_id: request.runId,
  subscription: request.subscription,
  mode: MODE[request.mode],
  status: "Queued",
  requested_at: request.requestedAt,
  datasets: []
})

/** `account/name`, as runs name their subscription and share. */
const splitKey = (key: string) => {
  const slash = key.indexOf("/")
  return { account: key.slice(0, slash), name: key.slice(slash + 1) }
}

export const delivery = (detail: State.RunDetail): Resources.Delivery => ({
  run_id: detail.runId,
  consumer: splitKey(detail.subscription).account,
  subscription: splitKey(detail.subscription).name,
  share: splitKey(detail.share).name,
  mode: MODE[detail.mode],
  status: STATUS[detail.status],
  started_at: detail.startedAt,
  rows: detail.datasets.reduce((sum, dataset) => sum + dataset.rows, 0),
  bytes: detail.datasets.reduce((sum, dataset) => sum + dataset.bytes, 0),
  files: detail.datasets.reduce((sum, dataset) => sum + dataset.files, 0),
  ...defined({
    ended_at: detail.endedAt,
    duration_seconds: detail.endedAt === undefined ? undefined : seconds(detail.startedAt, detail.endedAt),
    message: detail.message
  })
})

export const auditEntry = (entry: Control.AuditEntry): Resources.AuditEntry => ({
  id: entry.id,
  at: entry.at,
  actor: entry.actor,
  accounts: entry.accounts,
  action: entry.action,
  resource: entry.resource,
  ...defined({ detail: entry.detail })
})

/** A page of the control store, its items shown. */
export const page = <A, B>(page: Control.Page<A>, show: (item: A) => B) => ({
  items: page.items.map(show),
  ...(page.next === undefined ? {} : { next: page.next })
})
