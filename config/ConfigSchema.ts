/**
 * The Schemas of the share config's own keys. They are the spec: validation, the
 * JSON Schema for editors and docs/config.md all come from them. A store's connection
 * settings, a dataset's `source:` and a mapping's target belong to connectors and
 * are kept open here; the second phase of validation decodes them with the
 * connector's Schemas from the registry.
 */
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { LogicalTypeFromString } from "../core/Types.js"
import { parseText } from "../core/Values.js"
import { CsvOptions, JsonlOptions, ParquetOptions } from "../sinks/formats/Options.js"
import { checkCron } from "./internal/Cron.js"

const OpenRecord = Schema.Record({ key: Schema.String, value: Schema.Unknown })

export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]*$/

export const Name = Schema.String.pipe(
  Schema.pattern(NAME_PATTERN, {
    message: () => "a name of lowercase letters, digits, - and _ that starts with a letter or digit"
  })
)

export const TypeName = Schema.String.pipe(
  Schema.pattern(/^[a-z][a-z0-9_]*$/, { message: () => "a store type in snake_case, such as postgres or local" })
)

const Email = Schema.String.pipe(
  Schema.pattern(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, { message: () => "an e-mail address such as ops@fabrikam.example" })
)

const Text = Schema.String

const ColumnName = Schema.String.pipe(Schema.minLength(1, { message: () => "a column name (not empty)" }))

// ---- top level ---------------------------------------------------------------------

export const DEFAULT_STATE = "sqlite:.ferry/state.db"

export const StateLocation = Schema.String.pipe(
  Schema.filter((text) => /^(sqlite:(?!\/\/).+|postgres(ql)?:\/\/.+)$/.test(text), {
    message: () => "sqlite:PATH or a postgres:// URL",
    jsonSchema: {}
  })
).annotations({
  description:
    "Where Ferry keeps its state: `sqlite:PATH` (relative to the config file's folder) or a `postgres://` URL shared by several `ferry serve` processes; the state's tables live in the schema `ferry`, or the one named by a `?schema=` parameter of the URL.",
  examples: [
    DEFAULT_STATE,
    "postgres://ferry@db.internal/ferry",
    "postgres://ferry@db.internal/shared?schema=ferry_prod"
  ]
})

export const Limits = Schema.Struct({
  concurrency: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 64)), { default: () => 4 }).annotations({
    description: "Datasets transferred at once, across all shares and subscriptions.",
    examples: [4]
  }),
  runs: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 64)), { default: () => 4 }).annotations({
    description: "Runs at once across the service (`ferry serve`); more wait in its queue.",
    examples: [4]
  })
}).annotations({ description: "Resource limits." })

const PORT = "a port number between 1 and 65535"
const Port = Schema.Int.pipe(Schema.between(1, 65535, { message: () => PORT }))

const SMTP_PASSWORD = "The user's password. Keep it out of the config: write ${env:VARIABLE}."

export const Smtp = Schema.Struct({
  host: Schema.String.pipe(Schema.minLength(1, { message: () => "a host name (not empty)" })).annotations({
    description: "The SMTP server's host name.",
    examples: ["smtp.contoso.example"]
  }),
  port: Port.annotations({ description: "The SMTP server's port.", examples: [587, 465], message: () => PORT }),
  from: Email.annotations({
    description: "The sender of the mails (invitations).",
    examples: ["ferry@contoso.example"]
  }),
  secure: Schema.optionalWith(Schema.Boolean, { default: () => false }).annotations({
    description: "TLS from the start (usually port 465); when false, STARTTLS is used if the server offers it."
  }),
  user: Schema.optional(Schema.String.annotations({ description: "The user to log in as, if the server wants one." })),
  password: Schema.optional(
    Schema.Redacted(
      Schema.String.annotations({ description: SMTP_PASSWORD, examples: ["${env:SMTP_PASSWORD}"] })
    ).annotations({ description: SMTP_PASSWORD })
  )
}).annotations({
  description:
    "The mail server invitations are sent through. Without it, a new invitation's accept token is shown once, to be passed on by hand."
})

export const Service = Schema.Struct({
  port: Schema.optionalWith(Port, { default: () => 8080 }).annotations({
    description: "The port `ferry serve` listens on.",
    examples: [8080]
  }),
  base_url: Schema.optional(
    Schema.String.pipe(
      Schema.pattern(/^https?:\/\/[^\s/]+(\/\S*)?$/, { message: () => "an http:// or https:// URL" })
    ).annotations({
      description: "The URL the service is reached at from outside, for links in mails.",
      examples: ["https://ferry.contoso.example"]
    })
  )
}).annotations({ description: "The HTTP service, `ferry serve`." })

export const TopLevel = Schema.Struct({
  version: Schema.Literal(1).annotations({
    description: "The config format's version: 1.",
    message: () => "1 (the only config format version)"
  }),
  state: Schema.optionalWith(StateLocation, { default: () => DEFAULT_STATE }),
  plugins: Schema.optionalWith(Schema.Array(Schema.String.pipe(Schema.minLength(1))), {
    default: () => []
  }).annotations({
    description:
      "Plugin modules that add store types: a path (relative to the config file's folder, starting with ./ or ../) or an npm package name resolved from that folder.",
    examples: [["./plugins/acme-crm.js", "@acme/ferry-crm"]]
  }),
  limits: Schema.optionalWith(Limits, { default: () => ({ concurrency: 4, runs: 4 }) }),
  smtp: Schema.optional(Smtp),
  service: Schema.optionalWith(Service, { default: () => ({ port: 8080 }) }),
  accounts: Schema.optionalWith(OpenRecord, { default: () => ({}) }),
  stores: Schema.optionalWith(OpenRecord, { default: () => ({}) }),
  shares: Schema.optionalWith(Schema.Array(Schema.Unknown), { default: () => [] }),
  subscriptions: Schema.optionalWith(Schema.Array(Schema.Unknown), { default: () => [] })
})

// ---- accounts and stores -----------------------------------------------------------

export const Account = Schema.Struct({
  email: Schema.optional(Email.annotations({ description: "Where invitations and notices for this account go." })),
  description: Schema.optional(Text)
}).annotations({
  identifier: "Account",
  description: "A tenant: a provider or consumer organisation. Stores, shares and subscriptions belong to one."
})
export type Account = typeof Account.Type

/** A store before its connector decodes the rest: `type`, `account`, then the connector's settings. */
export const StoreEntry = Schema.Struct(
  {
    type: TypeName.annotations({ description: "The store type, from a built-in connector or a plugin." }),
    account: Name.annotations({ description: "The account the store belongs to." })
  },
  OpenRecord
).annotations({
  identifier: "Store",
  description: "A connection to a data store, owned by one account. The other keys are the connector's settings."
})

// ---- shares ------------------------------------------------------------------------

const Clock = Schema.String.pipe(
  Schema.pattern(/^([01]\d|2[0-3]):[0-5]\d$/, { message: () => 'a UTC time of day as "HH:MM", such as "02:00"' })
)

const Cron = Schema.String.pipe(
  Schema.filter((text) => checkCron(text) ?? true, { description: "a five-field cron expression", jsonSchema: {} })
)

export const Schedule = Schema.Struct({
  every: Schema.optional(
    Schema.Literal("hour", "day").annotations({
      description: "Run every hour or every day, at `at`."
    })
  ),
  at: Schema.optional(
    Clock.annotations({
      description:
        'With `every`: the UTC time of day ("02:00") or, hourly, the minutes past each hour written "00:MM". Default "00:00".',
      examples: ["00:15", "02:00"]
    })
  ),
  cron: Schema.optional(
    Cron.annotations({
      description: "A five-field cron expression in UTC (minute hour day-of-month month day-of-week).",
      examples: ["15 * * * *", "0 2 * * 1-5"]
    })
  )
})
  .pipe(
    Schema.filter(
      (schedule) => {
        if (schedule.every === undefined && schedule.cron === undefined) {
          return "a schedule needs `every: hour | day` (with `at`) or `cron`"
        }
        if (schedule.every !== undefined && schedule.cron !== undefined) {
          return { path: ["cron"], message: "give either `every` (with `at`) or `cron`, not both" }
        }
        if (schedule.cron !== undefined && schedule.at !== undefined) {
          return { path: ["at"], message: "`at` goes with `every`; a cron expression carries its own time" }
        }
        if (schedule.every === "hour" && schedule.at !== undefined && !schedule.at.startsWith("00:")) {
          return { path: ["at"], message: `with every: hour, at is the minutes past each hour, written "00:MM"` }
        }
        return true
      },
      { jsonSchema: {} }
    )
  )
  .annotations({
    identifier: "Schedule",
    description: "When snapshots of the share run, in UTC: `{ every: hour | day, at: HH:MM }` or `{ cron: … }`."
  })
export type Schedule = typeof Schedule.Type

const DURATION_UNITS = { s: "seconds", m: "minutes", h: "hours", d: "days" } as const

export const DurationText = Schema.transformOrFail(
  Schema.String.pipe(
    Schema.pattern(/^\d+[smhd]$/, { message: () => "a duration such as 30s, 5m, 2h or 1d" })
  ).annotations({ examples: ["30s", "5m", "2h", "1d"] }),
  Schema.DurationFromSelf,
  {
    strict: true,
    decode: (text) => {
      const unit = text.slice(-1) as keyof typeof DURATION_UNITS
      return ParseResult.succeed(Duration.decode(`${Number(text.slice(0, -1))} ${DURATION_UNITS[unit]}`))
    },
    encode: (duration, _, ast) =>
      ParseResult.fail(new ParseResult.Forbidden(ast, duration, "durations are not written back"))
  }
)

export const Incremental = Schema.Struct({
  cursor: ColumnName.annotations({
    description: "The column whose value grows whenever a row is added or changed, such as updated_at.",
    examples: ["updated_at"]
  }),
  key: Schema.NonEmptyArray(ColumnName).annotations({
    description: "Columns that identify a row: they order rows sharing a cursor value, and sinks merge on them.",
    examples: [["id"]]
  }),
  lookback: Schema.optional(
    DurationText.annotations({
      description: "A window re-read before the last watermark, for rows that commit late with an older cursor."
    })
  ),
  deletes: Schema.optionalWith(Schema.Literal("ignore", "reconcile"), { default: () => "ignore" }).annotations({
    description:
      "Rows deleted at the source: `ignore` (the default) leaves them in the target; `reconcile` compares the source's and the target's keys after each incremental run, by hashed key ranges, and deletes the target's rows whose key the source no longer has, in the same commit as the run's rows (sinks that can delete rows: postgres)."
  })
}).annotations({
  identifier: "Incremental",
  description: "Deliver only rows changed since the last run, tracked by (cursor, key)."
})

/** A dataset's `source:` before its connector decodes it: `store`, then the connector's settings. */
export const DatasetSource = Schema.Struct(
  { store: Name.annotations({ description: "The store to read from; it belongs to the share's account." }) },
  OpenRecord
).annotations({
  identifier: "DatasetSource",
  description: "Where the dataset is read: a store, then that store type's dataset settings."
})

export const Dataset = Schema.Struct({
  name: Name.annotations({ description: "The dataset's name, unique in the share.", examples: ["customers"] }),
  source: DatasetSource,
  columns: Schema.optional(
    Schema.NonEmptyArray(ColumnName).annotations({
      description: "Columns to deliver, in order; all of them when absent.",
      examples: [["id", "name", "updated_at"]]
    })
  ),
  filter: Schema.optional(
    Schema.String.annotations({
      description:
        "Rows to deliver: comparisons (= != < <= > >=), in, between, like, is null, joined with and, or, not.",
      examples: ["region = 'EU' and amount >= 100"]
    })
  ),
  casts: Schema.optional(
    Schema.Record({ key: Schema.String, value: LogicalTypeFromString }).annotations({
      description: "Column name → type to deliver it as, such as decimal(12,2) or timestamp(us, UTC)."
    })
  ),
  allow_lossy: Schema.optionalWith(Schema.Boolean, { default: () => false }).annotations({
    description: "Allow casts that lose precision or range instead of failing the run."
  }),
  incremental: Schema.optional(Incremental)
}).annotations({
  identifier: "Dataset",
  description: "A table or a set of files shared from one of the account's stores."
})

const DateText = Schema.transformOrFail(
  Schema.String.pipe(Schema.pattern(/^\d{4}-\d{2}-\d{2}$/, { message: () => "a date as YYYY-MM-DD" })).annotations({
    examples: ["2027-01-31"]
  }),
  Schema.DateTimeUtcFromSelf,
  {
    strict: true,
    decode: (text, _, ast) =>
      Either.match(parseText({ kind: "date" }, text), {
        onLeft: () =>
          ParseResult.fail(new ParseResult.Type(ast, text, `${JSON.stringify(text)} is not a calendar date`)),
        // Valid through the whole day it names, in UTC.
        onRight: (days) => ParseResult.succeed(DateTime.unsafeMake((Number(days) + 1) * 86_400_000))
      }),
    encode: (date, _, ast) => ParseResult.fail(new ParseResult.Forbidden(ast, date, "dates are not written back"))
  }
)

export const Invitation = Schema.Struct({
  to: Schema.String.pipe(
    Schema.filter((text) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(text) || NAME_PATTERN.test(text), {
      message: () => "an e-mail address or an account name",
      jsonSchema: {}
    })
  ).annotations({
    description: "Who is invited: an e-mail address or an account name.",
    examples: ["ops@fabrikam.example"]
  }),
  expires: Schema.optional(
    DateText.annotations({
      description: "The last day (UTC) on which the invitation can be accepted."
    })
  )
}).annotations({ identifier: "Invitation", description: "An invitation to subscribe to the share." })

export const Share = Schema.Struct({
  name: Name.annotations({ description: "The share's name, unique per account.", examples: ["pos-sales"] }),
  account: Name.annotations({ description: "The providing account.", examples: ["contoso"] }),
  description: Schema.optional(Text),
  terms: Schema.optional(Text.annotations({ description: "Terms of use a subscriber accepts." })),
  kind: Schema.optionalWith(Schema.Literal("snapshot", "in_place"), { default: () => "snapshot" }).annotations({
    description: "`snapshot`: consumers receive copies. `in_place`: consumers get a live, read-only link."
  }),
  schedule: Schema.optional(Schedule),
  datasets: Schema.Array(Dataset),
  invitations: Schema.optionalWith(Schema.Array(Invitation), { default: () => [] })
}).annotations({ identifier: "Share", description: "Datasets of one provider account, shared together." })
export type Share = typeof Share.Type

/** A share with its datasets left undecoded, so that each dataset is checked on its own. */
export const ShareHead = Schema.Struct({ ...Share.fields, datasets: Schema.Array(Schema.Unknown) })

// ---- subscriptions -----------------------------------------------------------------

export const FormatName = Schema.Literal("csv", "parquet", "jsonl").annotations({
  description: "The file format tables are written in, when they land in a file store."
})

export const FORMAT_KEYS = ["csv", "parquet", "jsonl"] as const

/** A mapping before its sink decodes the target: the core's keys, then the sink's settings. */
export const MappingEntry = Schema.Struct(
  {
    store: Name.annotations({ description: "The store to deliver to; it belongs to the subscription's account." }),
    format: Schema.optional(FormatName),
    csv: Schema.optional(CsvOptions),
    parquet: Schema.optional(ParquetOptions),
    jsonl: Schema.optional(JsonlOptions)
  },
  OpenRecord
).annotations({
  identifier: "Mapping",
  description: "Where a dataset lands: a store, a format for file stores, then the sink's target settings."
})

const ShareReference = Schema.String.pipe(
  Schema.pattern(/^[a-z0-9][a-z0-9_-]*\/[a-z0-9][a-z0-9_-]*$/, {
    message: () => "a share as ACCOUNT/SHARE, such as contoso/pos-sales"
  })
)

export const Subscription = Schema.Struct({
  name: Name.annotations({ description: "The subscription's name, unique per account." }),
  account: Name.annotations({ description: "The consuming account.", examples: ["fabrikam"] }),
  share: ShareReference.annotations({
    description: "The share subscribed to, as PROVIDER_ACCOUNT/SHARE.",
    examples: ["contoso/pos-sales"]
  }),
  accept_terms: Schema.Literal(true).annotations({
    description: "Subscribing accepts the share's terms: must be true.",
    message: () => "must be true: subscribing accepts the share's terms"
  }),
  trigger: Schema.optionalWith(Schema.Literal("manual", "schedule"), { default: () => "manual" }).annotations({
    description: "`schedule`: receive a snapshot on the share's schedule. `manual`: only when asked."
  }),
  mappings: Schema.optionalWith(Schema.Record({ key: Schema.String, value: MappingEntry }), {
    default: () => ({})
  }).annotations({ description: "Dataset name → where it lands. Every dataset of the share needs one." })
}).annotations({ identifier: "Subscription", description: "A consumer's acceptance of a share, and where it lands." })
export type Subscription = typeof Subscription.Type

/** A subscription with its mappings left undecoded, so that each mapping is checked on its own. */
export const SubscriptionHead = Schema.Struct({
  ...Subscription.fields,
  mappings: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Unknown }), { default: () => ({}) })
})

/**
 * The whole file with every key's Schema, for the JSON Schema and the docs.
 * Validation decodes the same Schemas piece by piece, so that one broken share does
 * not hide the problems of the next.
 */
export const ConfigFile = Schema.Struct({
  ...TopLevel.fields,
  accounts: Schema.optionalWith(Schema.Record({ key: Name, value: Account }), { default: () => ({}) }).annotations({
    description: "Account name → account."
  }),
  stores: Schema.optionalWith(Schema.Record({ key: Name, value: StoreEntry }), { default: () => ({}) }).annotations({
    description: "Store name → store."
  }),
  shares: Schema.optionalWith(Schema.Array(Share), { default: () => [] }),
  subscriptions: Schema.optionalWith(Schema.Array(Subscription), { default: () => [] })
}).annotations({
  identifier: "FerryConfig",
  title: "Ferry share config",
  description: "Stores, shares, datasets, schedules, invitations and subscriptions of a Ferry deployment."
})
