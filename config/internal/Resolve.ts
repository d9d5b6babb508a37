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
import type { Dataset, MappingEntry, Schedule as ScheduleEntry } from "../ConfigSchema.js"
import { FORMAT_KEYS } from "../ConfigSchema.js"
import type * as Model from "../FerryConfig.js"
import type { Decoded, DecodedShare } from "./Decode.js"
import { suggestion } from "./Issues.js"
import type { Lenient, Reporter } from "./Reporter.js"
import type { Path } from "./Yaml.js"
import { positionInScalar, scalarAt } from "./Yaml.js"

interface ResolvedStore extends Model.Store {
  readonly storeType: StoreType
}

type DatasetFields = typeof Dataset.Type
type MappingFields = typeof MappingEntry.Type

const list = (names: Iterable<string>): string => {
  const all = [...names]
  return all.length === 0 ? "(none)" : all.join(", ")
}

const without = (record: Record<string, unknown>, keys: ReadonlyArray<string>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(record).filter(([key]) => !keys.includes(key)))

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** The value at a path of the document as written (after interpolation), when it is a map. */
const entryAt = (root: unknown, path: Path): Model.Entry => {
  const value = path.reduce<unknown>(
    (node, key) => (Array.isArray(node) ? node[Number(key)] : isRecord(node) ? node[String(key)] : undefined),
    root
  )
  return isRecord(value) ? value : {}
}

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

  /** The account, when it exists: ownership is only checked against a real account. */
  private knownAccount(account: string | undefined): string | undefined {
    return account !== undefined && this.decoded.names.accounts.has(account) ? account : undefined
  }

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
      this.reporter.at(
        at,
        `unknown store ${JSON.stringify(name)}${suggestion(name, known)}; stores are: ${list(known)}`
      )
    }
    return this.stores.get(name)
  }

  resolveStores(): ReadonlyMap<string, Model.Store> {
    const stores = new Map<string, Model.Store>()
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
      const store = {
        name,
        type: entry.type,
        account: entry.account,
        config: Option.getOrUndefined(config),
        settings: without(entryAt(this.decoded.raw, ["stores", name]), ["type", "account"])
      }
      // Datasets and mappings that use the store are checked even when its own settings failed.
      this.stores.set(name, { ...store, storeType })
      if (Option.isSome(config)) stores.set(name, store)
    }
    return stores
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
    account: string | undefined,
    { dropped, value: dataset }: Lenient<DatasetFields>,
    at: Path
  ): Model.Dataset | undefined {
    let ok = dropped.size === 0
    const fail = (where: Path, message: string) => {
      ok = false
      this.reporter.at(where, message)
    }
    const sourceAt = [...at, "source"]
    const store = this.storeFor(dataset.source.store, [...sourceAt, "store"])
    let sourceConfig: unknown
    if (store === undefined) {
      ok = false
    } else if (account !== undefined && store.account !== account) {
      fail(
        [...sourceAt, "store"],
        `store ${JSON.stringify(store.name)} belongs to account ${JSON.stringify(store.account)}, not to the share's account ${JSON.stringify(account)}`
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
    const projected = (column: string, where: Path, role: string, anchor: "value" | "key" = "value") => {
      if (columns !== undefined && !columns.includes(column)) {
        ok = false
        this.reporter.at(
          where,
          `${role} ${JSON.stringify(column)} is not among the dataset's columns: ${columns.join(", ")}`,
          anchor
        )
      }
    }
    for (const column of Object.keys(dataset.casts ?? {})) {
      projected(column, [...at, "casts", column], "cast column", "key")
    }

    let incremental: Option.Option<IncrementalSpec> = Option.none()
    if (dataset.incremental !== undefined) {
      const { cursor, deletes, key, lookback } = dataset.incremental
      projected(cursor, [...at, "incremental", "cursor"], "cursor column")
      key.forEach((column, i) => projected(column, [...at, "incremental", "key", i], "key column"))
      for (const column of new Set(duplicates(key))) {
        fail([...at, "incremental", "key"], `key column ${JSON.stringify(column)} is listed more than once`)
      }
      if (deletes === "reconcile") {
        const source = store?.storeType.source
        if (source !== undefined && source.capabilities?.keys !== true) {
          fail(
            [...at, "incremental", "deletes"],
            `deletes: reconcile needs a source that can list a dataset's keys, and store ${JSON.stringify(store!.name)} (type ${store!.type}) cannot; use deletes: ignore`
          )
        }
        // Keys are compared as the source holds them and as the target holds them: a cast would make them differ.
        for (const column of key.filter((name) => dataset.casts?.[name] !== undefined)) {
          fail(
            [...at, "casts", column],
            `key column ${JSON.stringify(column)} cannot be cast when deletes: reconcile compares the source's keys with the target's`
          )
        }
      }
      incremental = Option.some({ cursor, key, lookback: Option.fromNullable(lookback), deletes })
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
      incremental,
      spec: without(entryAt(this.decoded.raw, at), ["name"])
    }
  }

  resolveShares(): ReadonlyArray<Model.Share> {
    const resolved: Array<Model.Share> = []
    const seen = new Map<string, number>()
    for (const decoded of this.decoded.shares) {
      const at: Path = ["shares", decoded.index]
      if (decoded.account !== undefined) this.checkAccount(decoded.account, [...at, "account"])
      if (decoded.id !== undefined) {
        const first = seen.get(decoded.id)
        if (first !== undefined)
          this.reporter.at([...at, "name"], `share ${decoded.id} is already defined at shares[${first}]`)
        else seen.set(decoded.id, decoded.index)
      }
      decoded.datasetNames.forEach((name, i) => {
        const first = decoded.datasetNames.indexOf(name)
        if (first !== i) {
          this.reporter.at(
            [...at, "datasets", i, "name"],
            `dataset ${JSON.stringify(name)} is already defined at shares[${decoded.index}].datasets[${first}]`
          )
        }
      })
      const datasets = decoded.datasets.flatMap(({ index, value }) => {
        const model = this.dataset(this.knownAccount(decoded.account), value, [...at, "datasets", index])
        return model === undefined ? [] : [model]
      })
      if (Option.isNone(decoded.head)) continue
      const share = decoded.head.value.value
      if (share.kind === "in_place" && share.schedule !== undefined) {
        this.reporter.at(
          [...at, "schedule"],
          "an in_place share has no schedule: consumers read the provider's data live",
          "key"
        )
      }
      const invited = share.invitations.map((invitation) => invitation.to)
      invited.forEach((to, i) => {
        if (invited.indexOf(to) !== i) this.reporter.at([...at, "invitations", i, "to"], `${to} is already invited`)
      })
      resolved.push({
        name: share.name,
        account: share.account,
        description: Option.fromNullable(share.description),
        terms: Option.fromNullable(share.terms),
        kind: share.kind,
        schedule: Option.map(Option.fromNullable(share.schedule), schedule),
        scheduleSpec: Option.map(Option.fromNullable(share.schedule), () =>
          entryAt(this.decoded.raw, [...at, "schedule"])
        ),
        datasets,
        invitations: share.invitations.map((invitation) => ({
          to: invitation.to,
          expiresAt: Option.fromNullable(invitation.expires)
        }))
      })
    }
    return resolved
  }

  private mapping(
    account: string | undefined,
    dataset: string,
    { dropped, value: entry }: Lenient<MappingFields>,
    at: Path
  ): Model.Mapping | undefined {
    let ok = dropped.size === 0
    const fail = (where: Path, message: string, anchor: "value" | "key" = "value") => {
      ok = false
      this.reporter.at(where, message, anchor)
    }
    const store = this.storeFor(entry.store, [...at, "store"])
    let target: unknown
    if (store === undefined) {
      ok = false
    } else if (account !== undefined && store.account !== account) {
      fail(
        [...at, "store"],
        `store ${JSON.stringify(store.name)} belongs to account ${JSON.stringify(store.account)}, not to the subscription's account ${JSON.stringify(account)}`
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
    if (!dropped.has("format")) {
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
    return { dataset, store: entry.store, format, target, spec: entryAt(this.decoded.raw, at) }
  }

  /**
   * A dataset that reconciles deletes can only land in a store whose sink deletes rows;
   * the problem is the dataset's setting, so it is reported there, naming the mapping.
   */
  private checkDeletes(share: DecodedShare, dataset: string, storeName: string, subscription: string): void {
    const entry = share.datasets.find(({ value }) => value.value.name === dataset)
    if (entry?.value.value.incremental?.deletes !== "reconcile") return
    const store = this.stores.get(storeName)
    const sink = store?.storeType.sink
    if (store === undefined || sink === undefined || sink.capabilities?.deletes === true) return
    this.reporter.at(
      ["shares", share.index, "datasets", entry.index, "incremental", "deletes"],
      `deletes: reconcile needs a sink that can delete rows, and subscription ${subscription} maps dataset ${JSON.stringify(dataset)} to store ${JSON.stringify(store.name)} (type ${store.type}), which cannot; use deletes: ignore, or map the dataset to a store that can (postgres)`
    )
  }

  resolveSubscriptions(): ReadonlyArray<Model.Subscription> {
    const resolved: Array<Model.Subscription> = []
    const seen = new Map<string, number>()
    // The first share of a name is the one a reference means; a second one is reported as a duplicate.
    const shares = new Map<string, DecodedShare>()
    for (const share of this.decoded.shares) {
      if (share.id !== undefined && !shares.has(share.id)) shares.set(share.id, share)
    }
    const knownShares = this.decoded.names.shares
    for (const decoded of this.decoded.subscriptions) {
      const at: Path = ["subscriptions", decoded.index]
      if (decoded.account !== undefined) this.checkAccount(decoded.account, [...at, "account"])
      const head = Option.getOrUndefined(decoded.head)
      if (head !== undefined && !head.dropped.has("name")) {
        const id = `${head.value.account}/${head.value.name}`
        const first = seen.get(id)
        if (first !== undefined) {
          this.reporter.at([...at, "name"], `subscription ${id} is already defined at subscriptions[${first}]`)
        } else {
          seen.set(id, decoded.index)
        }
      }
      if (decoded.share !== undefined && !knownShares.has(decoded.share) && this.decoded.names.sharesComplete) {
        this.reporter.at(
          [...at, "share"],
          `unknown share ${JSON.stringify(decoded.share)}${suggestion(decoded.share, knownShares)}; shares are: ${list(knownShares)}`
        )
      }
      const share = decoded.share === undefined ? undefined : shares.get(decoded.share)
      const shareHead = share === undefined ? undefined : Option.getOrUndefined(share.head)
      if (
        head?.value.trigger === "schedule" &&
        shareHead !== undefined &&
        shareHead.value.schedule === undefined &&
        !shareHead.dropped.has("schedule")
      ) {
        this.reporter.at(
          [...at, "trigger"],
          `trigger: schedule, but share ${decoded.share} has no schedule; use trigger: manual or give the share a schedule`
        )
      }
      const datasetNames = share?.datasetNames ?? []
      const mappings = new Map<string, Model.Mapping>()
      for (const [dataset, entry] of decoded.mappings) {
        const mappingAt: Path = [...at, "mappings", dataset]
        if (share !== undefined && !datasetNames.includes(dataset)) {
          this.reporter.at(
            mappingAt,
            `share ${decoded.share} has no dataset ${JSON.stringify(dataset)}${suggestion(dataset, datasetNames)}; its datasets are: ${list(datasetNames)}`,
            "key"
          )
          continue
        }
        if (Option.isNone(entry)) continue
        const mapping = this.mapping(this.knownAccount(decoded.account), dataset, entry.value, mappingAt)
        if (mapping !== undefined) mappings.set(dataset, mapping)
        if (share !== undefined) {
          const name =
            head === undefined ? `subscriptions[${decoded.index}]` : `${head.value.account}/${head.value.name}`
          this.checkDeletes(share, dataset, entry.value.value.store, name)
        }
      }
      const mapped = new Set(decoded.mappings.map(([dataset]) => dataset))
      for (const dataset of datasetNames) {
        if (!mapped.has(dataset)) {
          this.reporter.at(
            [...at, "mappings"],
            `dataset ${JSON.stringify(dataset)} of share ${decoded.share} has no mapping`,
            "key"
          )
        }
      }
      if (head === undefined) continue
      const [shareAccount = "", shareName = ""] = head.value.share.split("/")
      resolved.push({
        name: head.value.name,
        account: head.value.account,
        share: { account: shareAccount, name: shareName },
        trigger: head.value.trigger,
        // In the order of the share's datasets.
        mappings: new Map(
          datasetNames.flatMap((dataset) => {
            const mapping = mappings.get(dataset)
            return mapping === undefined ? [] : [[dataset, mapping] as const]
          })
        )
      })
    }
    return resolved
  }
}
