/**
 * Second phase: connector settings decoded with the Schemas of the registry, names
 * resolved across the file, filters parsed. Builds the FerryConfig as it goes; the
 * caller keeps it only when nothing was reported.
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as path from "node:path"
import { parseFilter } from "../../core/Filter.js"
import type { Registry, StoreType } from "../../core/Registry.js"
import type { IncrementalSpec } from "../../core/Source.js"
import { CsvOptions, JsonlOptions, ParquetOptions } from "../../sinks/formats/Options.js"
import type { Schedule as ScheduleEntry, Share as ShareEntry, Subscription as SubscriptionEntry } from "../ConfigSchema.js"
import { FORMAT_KEYS } from "../ConfigSchema.js"
import type * as Model from "../FerryConfig.js"
import type { Decoded, Indexed } from "./Decode.js"
import { suggestion } from "./Issues.js"
import type { Reporter } from "./Reporter.js"
import type { Path } from "./Yaml.js"
import { positionInScalar, scalarAt } from "./Yaml.js"

interface ResolvedStore extends Model.Store {
  readonly storeType: StoreType
}

const list = (names: Iterable<string>): string => {
  const all = [...names]
  return all.length === 0 ? "(none)" : all.join(", ")
}

const without = (record: Record<string, unknown>, keys: ReadonlyArray<string>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(record).filter(([key]) => !keys.includes(key)))

const duplicates = (values: ReadonlyArray<string>): ReadonlyArray<string> =>
  values.filter((value, index) => values.indexOf(value) !== index)

export const stateLocation = (text: string, baseDir: string): Model.StateLocation => {
  if (!text.startsWith("sqlite:")) return { kind: "postgres", url: Redacted.make(text) }
  const file = text.slice("sqlite:".length)
  return { kind: "sqlite", file: file === ":memory:" ? file : path.resolve(baseDir, file) }
}

const schedule = (entry: ScheduleEntry): Model.Schedule => {
  if (entry.cron !== undefined) return { kind: "cron", cron: entry.cron.trim().split(/\s+/).join(" ") }
  const [hour = 0, minute = 0] = (entry.at ?? "00:00").split(":").map(Number)
  return { kind: "every", every: entry.every ?? "day", at: { hour, minute } }
}

export class Resolver {
  private readonly stores = new Map<string, ResolvedStore>()

  constructor(
    private readonly reporter: Reporter,
    private readonly decoded: Decoded,
    private readonly registry: Registry,
    /** Set when a plugin failed to load: an unknown type may be one it would have brought. */
    private readonly pluginsFailed: boolean
  ) {}

  private checkAccount(account: string, at: Path): void {
    const known = this.decoded.names.accounts
    if (known.has(account)) return
    this.reporter.at(
      at,
      `unknown account ${JSON.stringify(account)}${suggestion(account, known)}; accounts are: ${list(known)}`
    )
  }

  /** The store a dataset or mapping names, once it is known to exist and decode. */
  private storeFor(name: string, at: Path): ResolvedStore | undefined {
    const known = this.decoded.names.stores
    if (!known.has(name)) {
      this.reporter.at(at, `unknown store ${JSON.stringify(name)}${suggestion(name, known)}; stores are: ${list(known)}`)
    }
    return this.stores.get(name)
  }

  resolveStores(): ReadonlyMap<string, Model.Store> {
    const types = [...this.registry.types.keys()]
    for (const [name, entry] of this.decoded.stores) {
      this.checkAccount(entry.account, ["stores", name, "account"])
      const storeType = this.registry.types.get(entry.type)
      if (storeType === undefined) {
        this.reporter.at(
          ["stores", name, "type"],
          `unknown store type ${JSON.stringify(entry.type)}${suggestion(entry.type, types)}; known types are: ${list(types)}` +
            (this.pluginsFailed ? " (a plugin failed to load and may be the one that brings it)" : "")
        )
        continue
      }
      const config = this.reporter.decode(storeType.storeConfig, without(entry, ["type", "account"]), ["stores", name])
      if (Option.isSome(config)) {
        this.stores.set(name, { name, type: entry.type, account: entry.account, config: config.value, storeType })
      }
    }
    return this.stores
  }

  private filter(text: string, at: Path): Option.Option<Model.Dataset["filter"]> {
    const parsed = parseFilter(text)
    if (Either.isRight(parsed)) return Option.some(Option.some(parsed.right))
    const scalar = scalarAt(this.reporter.yaml, at)
    const exact = scalar !== undefined && !this.reporter.secrets.isSecret(at)
    this.reporter.quoting(
      at,
      `invalid filter: ${parsed.left.message}`,
      exact ? positionInScalar(this.reporter.yaml, scalar, parsed.left.offset) : undefined
    )
    return Option.none()
  }

  private dataset(
    share: ShareEntry,
    dataset: ShareEntry["datasets"][number],
    at: Path
  ): Model.Dataset | undefined {
    let ok = true
    const fail = (where: Path, message: string) => {
      ok = false
      this.reporter.at(where, message)
    }
    const sourceAt = [...at, "source"]
    const store = this.storeFor(dataset.source.store, [...sourceAt, "store"])
    let sourceConfig: unknown
    if (store === undefined) {
      ok = false
    } else if (store.account !== share.account) {
      fail(
        [...sourceAt, "store"],
        `store ${JSON.stringify(store.name)} belongs to account ${JSON.stringify(store.account)}, not to the share's account ${JSON.stringify(share.account)}`
      )
    } else if (store.storeType.source === undefined) {
      fail(
        [...sourceAt, "store"],
        `store ${JSON.stringify(store.name)} is of type ${JSON.stringify(store.type)}, which can be written to but not read from`
      )
    } else {
      const decoded = this.reporter.decode(
        store.storeType.source.datasetConfig,
        without(dataset.source, ["store"]),
        sourceAt
      )
      if (Option.isNone(decoded)) ok = false
      else sourceConfig = decoded.value
    }

    const columns = dataset.columns
    for (const column of new Set(duplicates(columns ?? []))) {
      fail([...at, "columns"], `column ${JSON.stringify(column)} is listed more than once`)
    }
    const projected = (column: string, where: Path, role: string) => {
      if (columns !== undefined && !columns.includes(column)) {
        fail(where, `${role} ${JSON.stringify(column)} is not among the dataset's columns: ${columns.join(", ")}`)
      }
    }
    for (const column of Object.keys(dataset.casts ?? {})) projected(column, [...at, "casts", column], "cast column")

    let incremental: Option.Option<IncrementalSpec> = Option.none()
    if (dataset.incremental !== undefined) {
      const { cursor, key, lookback } = dataset.incremental
      projected(cursor, [...at, "incremental", "cursor"], "cursor column")
      key.forEach((column, i) => projected(column, [...at, "incremental", "key", i], "key column"))
      for (const column of new Set(duplicates(key))) {
        fail([...at, "incremental", "key"], `key column ${JSON.stringify(column)} is listed more than once`)
      }
      incremental = Option.some({ cursor, key, lookback: Option.fromNullable(lookback) })
    }

    let filter: Model.Dataset["filter"] = Option.none()
    if (dataset.filter !== undefined) {
      const parsed = this.filter(dataset.filter, [...at, "filter"])
      if (Option.isNone(parsed)) ok = false
      else filter = parsed.value
    }

    if (!ok) return undefined
    return {
      name: dataset.name,
      source: { store: dataset.source.store, config: sourceConfig },
      columns: Option.fromNullable(columns),
      filter,
      filterText: Option.fromNullable(dataset.filter),
      casts: new Map(Object.entries(dataset.casts ?? {})),
      allowLossy: dataset.allow_lossy,
      incremental
    }
  }

  resolveShares(): ReadonlyArray<Indexed<Model.Share>> {
    const resolved: Array<Indexed<Model.Share>> = []
    const seen = new Map<string, number>()
    for (const { index, value: share } of this.decoded.shares) {
      const at: Path = ["shares", index]
      this.checkAccount(share.account, [...at, "account"])
      const id = `${share.account}/${share.name}`
      const first = seen.get(id)
      if (first !== undefined) {
        this.reporter.at([...at, "name"], `share ${id} is already defined at shares[${first}]`)
      } else {
        seen.set(id, index)
      }
      if (share.kind === "in_place" && share.schedule !== undefined) {
        this.reporter.at(
          [...at, "schedule"],
          "an in_place share has no schedule: consumers read the provider's data live",
          "key"
        )
      }
      const names = share.datasets.map((dataset) => dataset.name)
      share.datasets.forEach((dataset, i) => {
        if (names.indexOf(dataset.name) !== i) {
          this.reporter.at(
            [...at, "datasets", i, "name"],
            `dataset ${JSON.stringify(dataset.name)} is already defined at ${at[0]}[${index}].datasets[${names.indexOf(dataset.name)}]`
          )
        }
      })
      const invited = share.invitations.map((invitation) => invitation.to)
      share.invitations.forEach((invitation, i) => {
        if (invited.indexOf(invitation.to) !== i) {
          this.reporter.at([...at, "invitations", i, "to"], `${invitation.to} is already invited`)
        }
      })
      const datasets = share.datasets.flatMap((dataset, i) => {
        const model = this.dataset(share, dataset, [...at, "datasets", i])
        return model === undefined ? [] : [model]
      })
      resolved.push({
        index,
        value: {
          name: share.name,
          account: share.account,
          description: Option.fromNullable(share.description),
          terms: Option.fromNullable(share.terms),
          kind: share.kind,
          schedule: Option.map(Option.fromNullable(share.schedule), schedule),
          datasets,
          invitations: share.invitations.map((invitation) => ({
            to: invitation.to,
            expiresAt: Option.fromNullable(invitation.expires)
          }))
        }
      })
    }
    return resolved
  }

  private mapping(
    subscription: SubscriptionEntry,
    dataset: string,
    entry: SubscriptionEntry["mappings"][string],
    at: Path
  ): Model.Mapping | undefined {
    let ok = true
    const fail = (where: Path, message: string, anchor: "value" | "key" = "value") => {
      ok = false
      this.reporter.at(where, message, anchor)
    }
    const store = this.storeFor(entry.store, [...at, "store"])
    let target: unknown
    if (store === undefined) {
      ok = false
    } else if (store.account !== subscription.account) {
      fail(
        [...at, "store"],
        `store ${JSON.stringify(store.name)} belongs to account ${JSON.stringify(store.account)}, not to the subscription's account ${JSON.stringify(subscription.account)}`
      )
    } else if (store.storeType.sink === undefined) {
      fail(
        [...at, "store"],
        `store ${JSON.stringify(store.name)} is of type ${JSON.stringify(store.type)}, which can be read from but not written to`
      )
    } else {
      const decoded = this.reporter.decode(
        store.storeType.sink.targetConfig,
        without(entry, ["store", "format", ...FORMAT_KEYS]),
        at
      )
      if (Option.isNone(decoded)) ok = false
      else target = decoded.value
    }
    for (const key of FORMAT_KEYS) {
      if (entry[key] === undefined || entry.format === key) continue
      fail(
        [...at, key],
        entry.format === undefined
          ? `${key} options need format: ${key}`
          : `${key} options do not apply to format: ${entry.format}`,
        "key"
      )
    }
    if (!ok) return undefined
    const format: Model.Mapping["format"] = Option.map(
      Option.fromNullable(entry.format),
      (name): Model.MappingFormat => {
        switch (name) {
          case "csv":
            return { name, options: entry.csv ?? Schema.decodeSync(CsvOptions)({}) }
          case "parquet":
            return { name, options: entry.parquet ?? Schema.decodeSync(ParquetOptions)({}) }
          case "jsonl":
            return { name, options: entry.jsonl ?? Schema.decodeSync(JsonlOptions)({}) }
        }
      }
    )
    return { dataset, store: entry.store, format, target }
  }

  resolveSubscriptions(shares: ReadonlyArray<Indexed<Model.Share>>): ReadonlyArray<Model.Subscription> {
    const resolved: Array<Model.Subscription> = []
    const seen = new Map<string, number>()
    const byId = new Map(shares.map(({ value }) => [`${value.account}/${value.name}`, value]))
    const decodedShares = new Map<string, ShareEntry>(
      this.decoded.shares.map(({ value }) => [`${value.account}/${value.name}`, value])
    )
    for (const { index, value: subscription } of this.decoded.subscriptions) {
      const at: Path = ["subscriptions", index]
      this.checkAccount(subscription.account, [...at, "account"])
      const id = `${subscription.account}/${subscription.name}`
      const first = seen.get(id)
      if (first !== undefined) {
        this.reporter.at([...at, "name"], `subscription ${id} is already defined at subscriptions[${first}]`)
      } else {
        seen.set(id, index)
      }
      const [shareAccount = "", shareName = ""] = subscription.share.split("/")
      const knownShares = this.decoded.names.shares
      if (!knownShares.has(subscription.share)) {
        this.reporter.at(
          [...at, "share"],
          `unknown share ${JSON.stringify(subscription.share)}${suggestion(subscription.share, knownShares)}; shares are: ${list(knownShares)}`
        )
      }
      // The share as written, so that its datasets are known even when one of them failed to resolve.
      const shareEntry = decodedShares.get(subscription.share)
      if (shareEntry !== undefined && subscription.trigger === "schedule" && shareEntry.schedule === undefined) {
        this.reporter.at(
          [...at, "trigger"],
          `trigger: schedule, but share ${subscription.share} has no schedule; use trigger: manual or give the share a schedule`
        )
      }
      const mappings = new Map<string, Model.Mapping>()
      for (const [dataset, entry] of Object.entries(subscription.mappings)) {
        const mappingAt: Path = [...at, "mappings", dataset]
        if (shareEntry !== undefined && !shareEntry.datasets.some((candidate) => candidate.name === dataset)) {
          const names = shareEntry.datasets.map((candidate) => candidate.name)
          this.reporter.at(
            mappingAt,
            `share ${subscription.share} has no dataset ${JSON.stringify(dataset)}${suggestion(dataset, names)}; its datasets are: ${list(names)}`,
            "key"
          )
          continue
        }
        const mapping = this.mapping(subscription, dataset, entry, mappingAt)
        if (mapping !== undefined) mappings.set(dataset, mapping)
      }
      for (const dataset of shareEntry?.datasets ?? []) {
        if (subscription.mappings[dataset.name] === undefined) {
          this.reporter.at(
            [...at, "mappings"],
            `dataset ${JSON.stringify(dataset.name)} of share ${subscription.share} has no mapping`
          )
        }
      }
      const share = byId.get(subscription.share)
      const ordered = new Map(
        (share?.datasets ?? []).flatMap((dataset) => {
          const mapping = mappings.get(dataset.name)
          return mapping === undefined ? [] : [[dataset.name, mapping] as const]
        })
      )
      resolved.push({
        name: subscription.name,
        account: subscription.account,
        share: { account: shareAccount, name: shareName },
        trigger: subscription.trigger,
        mappings: ordered
      })
    }
    return resolved
  }
}
