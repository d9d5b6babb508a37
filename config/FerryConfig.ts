/**
 * A share config after validation: every reference resolved, every connector config
 * decoded by its connector's Schema, nothing left to check before resources open.
 */
import type * as DateTime from "effect/DateTime"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type { Filter } from "../core/Filter.js"
import type { Plugin } from "../core/Plugin.js"
import type { Registry } from "../core/Registry.js"
import type { IncrementalSpec } from "../core/Source.js"
import type { LogicalType } from "../core/Types.js"
import type { CsvOptions, JsonlOptions, ParquetOptions } from "../sinks/formats/Options.js"

export type StateLocation =
  | { readonly kind: "sqlite"; /** Absolute, or `:memory:`. */ readonly file: string }
  | { readonly kind: "postgres"; readonly url: Redacted.Redacted<string> }

/** A config entry as written: snake_case keys, JSON values (the control store keeps them so). */
export type Entry = Readonly<Record<string, unknown>>

export interface LoadedPlugin {
  /** As written under `plugins:`. */
  readonly spec: string
  /** The file it was imported from. */
  readonly resolved: string
  readonly plugin: Plugin
}

export interface Account {
  readonly name: string
  readonly email: Option.Option<string>
  readonly description: Option.Option<string>
}

export interface Store {
  readonly name: string
  readonly type: string
  readonly account: string
  /** The connector's store config, decoded by its `storeConfig` Schema. */
  readonly config: unknown
  /** The connector's settings as written (after `${env:…}` interpolation), without `type` and `account`: secrets included. */
  readonly settings: Entry
}

export interface DatasetSource {
  readonly store: string
  /** The source connector's dataset config, decoded by its `datasetConfig` Schema. */
  readonly config: unknown
}

export interface Dataset {
  readonly name: string
  readonly source: DatasetSource
  readonly columns: Option.Option<ReadonlyArray<string>>
  readonly filter: Option.Option<Filter>
  /** The filter as written, for messages and the audit log. */
  readonly filterText: Option.Option<string>
  readonly casts: ReadonlyMap<string, LogicalType>
  readonly allowLossy: boolean
  readonly incremental: Option.Option<IncrementalSpec>
  /** The entry as written (after interpolation), without `name`. */
  readonly spec: Entry
}

export type Schedule =
  | {
      readonly kind: "every"
      readonly every: "hour" | "day"
      /** UTC; with `every: hour` only the minute counts. */
      readonly at: { readonly hour: number; readonly minute: number }
    }
  | { readonly kind: "cron"; /** Five fields, UTC. */ readonly cron: string }

export interface Invitation {
  /** An e-mail address or an account name. */
  readonly to: string
  /** The instant from which it can no longer be accepted: the day after `expires:`, 00:00 UTC. */
  readonly expiresAt: Option.Option<DateTime.Utc>
}

export interface Share {
  readonly name: string
  readonly account: string
  readonly description: Option.Option<string>
  readonly terms: Option.Option<string>
  readonly kind: "snapshot" | "in_place"
  readonly schedule: Option.Option<Schedule>
  /** `schedule:` as written. */
  readonly scheduleSpec: Option.Option<Entry>
  readonly datasets: ReadonlyArray<Dataset>
  readonly invitations: ReadonlyArray<Invitation>
}

/** The format a table is written in when it lands in a file store, with its options (defaults applied). */
export type MappingFormat =
  | { readonly name: "csv"; readonly options: CsvOptions }
  | { readonly name: "parquet"; readonly options: ParquetOptions }
  | { readonly name: "jsonl"; readonly options: JsonlOptions }

export interface Mapping {
  readonly dataset: string
  readonly store: string
  readonly format: Option.Option<MappingFormat>
  /** The sink's target config, decoded by its `targetConfig` Schema. */
  readonly target: unknown
  /** The entry as written (after interpolation). */
  readonly spec: Entry
}

export interface Subscription {
  readonly name: string
  readonly account: string
  readonly share: { readonly account: string; readonly name: string }
  readonly trigger: "manual" | "schedule"
  /** By dataset name, in the order of the share's datasets. */
  readonly mappings: ReadonlyMap<string, Mapping>
}

export interface Smtp {
  readonly host: string
  readonly port: number
  readonly from: string
  /** TLS from the start; otherwise STARTTLS when offered. */
  readonly secure: boolean
  readonly user: Option.Option<string>
  readonly password: Option.Option<Redacted.Redacted<string>>
}

export interface ServiceSettings {
  readonly port: number
  /** The URL the service is reached at from outside, for links in mails. */
  readonly baseUrl: Option.Option<string>
}

export interface FerryConfig {
  /** Absolute path of the config file. */
  readonly file: string
  /** Its folder: relative paths in the config resolve against it. */
  readonly baseDir: string
  readonly version: 1
  readonly state: StateLocation
  readonly plugins: ReadonlyArray<LoadedPlugin>
  readonly limits: { readonly concurrency: number; readonly runs: number }
  /** The mail server invitations go through; none: accept tokens are shown instead. */
  readonly smtp: Option.Option<Smtp>
  readonly service: ServiceSettings
  readonly registry: Registry
  readonly accounts: ReadonlyMap<string, Account>
  readonly stores: ReadonlyMap<string, Store>
  readonly shares: ReadonlyArray<Share>
  readonly subscriptions: ReadonlyArray<Subscription>
}
