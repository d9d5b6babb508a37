/**
 * From the control store to what the run path runs: a subscription's share, datasets,
 * stores and mappings are assembled into a share config document, written as YAML, and
 * loaded by the very loader that reads config files (`parseConfigText`, then
 * `resolveConfig` with Ferry's connectors and the served config's plugins), with an
 * empty environment. A subscription run by the service therefore means what `ferry run`
 * would make of the same config, and every check of a file applies to the API's writes.
 *
 * The same assembly checks a single write before the API saves it: a store for an
 * account, a dataset for a share (its source store must be the provider's), a mapping
 * for a subscription (its store must be the consumer's). Problems come back with the
 * path of the field at fault as the API shows it: `root`, `source.table` and `store`
 * in a checked body; `mappings.sales.store`, `datasets.sales.source.table` and
 * `stores.out.root` in a plan.
 *
 * Store names are unique per account only: when the provider and the consumer each
 * use a store of one name, the consumer's takes the name `ACCOUNT-NAME` in the
 * document, and the paths and messages say the original name again.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as path from "node:path"
import * as YAML from "yaml"
import type { ConfigIssue } from "../../config/ConfigError.js"
import type { FerryConfig } from "../../config/FerryConfig.js"
import { parseConfigText, resolveConfig } from "../../config/LoadConfig.js"
import type { Plugin } from "../../core/Plugin.js"
import { builtins as ferryBuiltins } from "../Builtins.js"
import type { ControlError, Spec, Store } from "../control/ControlStore.js"
import { ControlStore, NotFoundError, subscriptionKey } from "../control/ControlStore.js"
import { PlanError } from "./Executor.js"

/** A problem with a field, at the path the API shows it (empty for the whole body). */
export interface PlanIssue {
  readonly path: string
  readonly message: string
}

export interface PlannerOptions {
  /** Every connector a plan may use: Ferry's own and the served config's plugins. */
  readonly builtins: ReadonlyArray<Plugin>
  /** Where relative paths in store settings resolve: the served config's folder. */
  readonly baseDir: string
}

export class Planner extends Context.Tag("ferry/Planner")<
  Planner,
  {
    /** The subscription's config, ready for `runSubscription`; PlanError lists everything that stops it. */
    readonly plan: (subscription: {
      readonly account: string
      readonly name: string
    }) => Effect.Effect<FerryConfig, PlanError | ControlError>
    /** A store entry as the API receives it (`type` and the connector's settings), for the account. */
    readonly checkStore: (
      account: string,
      name: string,
      entry: Spec
    ) => Effect.Effect<ReadonlyArray<PlanIssue>, ControlError>
    /** A dataset entry (`source`, `columns`, `incremental`…) for the provider's share; its store must be the provider's. */
    readonly checkDataset: (
      provider: string,
      share: string,
      name: string,
      spec: Spec
    ) => Effect.Effect<ReadonlyArray<PlanIssue>, ControlError>
    /** A mapping entry for one dataset of the consumer's subscription; its store must be the consumer's. */
    readonly checkMapping: (
      consumer: string,
      subscription: string,
      dataset: string,
      spec: Spec
    ) => Effect.Effect<ReadonlyArray<PlanIssue>, ControlError>
  }
>() {}

// ---- paths -------------------------------------------------------------------------

type Segment = string | number

const PLAIN_KEY = /^[A-Za-z0-9_-]+$/

/** `mappings.sales.store`, `casts["unit price"]`, `key[0]`. */
export const formatIssuePath = (segments: ReadonlyArray<Segment>): string => {
  let text = ""
  for (const segment of segments) {
    if (typeof segment === "number") text += `[${segment}]`
    else if (PLAIN_KEY.test(segment)) text += text === "" ? segment : `.${segment}`
    else text += `[${JSON.stringify(segment)}]`
  }
  return text
}

const SEGMENT = /^(?:\.?([A-Za-z0-9_-]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\])/

/** The inverse of the loader's path format. */
const parseIssuePath = (text: string): ReadonlyArray<Segment> => {
  const segments: Array<Segment> = []
  let rest = text
  while (rest !== "") {
    const match = SEGMENT.exec(rest)
    if (match === null) return [text]
    segments.push(match[1] ?? (match[2] !== undefined ? Number(match[2]) : (JSON.parse(match[3]!) as string)))
    rest = rest.slice(match[0].length)
  }
  return segments
}

const ENV_REFERENCE = "${env:"

/**
 * Every string in a value sent to the API that holds `${env:`: the service's
 * environment is its operator's, and no tenant's value may read from it.
 */
export const envReferences = (value: unknown, at: ReadonlyArray<Segment> = []): ReadonlyArray<PlanIssue> => {
  if (typeof value === "string") {
    return value.includes(ENV_REFERENCE)
      ? [
          {
            path: formatIssuePath(at),
            message:
              "${env:…} references are not allowed here: the service's environment is not readable through the API"
          }
        ]
      : []
  }
  if (Array.isArray(value)) return value.flatMap((item, index) => envReferences(item, [...at, index]))
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([key, item]) => envReferences(item, [...at, key]))
  }
  return []
}

/** Strings kept as they are through interpolation: `${env:` is written `$${env:`. */
const escapeReferences = (value: unknown): unknown => {
  if (typeof value === "string") return value.split(ENV_REFERENCE).join(`$${ENV_REFERENCE}`)
  if (Array.isArray(value)) return value.map(escapeReferences)
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, escapeReferences(item)]))
  }
  return value
}

const stringsIn = (value: unknown): ReadonlyArray<string> =>
  typeof value === "string"
    ? [value]
    : Array.isArray(value)
      ? value.flatMap(stringsIn)
      : typeof value === "object" && value !== null
        ? Object.values(value).flatMap(stringsIn)
        : []

/**
 * A message about a store's settings with their values taken out: a setting may be a
 * secret (a password, a URL with one), and messages may quote what they rejected.
 */
const redactSettings = (message: string, settings: Spec): string => {
  const texts = stringsIn(settings)
    .flatMap((text) => [JSON.stringify(text), ...(text.length >= 8 ? [text] : [])])
    .sort((a, b) => b.length - a.length)
  let redacted = message
  for (const text of texts) redacted = redacted.split(text).join('"(redacted)"')
  return redacted
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

// ---- the document --------------------------------------------------------------------

interface SliceStore {
  readonly account: string
  readonly name: string
  readonly type: string
  readonly settings: Spec
}

interface SliceDataset {
  readonly name: string
  readonly spec: Spec
}

/** What a document is assembled from: the accounts, stores, share and subscription concerned. */
interface Slice {
  readonly provider: string
  readonly consumer?: string
  readonly stores: ReadonlyArray<SliceStore>
  readonly share?: { readonly name: string; readonly datasets: ReadonlyArray<SliceDataset> }
  readonly subscription?: { readonly name: string; readonly mappings: ReadonlyMap<string, Spec> }
}

/**
 * How each store is named in the document: by its own name, unless a store of another
 * account has it too, in which case the one not the provider's becomes `ACCOUNT-NAME`.
 */
const documentNames = (stores: ReadonlyArray<SliceStore>, provider: string) => {
  const id = (account: string, name: string) => `${account}/${name}`
  const taken = new Set(stores.map((store) => store.name))
  const names = new Map<string, string>()
  const renamed: Array<{ readonly name: string; readonly store: SliceStore }> = []
  for (const store of stores) {
    const clash =
      store.account !== provider && stores.some((other) => other.account !== store.account && other.name === store.name)
    if (!clash) {
      names.set(id(store.account, store.name), store.name)
      continue
    }
    let name = `${store.account}-${store.name}`
    for (let n = 2; taken.has(name); n++) name = `${store.account}-${store.name}-${n}`
    taken.add(name)
    names.set(id(store.account, store.name), name)
    renamed.push({ name, store })
  }
  return { of: (account: string, name: string) => names.get(id(account, name)) ?? name, renamed }
}

const withStore = (spec: unknown, store: (name: string) => string): unknown =>
  isRecord(spec) && typeof spec.store === "string" ? { ...spec, store: store(spec.store) } : spec

const assemble = (slice: Slice, names: ReturnType<typeof documentNames>) => {
  const accounts = [slice.provider, ...(slice.consumer === undefined ? [] : [slice.consumer])]
  const share = slice.share
  const subscription = slice.subscription
  return {
    version: 1,
    accounts: Object.fromEntries(accounts.map((account) => [account, {}])),
    stores: Object.fromEntries(
      slice.stores.map((store) => [
        names.of(store.account, store.name),
        { ...store.settings, type: store.type, account: store.account }
      ])
    ),
    shares:
      share === undefined
        ? []
        : [
            {
              name: share.name,
              account: slice.provider,
              datasets: share.datasets.map((dataset) => ({
                ...dataset.spec,
                name: dataset.name,
                source: withStore(dataset.spec.source, (store) => names.of(slice.provider, store))
              }))
            }
          ],
    subscriptions:
      share === undefined || subscription === undefined || slice.consumer === undefined
        ? []
        : [
            {
              name: subscription.name,
              account: slice.consumer,
              share: `${slice.provider}/${share.name}`,
              accept_terms: true,
              // A run does not depend on its trigger, and the share's schedule is not part of a plan.
              trigger: "manual",
              mappings: Object.fromEntries(
                [...subscription.mappings].map(([dataset, spec]) => [
                  dataset,
                  withStore(spec, (store) => names.of(slice.consumer!, store))
                ])
              )
            }
          ]
  }
}

/** Where an issue of the document belongs, as the caller shows it; None to leave it out. */
type Place = (segments: ReadonlyArray<Segment>) => Option.Option<ReadonlyArray<Segment>>

interface Loaded {
  readonly config: Option.Option<FerryConfig>
  readonly issues: ReadonlyArray<PlanIssue>
}

export const make = (options: PlannerOptions) =>
  Effect.gen(function* () {
    const control = yield* ControlStore
    const file = path.join(options.baseDir, "ferry-service.yaml")

    /** Loads the slice's document; issues placed by `place`, store names and settings as their owners wrote them. */
    const load = (slice: Slice, place: Place): Effect.Effect<Loaded> =>
      Effect.gen(function* () {
        const names = documentNames(slice.stores, slice.provider)
        const document = escapeReferences(assemble(slice, names))
        const text = YAML.stringify(document, { aliasDuplicateObjects: false })
        const loaded = yield* Either.match(parseConfigText(file, text, {}, "the service's plan"), {
          onLeft: (error) => Effect.fail(error),
          onRight: (parsed) => resolveConfig(parsed, options.builtins)
        }).pipe(Effect.either)
        if (Either.isRight(loaded)) return { config: Option.some(loaded.right), issues: [] }
        const storeOf = new Map(slice.stores.map((store) => [names.of(store.account, store.name), store]))
        const issues = loaded.left.issues.flatMap((issue: ConfigIssue) => {
          const segments = parseIssuePath(issue.path)
          const store = segments[0] === "stores" ? storeOf.get(String(segments[1])) : undefined
          const original: ReadonlyArray<Segment> =
            store === undefined ? segments : ["stores", store.name, ...segments.slice(2)]
          let message = store === undefined ? issue.message : redactSettings(issue.message, store.settings)
          for (const { name, store: renamed } of names.renamed) {
            message = message.split(JSON.stringify(name)).join(`${JSON.stringify(renamed.name)} of ${renamed.account}`)
          }
          // Two stores share the name in the paths: say whose this one is.
          if (store !== undefined && names.renamed.some((entry) => entry.store.name === store.name)) {
            message = `${store.account}'s store: ${message}`
          }
          return Option.match(place(original), {
            onNone: () => [],
            onSome: (placed) => [{ path: formatIssuePath(placed), message }]
          })
        })
        return { config: Option.none(), issues }
      })

    const storeOf = (account: string, name: string) =>
      Effect.map(
        control.getStore(account, name),
        Option.map((store: Store): SliceStore => ({
          account: store.account,
          name: store.name,
          type: store.type,
          settings: store.settings
        }))
      )

    const allDatasets = (provider: string, share: string) =>
      Effect.gen(function* () {
        const datasets: Array<SliceDataset> = []
        let after: string | undefined
        do {
          const page = yield* control.listDatasets(provider, share, {
            limit: 1000,
            ...(after === undefined ? {} : { after })
          })
          datasets.push(...page.items.map((dataset) => ({ name: dataset.name, spec: dataset.spec })))
          after = page.next
        } while (after !== undefined)
        return datasets
      })

    /** Issues the loader reports again at a path already reported give no more information. */
    const merge = (own: ReadonlyArray<PlanIssue>, loaded: ReadonlyArray<PlanIssue>) => {
      const reported = new Set(own.map((issue) => issue.path))
      return [...own, ...loaded.filter((issue) => !reported.has(issue.path))]
    }

    const checkStore = (account: string, name: string, entry: Spec) =>
      Effect.gen(function* () {
        const own: Array<PlanIssue> = [...envReferences(entry)]
        if (entry.account !== undefined) {
          own.push({ path: "account", message: "a store belongs to the account that writes it: leave account out" })
        }
        const { account: _, type, ...settings } = entry
        const loaded = yield* load(
          {
            provider: account,
            stores: [{ account, name, type: typeof type === "string" ? type : "", settings }]
          },
          (segments) => (segments[0] === "stores" ? Option.some(segments.slice(2)) : Option.some(segments))
        )
        return merge(own, loaded.issues)
      })

    const checkDataset = (provider: string, share: string, name: string, spec: Spec) =>
      Effect.gen(function* () {
        const own: Array<PlanIssue> = [...envReferences(spec)]
        const source = spec.source
        const stores: Array<SliceStore> = []
        if (isRecord(source) && typeof source.store === "string") {
          const store = yield* storeOf(provider, source.store)
          if (Option.isSome(store)) stores.push(store.value)
          else
            own.push({
              path: "source.store",
              message: `no store ${JSON.stringify(source.store)} in account ${provider}`
            })
        }
        const loaded = yield* load(
          { provider, stores, share: { name: share, datasets: [{ name, spec }] } },
          (segments) =>
            segments[0] === "shares" && segments[2] === "datasets"
              ? Option.some(segments.slice(4))
              : segments[0] === "stores"
                ? Option.some(["source", "store"])
                : Option.none()
        )
        return merge(own, loaded.issues)
      })

    const checkMapping = (consumer: string, subscriptionName: string, dataset: string, spec: Spec) =>
      Effect.gen(function* () {
        const own: Array<PlanIssue> = [...envReferences(spec)]
        const subscription = yield* control.getSubscription(consumer, subscriptionName)
        if (Option.isNone(subscription)) {
          return yield* new NotFoundError({
            resource: `subscription:${consumer}/${subscriptionName}`,
            message: `no subscription ${subscriptionName} in account ${consumer}`
          })
        }
        const { provider, share } = subscription.value
        const shared = yield* control.getDataset(provider, share, dataset)
        if (Option.isNone(shared)) {
          return [{ path: "", message: `share ${provider}/${share} has no dataset ${JSON.stringify(dataset)}` }]
        }
        const stores: Array<SliceStore> = []
        const source = shared.value.spec.source
        if (isRecord(source) && typeof source.store === "string") {
          const store = yield* storeOf(provider, source.store)
          if (Option.isSome(store)) stores.push(store.value)
        }
        if (typeof spec.store === "string") {
          const store = yield* storeOf(consumer, spec.store)
          if (Option.isSome(store)) {
            if (!stores.some((s) => s.account === consumer && s.name === spec.store)) stores.push(store.value)
          } else {
            own.push({ path: "store", message: `no store ${JSON.stringify(spec.store)} in account ${consumer}` })
          }
        }
        const loaded = yield* load(
          {
            provider,
            consumer,
            stores,
            share: { name: share, datasets: [{ name: dataset, spec: shared.value.spec }] },
            subscription: { name: subscriptionName, mappings: new Map([[dataset, spec]]) }
          },
          (segments) => {
            if (segments[0] === "subscriptions" && segments[2] === "mappings") return Option.some(segments.slice(4))
            // Deletes reconciled into a store that cannot delete rows: the mapping's store is at fault.
            if (segments[0] === "shares" && segments.at(-1) === "deletes" && segments.at(-2) === "incremental") {
              return Option.some(["store"])
            }
            // The provider's side is the provider's to fix, and its settings are not the consumer's to read.
            return Option.none()
          }
        )
        return merge(own, loaded.issues)
      })

    const plan = (key: { readonly account: string; readonly name: string }) =>
      Effect.gen(function* () {
        const name = subscriptionKey(key)
        const found = yield* control.getSubscription(key.account, key.name)
        if (Option.isNone(found)) {
          return yield* new NotFoundError({
            resource: `subscription:${name}`,
            message: `no subscription ${key.name} in account ${key.account}`
          })
        }
        const subscription = found.value
        const { provider } = subscription
        const fail = (issues: ReadonlyArray<PlanIssue>) =>
          new PlanError({
            subscription: name,
            message: `subscription ${name} cannot run: ${issues
              .slice(0, 3)
              .map((issue) => (issue.path === "" ? issue.message : `${issue.path}: ${issue.message}`))
              .join("; ")}${issues.length > 3 ? ` (and ${issues.length - 3} more)` : ""}`,
            issues
          })
        const share = yield* control.getShare(provider, subscription.share)
        if (Option.isNone(share)) {
          return yield* fail([{ path: "share", message: `share ${provider}/${subscription.share} no longer exists` }])
        }
        if (share.value.kind === "in_place") {
          return yield* fail([
            { path: "share", message: `share ${provider}/${subscription.share} is read in place: it has no snapshots` }
          ])
        }
        const datasets = yield* allDatasets(provider, subscription.share)
        const mappingList = yield* control.listMappings(key.account, key.name)
        const own: Array<PlanIssue> = []
        const stores = new Map<string, SliceStore>()
        const addStore = (account: string, storeName: string, at: string, missing: string) =>
          Effect.gen(function* () {
            if (stores.has(`${account}/${storeName}`)) return
            const store = yield* storeOf(account, storeName)
            if (Option.isSome(store)) stores.set(`${account}/${storeName}`, store.value)
            else own.push({ path: at, message: missing })
          })
        const mappings = new Map<string, Spec>()
        for (const dataset of datasets) {
          const source = dataset.spec.source
          if (isRecord(source) && typeof source.store === "string") {
            yield* addStore(
              provider,
              source.store,
              formatIssuePath(["datasets", dataset.name, "source", "store"]),
              `the share's store ${JSON.stringify(source.store)} no longer exists`
            )
          }
          const mapping = mappingList.find((candidate) => candidate.dataset === dataset.name)
          if (mapping === undefined) {
            own.push({
              path: formatIssuePath(["mappings", dataset.name]),
              message: `dataset ${JSON.stringify(dataset.name)} has no mapping`
            })
            continue
          }
          mappings.set(dataset.name, mapping.spec)
          if (typeof mapping.spec.store === "string") {
            yield* addStore(
              key.account,
              mapping.spec.store,
              formatIssuePath(["mappings", dataset.name, "store"]),
              `no store ${JSON.stringify(mapping.spec.store)} in account ${key.account}`
            )
          }
        }
        const loaded = yield* load(
          {
            provider,
            consumer: key.account,
            stores: [...stores.values()],
            share: { name: subscription.share, datasets },
            subscription: { name: key.name, mappings }
          },
          (segments) => {
            if (segments[0] === "shares" && segments[2] === "datasets" && typeof segments[3] === "number") {
              return Option.some(["datasets", datasets[segments[3]]?.name ?? segments[3], ...segments.slice(4)])
            }
            if (segments[0] === "shares") return Option.some(["share", ...segments.slice(2)])
            if (segments[0] === "subscriptions") {
              // Datasets without a mapping were reported one by one above.
              return segments.length === 3 && segments[2] === "mappings"
                ? Option.none()
                : Option.some(segments.slice(2))
            }
            return Option.some(segments)
          }
        )
        const issues = merge(own, loaded.issues)
        if (issues.length > 0 || Option.isNone(loaded.config)) return yield* fail(issues)
        return loaded.config.value
      })

    return Planner.of({ plan, checkStore, checkDataset, checkMapping })
  })

/** The planner over the control store, with the given connectors and base folder. */
export const layer = (options: PlannerOptions): Layer.Layer<Planner, never, ControlStore> =>
  Layer.effect(Planner, make(options))

/** The planner for a served config: Ferry's connectors and the config's plugins; paths relative to its folder. */
export const layerFor = (config: FerryConfig): Layer.Layer<Planner, never, ControlStore> =>
  layer({ builtins: [...ferryBuiltins, ...config.plugins.map((loaded) => loaded.plugin)], baseDir: config.baseDir })
