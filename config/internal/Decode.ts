/**
 * First phase: the config's own keys, decoded piece by piece (each account, store,
 * share and subscription on its own) so that one broken share does not hide the
 * problems of the next. Connector settings stay open records here.
 */
import * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import { Account, NAME_PATTERN, Share, StoreEntry, Subscription, TopLevel } from "../ConfigSchema.js"
import { showValue } from "./Issues.js"
import type { Reporter } from "./Reporter.js"

export interface Indexed<A> {
  readonly index: number
  readonly value: A
}

export interface Decoded {
  readonly top: typeof TopLevel.Type
  /** Every name present in the file, decoded or not: a reference to one is never reported as unknown. */
  readonly names: {
    readonly accounts: ReadonlySet<string>
    readonly stores: ReadonlySet<string>
    /** `account/name` */
    readonly shares: ReadonlySet<string>
  }
  readonly accounts: ReadonlyMap<string, typeof Account.Type>
  readonly stores: ReadonlyMap<string, typeof StoreEntry.Type>
  readonly shares: ReadonlyArray<Indexed<typeof Share.Type>>
  readonly subscriptions: ReadonlyArray<Indexed<typeof Subscription.Type>>
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const TOP_LEVEL_KEYS = Object.keys(TopLevel.fields)

/**
 * The top level, decoded once with every problem reported, then once more without the
 * keys that failed, so that the rest of the file is still checked against defaults.
 */
const decodeTopLevel = (reporter: Reporter, root: Record<string, unknown>): Option.Option<typeof TopLevel.Type> => {
  const before = reporter.issues.length
  const first = reporter.decode(TopLevel, root, [])
  if (Option.isSome(first)) return first
  const failed = new Set(
    reporter.issues.slice(before).map((issue) => issue.path.split(/[.[]/)[0] ?? "")
  )
  const kept: Record<string, unknown> = { version: 1 }
  for (const key of TOP_LEVEL_KEYS) {
    if (key !== "version" && !failed.has(key) && root[key] !== undefined) kept[key] = root[key]
  }
  const scratch = reporter.issues.length
  const second = reporter.decode(TopLevel, kept, [])
  // Anything reported by the second pass was already reported by the first.
  reporter.issues.splice(scratch)
  return second
}

const decodeNamed = <A, I>(
  reporter: Reporter,
  section: string,
  kind: string,
  entries: Record<string, unknown>,
  schema: Schema.Schema<A, I, never>
): ReadonlyMap<string, A> => {
  const decoded = new Map<string, A>()
  for (const [name, value] of Object.entries(entries)) {
    if (!NAME_PATTERN.test(name)) {
      reporter.at(
        [section, name],
        `${JSON.stringify(name)} is not a valid ${kind} name: use lowercase letters, digits, - and _, starting with a letter or digit`,
        "key"
      )
    }
    const result = reporter.decode(schema, value, [section, name])
    if (Option.isSome(result)) decoded.set(name, result.value)
  }
  return decoded
}

const decodeList = <A, I>(
  reporter: Reporter,
  section: string,
  values: ReadonlyArray<unknown>,
  schema: Schema.Schema<A, I, never>
): ReadonlyArray<Indexed<A>> =>
  values.flatMap((value, index) => {
    const result = reporter.decode(schema, value, [section, index])
    return Option.isSome(result) ? [{ index, value: result.value }] : []
  })

const shareNames = (shares: ReadonlyArray<unknown>): ReadonlySet<string> =>
  new Set(
    shares.flatMap((share) =>
      isRecord(share) && typeof share.account === "string" && typeof share.name === "string"
        ? [`${share.account}/${share.name}`]
        : []
    )
  )

export const decodeDocument = (reporter: Reporter, root: unknown): Option.Option<Decoded> => {
  if (!isRecord(root)) {
    reporter.at([], `expected a map with version: 1, stores, shares and subscriptions, got ${showValue(root)}`)
    return Option.none()
  }
  return Option.map(decodeTopLevel(reporter, root), (top) => ({
    top,
    names: {
      accounts: new Set(Object.keys(top.accounts)),
      stores: new Set(Object.keys(top.stores)),
      shares: shareNames(top.shares)
    },
    accounts: decodeNamed(reporter, "accounts", "account", top.accounts, Account),
    stores: decodeNamed(reporter, "stores", "store", top.stores, StoreEntry),
    shares: decodeList(reporter, "shares", top.shares, Share),
    subscriptions: decodeList(reporter, "subscriptions", top.subscriptions, Subscription)
  }))
}
