/**
 * The control plane's resources, as the service keeps them: accounts and their API
 * tokens, stores, shares with their datasets and schedules, invitations,
 * subscriptions with their mappings, run requests waiting for the executor, and the
 * audit log. They live in the state store's database, beside the runs and checkpoints
 * of `StateStore`, under the same migrations, in portable SQL for SQLite and PostgreSQL.
 *
 * Stores, datasets, schedules and mappings are kept in the share config's own form
 * (the snake_case entry as a YAML file would hold it, after `${env:…}` interpolation),
 * so that the service checks and plans them with the very loader that reads files:
 * one validation path, one meaning for every key.
 *
 * Names are unique per account (a store, a share, a subscription); a share's datasets
 * are unique per share. Every write that changes a resource appends to the audit log in
 * the same transaction; a put that changes nothing writes nothing, so applying the same
 * config twice leaves no trace the second time. A write by a `config` actor marks the
 * resource's origin `config`; an API write keeps the origin of what it replaces.
 *
 * Lists page by keyset: `next` is an opaque cursor; one this store did not return fails
 * with a NotFoundError whose resource is `cursor`.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { StateError } from "../state/StateError.js"
import * as SqlControlStore from "./internal/SqlControlStore.js"

/** Who did something: an account's token, the operator, the config being applied, or the service itself. */
export type Actor =
  | { readonly kind: "account"; readonly account: string }
  | { readonly kind: "operator" }
  | { readonly kind: "config"; readonly file: string }
  | { readonly kind: "service" }

/** How the audit log names an actor. */
export const actorName = (actor: Actor): string => {
  switch (actor.kind) {
    case "account":
      return actor.account
    case "operator":
      return "operator"
    case "config":
      return `config:${actor.file}`
    case "service":
      return "service"
  }
}

/**
 * Who wrote a resource last as a whole: a config file being applied, or the API.
 * `ferry apply --prune` removes only resources of origin `config` that the file no longer names.
 */
export type Origin = "config" | "api"

/** A config entry as written: snake_case keys, JSON values. */
export type Spec = Readonly<Record<string, unknown>>

export interface Account {
  readonly name: string
  readonly email?: string
  readonly description?: string
  readonly origin: Origin
  readonly createdAt: Date
}

export interface Token {
  readonly id: string
  /** Absent for an operator token. */
  readonly account?: string
  readonly description?: string
  readonly createdAt: Date
  readonly lastUsedAt?: Date
}

export interface Store {
  readonly account: string
  readonly name: string
  readonly type: string
  /** The connector's settings as written, secrets included: never returned or logged as they are. */
  readonly settings: Spec
  readonly origin: Origin
  readonly createdAt: Date
  readonly updatedAt: Date
}

export type ShareKind = "snapshot" | "in_place"

export interface Share {
  readonly account: string
  readonly name: string
  readonly description?: string
  readonly terms?: string
  readonly kind: ShareKind
  /** `{ every, at }` or `{ cron }`, as the config's `schedule:` holds it. */
  readonly schedule?: Spec
  readonly datasetCount: number
  readonly origin: Origin
  readonly createdAt: Date
  readonly updatedAt: Date
}

export interface Dataset {
  readonly account: string
  readonly share: string
  readonly name: string
  /** The config's dataset entry without its name: `source`, `columns`, `filter`, `casts`, `incremental`… */
  readonly spec: Spec
  /** Its place in the share: datasets are listed, and delivered, in this order. */
  readonly position: number
  readonly origin: Origin
  readonly createdAt: Date
  readonly updatedAt: Date
}

/** As stored; `Expired` is a pending invitation whose expiry has passed, computed when read. */
export type InvitationStatus = "Pending" | "Accepted" | "Rejected" | "Withdrawn" | "Expired"

export interface Invitation {
  readonly id: string
  /** The provider. */
  readonly account: string
  readonly share: string
  /** An e-mail address or an account name. */
  readonly to: string
  readonly status: InvitationStatus
  readonly expiresAt?: Date
  readonly origin: Origin
  readonly createdAt: Date
  /** When the mail last went out; absent without SMTP. */
  readonly sentAt?: Date
  readonly respondedAt?: Date
  /** The account that accepted or rejected. */
  readonly respondedBy?: string
  /** The subscription accepting created. */
  readonly subscription?: string
}

export type SubscriptionStatus = "Active" | "Revoked"
export type Trigger = "manual" | "schedule"

export interface Subscription {
  /** The consumer. */
  readonly account: string
  readonly name: string
  readonly provider: string
  readonly share: string
  readonly status: SubscriptionStatus
  readonly trigger: Trigger
  readonly origin: Origin
  /** When it was created (the invitation accepted, or the config applied). */
  readonly createdAt: Date
  readonly revokedAt?: Date
  readonly invitationId?: string
}

export interface Mapping {
  readonly account: string
  readonly subscription: string
  readonly dataset: string
  /** The config's mapping entry: `store`, `format`, format options, the sink's target settings. */
  readonly spec: Spec
  readonly origin: Origin
  readonly updatedAt: Date
}

export type RunRequestMode = "full" | "incremental"

/** A synchronization asked for and not yet started. */
export interface RunRequest {
  readonly runId: string
  readonly account: string
  readonly subscription: string
  readonly mode: RunRequestMode
  readonly requestedAt: Date
  /** Who asked: an account, or the scheduler. */
  readonly requestedBy: string
}

export interface AuditEntry {
  /** Increasing: the order entries were written in. */
  readonly id: number
  readonly at: Date
  /** `operator`, `config:FILE`, `service`, or the acting account's name. */
  readonly actor: string
  /** Every account the entry concerns (the actor's, a share's provider, a subscription's consumer): each of them sees it. */
  readonly accounts: ReadonlyArray<string>
  /** Dotted verb, such as `share.create`, `invitation.accept`, `subscription.revoke`, `run.succeed`. */
  readonly action: string
  /** Such as `share:contoso/retail`, `subscription:fabrikam/contoso-retail`, `run:0193…`. */
  readonly resource: string
  /** What changed, secret-free. */
  readonly detail?: Spec
}

/** Keyset paging: at most `limit` items after the cursor the previous page returned. */
export interface PageRequest {
  readonly limit: number
  readonly after?: string
}

export interface Page<A> {
  readonly items: ReadonlyArray<A>
  /** Pass as `after` for the next page; absent on the last. */
  readonly next?: string
}

/** A resource a write names does not exist (for the account asking). */
export class NotFoundError extends Schema.TaggedError<NotFoundError>()("NotFoundError", {
  resource: Schema.String,
  message: Schema.String
}) {}

/** A write that conflicts with what exists: a name taken, an invitation no longer pending, a run going. */
export class ConflictError extends Schema.TaggedError<ConflictError>()("ConflictError", {
  resource: Schema.String,
  message: Schema.String
}) {}

export type ControlError = StateError | NotFoundError | ConflictError

export interface AcceptInvitation {
  readonly invitationId: string
  readonly account: string
  /** The new subscription's name, unique in the accepting account. */
  readonly subscription: string
  readonly trigger: Trigger
  readonly at: Date
}

export class ControlStore extends Context.Tag("ferry/ControlStore")<
  ControlStore,
  {
    // ---- accounts and tokens (the operator's) ----
    readonly putAccount: (
      actor: Actor,
      account: Omit<Account, "createdAt" | "origin">
    ) => Effect.Effect<Account, ControlError>
    readonly getAccount: (name: string) => Effect.Effect<Option.Option<Account>, ControlError>
    readonly listAccounts: (page: PageRequest) => Effect.Effect<Page<Account>, ControlError>
    /** Removes the account and everything it owns; fails with a conflict while other accounts subscribe to its shares. */
    readonly deleteAccount: (actor: Actor, name: string) => Effect.Effect<void, ControlError>
    /** Stores the token's SHA-256 only; the caller made the secret and shows it once. */
    readonly createToken: (
      actor: Actor,
      token: { readonly account?: string; readonly description?: string; readonly secretHash: string }
    ) => Effect.Effect<Token, ControlError>
    /** The token whose secret hashes to `secretHash`, its last use recorded (to the minute: a use within a minute of the recorded one writes nothing). */
    readonly authenticate: (secretHash: string, at: Date) => Effect.Effect<Option.Option<Token>, ControlError>
    readonly revokeToken: (actor: Actor, id: string) => Effect.Effect<void, ControlError>
    /** An account's tokens, or every token (operator tokens included) without an account; by id, oldest first. */
    readonly listTokens: (
      query: { readonly account?: string },
      page: PageRequest
    ) => Effect.Effect<Page<Token>, ControlError>

    // ---- a provider's stores, shares, datasets ----
    /** Creates or replaces. */
    readonly putStore: (
      actor: Actor,
      store: Omit<Store, "createdAt" | "updatedAt" | "origin">
    ) => Effect.Effect<Store, ControlError>
    readonly getStore: (account: string, name: string) => Effect.Effect<Option.Option<Store>, ControlError>
    readonly listStores: (account: string, page: PageRequest) => Effect.Effect<Page<Store>, ControlError>
    /** Fails with a conflict while a dataset or mapping uses it. */
    readonly deleteStore: (actor: Actor, account: string, name: string) => Effect.Effect<void, ControlError>

    readonly putShare: (
      actor: Actor,
      share: Omit<Share, "createdAt" | "updatedAt" | "datasetCount" | "origin">
    ) => Effect.Effect<Share, ControlError>
    readonly getShare: (account: string, name: string) => Effect.Effect<Option.Option<Share>, ControlError>
    readonly listShares: (account: string, page: PageRequest) => Effect.Effect<Page<Share>, ControlError>
    /** Removes the share, its datasets and invitations, and revokes its subscriptions. */
    readonly deleteShare: (actor: Actor, account: string, name: string) => Effect.Effect<void, ControlError>

    /** A new dataset goes last unless `position` says where; a replaced one keeps its place unless `position` moves it. */
    readonly putDataset: (
      actor: Actor,
      dataset: Omit<Dataset, "createdAt" | "updatedAt" | "origin" | "position"> & { readonly position?: number }
    ) => Effect.Effect<Dataset, ControlError>
    readonly getDataset: (
      account: string,
      share: string,
      name: string
    ) => Effect.Effect<Option.Option<Dataset>, ControlError>
    /** In the order they were added. */
    readonly listDatasets: (
      account: string,
      share: string,
      page: PageRequest
    ) => Effect.Effect<Page<Dataset>, ControlError>
    readonly deleteDataset: (
      actor: Actor,
      account: string,
      share: string,
      name: string
    ) => Effect.Effect<void, ControlError>

    // ---- invitations ----
    /** `secretHash` is the SHA-256 of the single-use accept token the caller made. */
    readonly createInvitation: (
      actor: Actor,
      invitation: {
        readonly account: string
        readonly share: string
        readonly to: string
        readonly expiresAt?: Date
        readonly secretHash: string
        readonly at: Date
      }
    ) => Effect.Effect<Invitation, ControlError>
    readonly getInvitation: (id: string, now: Date) => Effect.Effect<Option.Option<Invitation>, ControlError>
    /**
     * The invitation whose accept token hashes to `secretHash`, if it has not been used;
     * with `spent: true`, also one whose token was spent (accepted, rejected or
     * withdrawn), to tell its holder why it can no longer be answered.
     */
    readonly invitationByToken: (
      secretHash: string,
      now: Date,
      options?: { readonly spent?: boolean }
    ) => Effect.Effect<Option.Option<Invitation>, ControlError>
    /** A provider's invitations, of one share or all. */
    readonly listInvitations: (
      query: { readonly account: string; readonly share?: string; readonly now: Date },
      page: PageRequest
    ) => Effect.Effect<Page<Invitation>, ControlError>
    /** Invitations addressed to the account's name or e-mail. */
    readonly listReceivedInvitations: (
      query: { readonly account: string; readonly now: Date },
      page: PageRequest
    ) => Effect.Effect<Page<Invitation>, ControlError>
    /** A new accept token and the time the mail went out; only a pending invitation. */
    readonly renewInvitation: (
      actor: Actor,
      id: string,
      renewal: { readonly secretHash: string; readonly sentAt?: Date }
    ) => Effect.Effect<Invitation, ControlError>
    readonly markInvitationSent: (id: string, at: Date) => Effect.Effect<void, ControlError>
    readonly withdrawInvitation: (actor: Actor, id: string, at: Date) => Effect.Effect<Invitation, ControlError>
    readonly rejectInvitation: (
      actor: Actor,
      id: string,
      account: string,
      at: Date
    ) => Effect.Effect<Invitation, ControlError>
    /**
     * Marks a pending, unexpired invitation accepted, spends its token and creates the
     * subscription, in one transaction; a conflict if it is not pending or the name is taken.
     * The caller has checked that the account may answer it (addressed to it, or holding the token).
     */
    readonly acceptInvitation: (
      actor: Actor,
      accept: AcceptInvitation
    ) => Effect.Effect<{ readonly invitation: Invitation; readonly subscription: Subscription }, ControlError>

    // ---- subscriptions and mappings ----
    /**
     * Creates an active subscription without an invitation: the config names both sides.
     * Put again for the same share, it sets the trigger; a subscription of that name to
     * another share is a conflict.
     */
    readonly putSubscription: (
      actor: Actor,
      subscription: Omit<Subscription, "createdAt" | "revokedAt" | "status" | "invitationId" | "origin">
    ) => Effect.Effect<Subscription, ControlError>
    readonly getSubscription: (
      account: string,
      name: string
    ) => Effect.Effect<Option.Option<Subscription>, ControlError>
    /** A consumer's subscriptions. */
    readonly listSubscriptions: (account: string, page: PageRequest) => Effect.Effect<Page<Subscription>, ControlError>
    /** The subscriptions to a provider's shares, of one share or all. */
    readonly listShareSubscriptions: (
      query: { readonly provider: string; readonly share?: string },
      page: PageRequest
    ) => Effect.Effect<Page<Subscription>, ControlError>
    /** Active subscriptions with `trigger: schedule` to the share. */
    readonly scheduledSubscriptions: (
      provider: string,
      share: string
    ) => Effect.Effect<ReadonlyArray<Subscription>, ControlError>
    readonly setTrigger: (
      actor: Actor,
      account: string,
      name: string,
      trigger: Trigger
    ) => Effect.Effect<Subscription, ControlError>
    readonly setSubscriptionStatus: (
      actor: Actor,
      key: { readonly account: string; readonly name: string },
      status: SubscriptionStatus,
      at: Date
    ) => Effect.Effect<Subscription, ControlError>
    readonly deleteSubscription: (actor: Actor, account: string, name: string) => Effect.Effect<void, ControlError>

    readonly putMapping: (
      actor: Actor,
      mapping: Omit<Mapping, "updatedAt" | "origin">
    ) => Effect.Effect<Mapping, ControlError>
    readonly listMappings: (
      account: string,
      subscription: string
    ) => Effect.Effect<ReadonlyArray<Mapping>, ControlError>
    readonly deleteMapping: (
      actor: Actor,
      account: string,
      subscription: string,
      dataset: string
    ) => Effect.Effect<void, ControlError>

    // ---- run requests ----
    /**
     * Queues a synchronization: a conflict while the subscription has a request waiting
     * or a run going (runs of one subscription never overlap).
     */
    readonly requestRun: (actor: Actor, request: RunRequest) => Effect.Effect<RunRequest, ControlError>
    /** Oldest first. */
    readonly pendingRunRequests: () => Effect.Effect<ReadonlyArray<RunRequest>, ControlError>
    /** Drops a request as its run starts (its run id becomes a run's) or is canceled before starting. */
    readonly takeRunRequest: (runId: string) => Effect.Effect<Option.Option<RunRequest>, ControlError>

    // ---- schedules ----
    /** The last tick a share's schedule ran for, so that ticks missed while down run once. */
    readonly lastTick: (provider: string, share: string) => Effect.Effect<Option.Option<Date>, ControlError>
    readonly recordTick: (provider: string, share: string, tick: Date) => Effect.Effect<void, ControlError>

    // ---- audit ----
    readonly audit: (
      actor: Actor,
      entry: Omit<AuditEntry, "id" | "at" | "actor"> & { readonly at: Date }
    ) => Effect.Effect<void, ControlError>
    /** Newest first; only entries that concern the account, or every entry for the operator (no account). */
    readonly listAudit: (
      query: { readonly account?: string; readonly resource?: string },
      page: PageRequest
    ) => Effect.Effect<Page<AuditEntry>, ControlError>
  }
>() {}

/** How the run path keys a subscription's runs and checkpoints: unique across accounts. */
export const subscriptionKey = (subscription: { readonly account: string; readonly name: string }): string =>
  `${subscription.account}/${subscription.name}`

/** The store over whatever `SqlClient` is provided; the client's database must be migrated (the state store's layers do it). */
export const layer: Layer.Layer<ControlStore, never, SqlClient.SqlClient> = Layer.effect(
  ControlStore,
  // Deferred: the implementation imports this module's errors.
  Effect.suspend(() => SqlControlStore.make)
)
