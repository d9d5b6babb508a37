/**
 * First phase: the config's own keys, decoded piece by piece (each account, store,
 * share head, dataset, subscription head and mapping on its own, and each again
 * without its failing keys) so that one mistake does not hide the next. Connector
 * settings stay open records here.
 */
import * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import {
  Account,
  Dataset,
  MappingEntry,
  NAME_PATTERN,
  ShareHead,
  StoreEntry,
  SubscriptionHead,
  TopLevel
} from "../ConfigSchema.js"
import { showValue } from "./Issues.js"
import type { Lenient, Reporter } from "./Reporter.js"

export interface Indexed<A> {
  readonly index: number
  readonly value: A
}

export interface DecodedShare {
  readonly index: number
  /** `account/name` as written, when both are names. */
  readonly id: string | undefined
  readonly account: string | undefined
  readonly head: Option.Option<Lenient<typeof ShareHead.Type>>
  /** The datasets that decoded, by their index in the share. */
  readonly datasets: ReadonlyArray<Indexed<Lenient<typeof Dataset.Type>>>
  /** Every dataset name written, decoded or not. */
  readonly datasetNames: ReadonlyArray<string>
}

export interface DecodedSubscription {
  readonly index: number
  readonly account: string | undefined
  /** The share reference as written, when it has the ACCOUNT/SHARE form. */
  readonly share: string | undefined
  readonly head: Option.Option<Lenient<typeof SubscriptionHead.Type>>
  /** Every mapping by dataset name; None where it did not decode. */
  readonly mappings: ReadonlyArray<readonly [string, Option.Option<Lenient<typeof MappingEntry.Type>>]>
}

export interface Decoded {
  /** The document as written, after interpolation: the entries the control store keeps come from it. */
  readonly raw: Readonly<Record<string, unknown>>
  readonly top: typeof TopLevel.Type
  /** Every name present in the file, decoded or not: a reference to one is never reported as unknown. */
  readonly names: {
    readonly accounts: ReadonlySet<string>
    readonly stores: ReadonlySet<string>
    /** `account/name` */
    readonly shares: ReadonlySet<string>
    /** False when a share's account or name is missing or invalid: any reference could be to it. */
    readonly sharesComplete: boolean
  }
  readonly accounts: ReadonlyMap<string, typeof Account.Type>
  readonly stores: ReadonlyMap<string, typeof StoreEntry.Type>
  readonly shares: ReadonlyArray<DecodedShare>
  readonly subscriptions: ReadonlyArray<DecodedSubscription>
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const nameIn = (value: unknown, key: string): string | undefined => {
  const field = isRecord(value) ? value[key] : undefined
  return typeof field === "string" && NAME_PATTERN.test(field) ? field : undefined
}

const TOP_LEVEL_KEYS = Object.keys(TopLevel.fields)

/**
 * The top level, decoded once with every problem reported, then once more without the
 * keys that failed, so that the rest of the file is still checked against defaults.
 */
const decodeTopLevel = (reporter: Reporter, root: Record<string, unknown>): Option.Option<typeof TopLevel.Type> => {
  const failed = new Set<string>()
  const first = reporter.decode(TopLevel, root, [], (path) => failed.add(String(path[0] ?? "")))
  if (Option.isSome(first)) return first
  const kept: Record<string, unknown> = { version: 1 }
  for (const key of TOP_LEVEL_KEYS) {
    if (key !== "version" && !failed.has(key) && root[key] !== undefined) kept[key] = root[key]
  }
  return reporter.decodeSilently(TopLevel, kept)
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

const decodeShare = (reporter: Reporter, value: unknown, index: number): DecodedShare => {
  const at = ["shares", index]
  const head = reporter.decodeLenient(ShareHead, value, at)
  const rawDatasets = isRecord(value) && Array.isArray(value.datasets) ? (value.datasets as ReadonlyArray<unknown>) : []
  const account = nameIn(value, "account")
  const name = nameIn(value, "name")
  return {
    index,
    id: account !== undefined && name !== undefined ? `${account}/${name}` : undefined,
    account,
    head,
    datasets: rawDatasets.flatMap((dataset, i) =>
      Option.match(reporter.decodeLenient(Dataset, dataset, [...at, "datasets", i]), {
        onNone: () => [],
        onSome: (decoded) => [{ index: i, value: decoded }]
      })
    ),
    datasetNames: rawDatasets.flatMap((dataset) => {
      const datasetName = nameIn(dataset, "name")
      return datasetName === undefined ? [] : [datasetName]
    })
  }
}

const SHARE_REFERENCE = /^[a-z0-9][a-z0-9_-]*\/[a-z0-9][a-z0-9_-]*$/

const decodeSubscription = (reporter: Reporter, value: unknown, index: number): DecodedSubscription => {
  const at = ["subscriptions", index]
  const head = reporter.decodeLenient(SubscriptionHead, value, at)
  const share = isRecord(value) && typeof value.share === "string" ? value.share : undefined
  const rawMappings = isRecord(value) && isRecord(value.mappings) ? value.mappings : {}
  return {
    index,
    account: nameIn(value, "account"),
    share: share !== undefined && SHARE_REFERENCE.test(share) ? share : undefined,
    head,
    mappings: Object.entries(rawMappings).map(
      ([dataset, mapping]) =>
        [dataset, reporter.decodeLenient(MappingEntry, mapping, [...at, "mappings", dataset])] as const
    )
  }
}

export const decodeDocument = (reporter: Reporter, root: unknown): Option.Option<Decoded> => {
  if (!isRecord(root)) {
    reporter.at([], `expected a map with version: 1, stores, shares and subscriptions, got ${showValue(root)}`)
    return Option.none()
  }
  return Option.map(decodeTopLevel(reporter, root), (top) => {
    const shares = top.shares.map((share, index) => decodeShare(reporter, share, index))
    return {
      raw: root,
      top,
      names: {
        accounts: new Set(Object.keys(top.accounts)),
        stores: new Set(Object.keys(top.stores)),
        shares: new Set(shares.flatMap((share) => (share.id === undefined ? [] : [share.id]))),
        sharesComplete: shares.every(
          (share) => share.id !== undefined && share.account !== undefined && Object.hasOwn(top.accounts, share.account)
        )
      },
      accounts: decodeNamed(reporter, "accounts", "account", top.accounts, Account),
      stores: decodeNamed(reporter, "stores", "store", top.stores, StoreEntry),
      shares,
      subscriptions: top.subscriptions.map((subscription, index) => decodeSubscription(reporter, subscription, index))
    }
  })
}
