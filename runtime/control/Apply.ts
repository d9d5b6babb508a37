/**
 * `ferry apply`: makes the control store hold what a config file says, declaratively.
 * Accounts, stores (their settings as written, after interpolation), shares with their
 * schedules, datasets in the file's order, invitations matched by (share, to), and the
 * subscriptions the file names (active, without an invitation: the file speaks for both
 * sides) with their mappings. Each resource is compared with what is stored and written
 * only when it differs, so applying the same file twice changes nothing and leaves no
 * audit entry the second time.
 *
 * What the API created and the file does not name is left alone. With `prune`, resources
 * of origin `config` that the file no longer names are removed (a pending invitation is
 * withdrawn). Each write is its own transaction: an apply that stops half-way is
 * finished by applying again.
 */
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { FerryConfig } from "../../config/FerryConfig.js"
import type { Actor, ControlError, Invitation, Page, PageRequest, Spec } from "./ControlStore.js"
import { ControlStore } from "./ControlStore.js"
import { canonicalJson } from "./internal/Rows.js"
import { hashSecret, INVITATION_PREFIX, makeSecret } from "./Tokens.js"

export interface ApplyOptions {
  /** Remove resources of origin `config` that the file no longer names. */
  readonly prune: boolean
  /** The config being applied: the audit log's actor, and the origin of what it writes. */
  readonly actor: Extract<Actor, { readonly kind: "config" }>
  /** When invitations are created. */
  readonly now: Date
}

/** What happened to the resources of one kind, each named as `account/name[/…]`. */
export interface KindReport {
  readonly created: ReadonlyArray<string>
  readonly updated: ReadonlyArray<string>
  readonly unchanged: ReadonlyArray<string>
  readonly removed: ReadonlyArray<string>
}

export const KINDS = ["accounts", "stores", "shares", "datasets", "invitations", "subscriptions", "mappings"] as const
export type Kind = (typeof KINDS)[number]

export interface NewInvitation {
  readonly invitation: Invitation
  /** The single-use secret that accepts it: shown once, never stored. */
  readonly acceptToken: string
}

export interface ApplyReport extends Readonly<Record<Kind, KindReport>> {
  readonly newInvitations: ReadonlyArray<NewInvitation>
}

type Outcome = "created" | "updated" | "unchanged"

class Recorder {
  private readonly kinds = new Map<Kind, Record<keyof KindReport, Array<string>>>(
    KINDS.map((kind) => [kind, { created: [], updated: [], unchanged: [], removed: [] }])
  )
  readonly newInvitations: Array<NewInvitation> = []

  record(kind: Kind, outcome: Outcome | "removed", name: string): void {
    this.kinds.get(kind)![outcome].push(name)
  }

  report(): ApplyReport {
    return {
      ...(Object.fromEntries(this.kinds) as Readonly<Record<string, KindReport>> as Record<Kind, KindReport>),
      newInvitations: this.newInvitations
    }
  }
}

const same = (a: Spec | undefined, b: Spec | undefined) =>
  (a === undefined ? "" : canonicalJson(a)) === (b === undefined ? "" : canonicalJson(b))

const outcome = <A>(existing: Option.Option<A>, unchanged: (a: A) => boolean): Outcome =>
  Option.match(existing, {
    onNone: () => "created",
    onSome: (found) => (unchanged(found) ? "unchanged" : "updated")
  })

/** Every item of a paged list. */
const everything = <A>(
  list: (page: PageRequest) => Effect.Effect<Page<A>, ControlError>
): Effect.Effect<ReadonlyArray<A>, ControlError> =>
  Effect.gen(function* () {
    const items: Array<A> = []
    let after: string | undefined
    do {
      const page = yield* list({ limit: 500, ...(after === undefined ? {} : { after }) })
      items.push(...page.items)
      after = page.next
    } while (after !== undefined)
    return items
  })

export const applyConfig = (
  config: FerryConfig,
  options: ApplyOptions
): Effect.Effect<ApplyReport, ControlError, ControlStore> =>
  Effect.gen(function* () {
    const control = yield* ControlStore
    const { actor } = options
    const recorder = new Recorder()
    const isConfig = (resource: { readonly origin: string }) => resource.origin === "config"

    for (const account of config.accounts.values()) {
      const email = Option.getOrUndefined(account.email)
      const description = Option.getOrUndefined(account.description)
      const existing = yield* control.getAccount(account.name)
      const result = outcome(
        existing,
        (found) => found.email === email && found.description === description && isConfig(found)
      )
      if (result !== "unchanged") {
        yield* control.putAccount(actor, {
          name: account.name,
          ...(email === undefined ? {} : { email }),
          ...(description === undefined ? {} : { description })
        })
      }
      recorder.record("accounts", result, account.name)
    }

    for (const store of config.stores.values()) {
      const existing = yield* control.getStore(store.account, store.name)
      const result = outcome(
        existing,
        (found) => found.type === store.type && same(found.settings, store.settings) && isConfig(found)
      )
      if (result !== "unchanged") {
        yield* control.putStore(actor, {
          account: store.account,
          name: store.name,
          type: store.type,
          settings: store.settings
        })
      }
      recorder.record("stores", result, `${store.account}/${store.name}`)
    }

    for (const share of config.shares) {
      const description = Option.getOrUndefined(share.description)
      const terms = Option.getOrUndefined(share.terms)
      const schedule = Option.getOrUndefined(share.scheduleSpec)
      const existing = yield* control.getShare(share.account, share.name)
      const result = outcome(
        existing,
        (found) =>
          found.description === description &&
          found.terms === terms &&
          found.kind === share.kind &&
          same(found.schedule, schedule) &&
          isConfig(found)
      )
      if (result !== "unchanged") {
        yield* control.putShare(actor, {
          account: share.account,
          name: share.name,
          kind: share.kind,
          ...(description === undefined ? {} : { description }),
          ...(terms === undefined ? {} : { terms }),
          ...(schedule === undefined ? {} : { schedule })
        })
      }
      recorder.record("shares", result, `${share.account}/${share.name}`)

      for (const [position, dataset] of share.datasets.entries()) {
        const found = yield* control.getDataset(share.account, share.name, dataset.name)
        const datasetResult = outcome(
          found,
          (stored) => stored.position === position && same(stored.spec, dataset.spec) && isConfig(stored)
        )
        if (datasetResult !== "unchanged") {
          yield* control.putDataset(actor, {
            account: share.account,
            share: share.name,
            name: dataset.name,
            spec: dataset.spec,
            position
          })
        }
        recorder.record("datasets", datasetResult, `${share.account}/${share.name}/${dataset.name}`)
      }

      if (share.invitations.length > 0) {
        const invitations = yield* everything((page) =>
          control.listInvitations({ account: share.account, share: share.name, now: options.now }, page)
        )
        for (const invitation of share.invitations) {
          const name = `${share.account}/${share.name}/${invitation.to}`
          // A withdrawn invitation no longer stands for the file's: a new one is sent.
          const standing = invitations.find((stored) => stored.to === invitation.to && stored.status !== "Withdrawn")
          if (standing !== undefined) {
            recorder.record("invitations", "unchanged", name)
            continue
          }
          const acceptToken = makeSecret(INVITATION_PREFIX)
          const expiresAt = Option.getOrUndefined(Option.map(invitation.expiresAt, DateTime.toDate))
          const created = yield* control.createInvitation(actor, {
            account: share.account,
            share: share.name,
            to: invitation.to,
            secretHash: hashSecret(acceptToken),
            at: options.now,
            ...(expiresAt === undefined ? {} : { expiresAt })
          })
          recorder.newInvitations.push({ invitation: created, acceptToken })
          recorder.record("invitations", "created", name)
        }
      }
    }

    for (const subscription of config.subscriptions) {
      const key = `${subscription.account}/${subscription.name}`
      const provider = subscription.share.account
      const shareName = subscription.share.name
      let existing = yield* control.getSubscription(subscription.account, subscription.name)
      // The file moved the subscription to another share: it is another subscription.
      if (
        Option.isSome(existing) &&
        (existing.value.provider !== provider || existing.value.share !== shareName) &&
        isConfig(existing.value)
      ) {
        yield* control.deleteSubscription(actor, subscription.account, subscription.name)
        existing = Option.none()
        recorder.record("subscriptions", "removed", key)
      }
      const result = outcome(
        existing,
        (found) =>
          found.provider === provider &&
          found.share === shareName &&
          found.trigger === subscription.trigger &&
          isConfig(found)
      )
      if (result !== "unchanged") {
        yield* control.putSubscription(actor, {
          account: subscription.account,
          name: subscription.name,
          provider,
          share: shareName,
          trigger: subscription.trigger
        })
      }
      recorder.record("subscriptions", result, key)

      const mappings = yield* control.listMappings(subscription.account, subscription.name)
      for (const mapping of subscription.mappings.values()) {
        const found = Option.fromNullable(mappings.find((stored) => stored.dataset === mapping.dataset))
        const mappingResult = outcome(found, (stored) => same(stored.spec, mapping.spec) && isConfig(stored))
        if (mappingResult !== "unchanged") {
          yield* control.putMapping(actor, {
            account: subscription.account,
            subscription: subscription.name,
            dataset: mapping.dataset,
            spec: mapping.spec
          })
        }
        recorder.record("mappings", mappingResult, `${key}/${mapping.dataset}`)
      }
    }

    if (options.prune) yield* prune(config, actor, options.now, recorder)
    return recorder.report()
  })

/**
 * Removes what came from a config and the file no longer names: mappings, subscriptions,
 * pending invitations (withdrawn), datasets, shares, stores, then accounts, so that
 * nothing is removed while something the file still names uses it.
 */
const prune = (config: FerryConfig, actor: Actor, now: Date, recorder: Recorder) =>
  Effect.gen(function* () {
    const control = yield* ControlStore
    const named = {
      accounts: new Set(config.accounts.keys()),
      stores: new Set([...config.stores.values()].map((store) => `${store.account}/${store.name}`)),
      shares: new Set(config.shares.map((share) => `${share.account}/${share.name}`)),
      datasets: new Set(
        config.shares.flatMap((share) => share.datasets.map((d) => `${share.account}/${share.name}/${d.name}`))
      ),
      invitations: new Set(
        config.shares.flatMap((share) => share.invitations.map((i) => `${share.account}/${share.name}/${i.to}`))
      ),
      subscriptions: new Set(config.subscriptions.map((s) => `${s.account}/${s.name}`)),
      mappings: new Set(
        config.subscriptions.flatMap((s) =>
          [...s.mappings.keys()].map((dataset) => `${s.account}/${s.name}/${dataset}`)
        )
      )
    }
    const accounts = yield* everything((page) => control.listAccounts(page))

    for (const account of accounts) {
      const subscriptions = yield* everything((page) => control.listSubscriptions(account.name, page))
      for (const subscription of subscriptions) {
        const key = `${subscription.account}/${subscription.name}`
        if (subscription.origin === "config" && !named.subscriptions.has(key)) {
          yield* control.deleteSubscription(actor, subscription.account, subscription.name)
          recorder.record("subscriptions", "removed", key)
          continue
        }
        for (const mapping of yield* control.listMappings(subscription.account, subscription.name)) {
          const name = `${key}/${mapping.dataset}`
          if (mapping.origin === "config" && !named.mappings.has(name)) {
            yield* control.deleteMapping(actor, mapping.account, mapping.subscription, mapping.dataset)
            recorder.record("mappings", "removed", name)
          }
        }
      }
    }

    for (const account of accounts) {
      const shares = yield* everything((page) => control.listShares(account.name, page))
      for (const share of shares) {
        const key = `${share.account}/${share.name}`
        if (share.origin === "config" && !named.shares.has(key)) {
          yield* control.deleteShare(actor, share.account, share.name)
          recorder.record("shares", "removed", key)
          continue
        }
        const invitations = yield* everything((page) =>
          control.listInvitations({ account: share.account, share: share.name, now }, page)
        )
        for (const invitation of invitations) {
          const name = `${key}/${invitation.to}`
          if (invitation.origin === "config" && invitation.status === "Pending" && !named.invitations.has(name)) {
            yield* control.withdrawInvitation(actor, invitation.id, now)
            recorder.record("invitations", "removed", name)
          }
        }
        const datasets = yield* everything((page) => control.listDatasets(share.account, share.name, page))
        for (const dataset of datasets) {
          const name = `${key}/${dataset.name}`
          if (dataset.origin === "config" && !named.datasets.has(name)) {
            yield* control.deleteDataset(actor, dataset.account, dataset.share, dataset.name)
            recorder.record("datasets", "removed", name)
          }
        }
      }
    }

    for (const account of accounts) {
      const stores = yield* everything((page) => control.listStores(account.name, page))
      for (const store of stores) {
        const key = `${store.account}/${store.name}`
        if (store.origin === "config" && !named.stores.has(key)) {
          yield* control.deleteStore(actor, store.account, store.name)
          recorder.record("stores", "removed", key)
        }
      }
    }

    for (const account of accounts) {
      if (account.origin === "config" && !named.accounts.has(account.name)) {
        yield* control.deleteAccount(actor, account.name)
        recorder.record("accounts", "removed", account.name)
      }
    }
  })
