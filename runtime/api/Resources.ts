/**
 * The API's resources as JSON: what requests carry and responses return, snake_case,
 * with the descriptions the OpenAPI document shows. Request bodies refuse fields they
 * do not name and values of the wrong type (the framework answers 400 with the field's
 * path); what a connector makes of a store's, a dataset's or a mapping's settings is
 * checked afterwards by the same loader as a config file.
 */
import * as Schema from "effect/Schema"
import { Name as ConfigName, Schedule as ConfigSchedule } from "../../config/ConfigSchema.js"

/** An optional field: absent, never `undefined`. */
const optional = <S extends Schema.Schema.All>(schema: S) => Schema.optionalWith(schema, { exact: true })

/** Refuse what the Schema does not name, at every depth (records keep their open keys). */
export const strict = { parseOptions: { onExcessProperty: "error" } } as const

export const Name = ConfigName.annotations({
  description: "A name: lowercase letters, digits, - and _, starting with a letter or a digit.",
  examples: ["pos-sales"]
})

const Timestamp = Schema.Date.annotations({ description: "An instant, in ISO 8601 (UTC)." })

const Text = Schema.String

// ---- paging ------------------------------------------------------------------------

export const DEFAULT_LIMIT = 100
export const MAX_LIMIT = 1000

export const PageParams = Schema.Struct({
  limit: optional(
    Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, MAX_LIMIT)).annotations({
      description: `At most this many items (1 to ${MAX_LIMIT}, ${DEFAULT_LIMIT} by default).`
    })
  ),
  after: optional(
    Schema.String.annotations({ description: "The `next` of the previous page: this page starts after it." })
  )
})
export type PageParams = typeof PageParams.Type

export const Page = <A, I>(item: Schema.Schema<A, I>, description: string) =>
  Schema.Struct({
    items: Schema.Array(item),
    next: optional(
      Schema.String.annotations({ description: "Pass as `after` for the next page; absent on the last page." })
    )
  }).annotations({ description })

// ---- accounts and tokens -----------------------------------------------------------

export const Email = Schema.String.pipe(
  Schema.pattern(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, { message: () => "an e-mail address such as ops@fabrikam.example" })
)

export const AccountBody = Schema.Struct({
  email: optional(Email.annotations({ description: "Where invitations and notices for this account go." })),
  description: optional(Text)
}).annotations({ ...strict, description: "An account's details." })

export const Account = Schema.Struct({
  name: Name,
  email: optional(Email),
  description: optional(Text),
  created_at: Timestamp
}).annotations({
  identifier: "Account",
  description: "A tenant: a provider or consumer organisation. Stores, shares and subscriptions belong to one."
})
export type Account = typeof Account.Type

export const TokenBody = Schema.Struct({
  description: optional(Text.annotations({ description: "What the token is for, such as `ci`." }))
}).annotations({ ...strict, description: "A new API token of the account." })

export const Token = Schema.Struct({
  id: Schema.String.annotations({ description: "Names the token, for revoking it; not the secret." }),
  account: optional(Name),
  description: optional(Text),
  created_at: Timestamp,
  last_used_at: optional(Timestamp)
}).annotations({ identifier: "Token", description: "An API token; its secret is shown once, when it is created." })

export const CreatedToken = Schema.Struct({
  ...Token.fields,
  token: Schema.String.annotations({
    description: "The bearer secret: shown in this response only. Ferry keeps its SHA-256."
  })
}).annotations({ identifier: "CreatedToken", description: "A new token, with its secret." })

// ---- stores ------------------------------------------------------------------------

export const StoreBody = Schema.Struct(
  {
    type: Schema.String.pipe(
      Schema.pattern(/^[a-z][a-z0-9_]*$/, { message: () => "a store type in snake_case, such as postgres or local" })
    ).annotations({ description: "The store type, from a built-in connector or a plugin.", examples: ["postgres"] })
  },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
).annotations({
  description:
    "A store's type and its connector's settings, as a config file writes them (see `ferry plugins`). Secret settings are write-only."
})
export type StoreBody = typeof StoreBody.Type

export const Store = Schema.Struct({
  name: Name,
  type: Schema.String,
  settings: Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
    description: 'The connector\'s settings; secret ones read "(write-only)".'
  }),
  created_at: Timestamp,
  updated_at: Timestamp
}).annotations({ identifier: "Store", description: "A connection to a data store of the account." })
export type Store = typeof Store.Type

// ---- shares ------------------------------------------------------------------------

export const ShareKind = Schema.Literal("snapshot", "in_place").annotations({
  description: "`snapshot`: consumers receive copies. `in_place`: consumers get a live, read-only link."
})

export const Schedule = ConfigSchedule

const shareFields = {
  description: optional(Text),
  terms: optional(Text.annotations({ description: "Terms of use a subscriber accepts." })),
  kind: optional(ShareKind),
  schedule: optional(Schedule)
}

export const ShareBody = Schema.Struct({
  name: Name.annotations({ description: "The share's name, unique in the account.", examples: ["pos-sales"] }),
  ...shareFields
}).annotations({ ...strict, description: "A new share; `kind` is `snapshot` unless given." })

export const SharePatch = Schema.Struct(shareFields).annotations({
  ...strict,
  description: "The share's fields to change; those absent stay as they are."
})

export const Share = Schema.Struct({
  name: Name,
  description: optional(Text),
  terms: optional(Text),
  kind: ShareKind,
  schedule: optional(Schedule),
  dataset_count: Schema.Number,
  created_at: Timestamp,
  updated_at: Timestamp
}).annotations({ identifier: "Share", description: "Datasets of the account, shared together." })
export type Share = typeof Share.Type

// ---- datasets ----------------------------------------------------------------------

const OpenRecord = Schema.Record({ key: Schema.String, value: Schema.Unknown })
const ColumnName = Schema.String.pipe(Schema.minLength(1, { message: () => "a column name (not empty)" }))

export const DatasetSource = Schema.Struct(
  { store: Name.annotations({ description: "The store to read from; one of the account's." }) },
  OpenRecord
).annotations({
  description: "Where the dataset is read: a store, then that store type's dataset settings, such as `table`."
})

const datasetFields = {
  source: DatasetSource,
  columns: optional(
    Schema.NonEmptyArray(ColumnName).annotations({ description: "Columns to deliver, in order; all when absent." })
  ),
  filter: optional(
    Schema.String.annotations({
      description:
        "Rows to deliver: comparisons (= != < <= > >=), in, between, like, is null, joined with and, or, not.",
      examples: ["region = 'EU' and amount >= 100"]
    })
  ),
  casts: optional(
    Schema.Record({ key: Schema.String, value: Schema.String }).annotations({
      description: "Column name → type to deliver it as, such as decimal(12,2) or timestamp(us, UTC)."
    })
  ),
  allow_lossy: optional(
    Schema.Boolean.annotations({ description: "Allow casts that lose precision or range instead of failing." })
  ),
  incremental: optional(
    Schema.Struct({
      cursor: ColumnName.annotations({ description: "The column that grows when a row is added or changed." }),
      key: Schema.NonEmptyArray(ColumnName).annotations({ description: "Columns that identify a row." }),
      lookback: optional(
        Schema.String.annotations({ description: "A window re-read before the last watermark, such as 5m." })
      ),
      deletes: optional(
        Schema.Literal("ignore", "reconcile").annotations({
          description: "`reconcile` deletes the target's rows whose key the source no longer has."
        })
      )
    }).annotations({ description: "Deliver only rows changed since the last run, tracked by (cursor, key)." })
  )
}

export const DatasetBody = Schema.Struct(datasetFields).annotations({
  ...strict,
  description: "A dataset, as a config file's dataset entry without its name."
})
export type DatasetBody = typeof DatasetBody.Type

export const Dataset = Schema.Struct({
  name: Name,
  ...datasetFields,
  created_at: Timestamp,
  updated_at: Timestamp
}).annotations({
  identifier: "Dataset",
  description: "A table or a set of files shared from one of the account's stores."
})
export type Dataset = typeof Dataset.Type

// ---- invitations -------------------------------------------------------------------

export const InvitationStatus = Schema.Literal("Pending", "Accepted", "Rejected", "Withdrawn", "Expired")

export const InvitationBody = Schema.Struct({
  to: Schema.String.pipe(
    Schema.filter((text) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(text) || /^[a-z0-9][a-z0-9_-]*$/.test(text), {
      message: () => "an e-mail address or an account name",
      jsonSchema: {}
    })
  ).annotations({
    description: "Who is invited: an e-mail address or an account name.",
    examples: ["ops@fabrikam.example"]
  }),
  expires: optional(
    Schema.String.pipe(Schema.pattern(/^\d{4}-\d{2}-\d{2}$/, { message: () => "a date as YYYY-MM-DD" })).annotations({
      description: "The last day (UTC) on which the invitation can be accepted.",
      examples: ["2027-01-31"]
    })
  )
}).annotations({ ...strict, description: "An invitation to subscribe to the share." })

export const Invitation = Schema.Struct({
  id: Schema.String,
  share: Name,
  to: Schema.String,
  status: InvitationStatus,
  expires_at: optional(Timestamp),
  created_at: Timestamp,
  sent_at: optional(Timestamp.annotations({ description: "When the mail last went out; absent without SMTP." })),
  responded_at: optional(Timestamp),
  responded_by: optional(Name.annotations({ description: "The account that accepted or rejected it." })),
  subscription: optional(Name.annotations({ description: "The subscription accepting created." })),
  accept_token: optional(
    Schema.String.annotations({
      description:
        "The single-use accept token, in the response that made it only, when the service sends no mail: pass it to the invitee."
    })
  )
}).annotations({ identifier: "Invitation", description: "An invitation to one of the account's shares." })
export type Invitation = typeof Invitation.Type

export const ReceivedInvitation = Schema.Struct({
  id: Schema.String,
  provider: Name,
  share: Name,
  description: optional(Text),
  terms: optional(Text),
  dataset_count: Schema.Number,
  to: Schema.String,
  status: InvitationStatus,
  expires_at: optional(Timestamp),
  created_at: Timestamp
}).annotations({ identifier: "ReceivedInvitation", description: "An invitation addressed to the account." })
export type ReceivedInvitation = typeof ReceivedInvitation.Type

export const Trigger = Schema.Literal("manual", "schedule").annotations({
  description: "`schedule`: receive a snapshot on the share's schedule. `manual`: only when asked."
})

export const AcceptBody = Schema.Struct({
  accept_terms: Schema.Literal(true).annotations({
    description: "Subscribing accepts the share's terms: must be true."
  }),
  subscription: Name.annotations({ description: "The new subscription's name, unique in the account." }),
  trigger: optional(Trigger),
  token: optional(
    Schema.String.annotations({
      description: "The accept token of the invitation's mail, for an invitation addressed to another e-mail address."
    })
  )
}).annotations({ ...strict, description: "Accepting an invitation: its terms, and the subscription's name." })

// ---- subscriptions -----------------------------------------------------------------

export const SubscriptionStatus = Schema.Literal("Active", "Revoked")

export const Subscription = Schema.Struct({
  name: Name,
  provider: Name,
  share: Name,
  status: SubscriptionStatus,
  trigger: Trigger,
  created_at: Timestamp,
  revoked_at: optional(Timestamp),
  invitation_id: optional(Schema.String)
}).annotations({ identifier: "Subscription", description: "The account's subscription to another account's share." })
export type Subscription = typeof Subscription.Type

export const ShareSubscription = Schema.Struct({
  consumer: Name.annotations({ description: "The subscribing account." }),
  subscription: Name.annotations({ description: "The subscription's name in the consumer's account." }),
  share: Name,
  status: SubscriptionStatus,
  trigger: Trigger,
  since: Timestamp.annotations({ description: "When it was created." }),
  revoked_at: optional(Timestamp)
}).annotations({ identifier: "ShareSubscription", description: "A subscription to one of the account's shares." })
export type ShareSubscription = typeof ShareSubscription.Type

export const TriggerBody = Schema.Struct({ trigger: Trigger }).annotations({ ...strict })

export const SubscriptionDataset = Schema.Struct({
  name: Name,
  kind: Schema.Literal("table", "files").annotations({
    description: "`table`: rows, written in a format or into a table. `files`: a folder copied byte for byte."
  }),
  columns: optional(
    Schema.Array(Schema.String).annotations({ description: "The columns delivered, when the share names them." })
  )
}).annotations({ identifier: "SubscriptionDataset", description: "A dataset of the subscribed share." })

export const MappingBody = Schema.Struct(
  {
    store: Name.annotations({ description: "The account's store to deliver to." }),
    format: optional(
      Schema.Literal("csv", "parquet", "jsonl").annotations({
        description: "The file format tables are written in, when they land in a file store."
      })
    )
  },
  OpenRecord
).annotations({
  description:
    "Where a dataset lands, as a config file's mapping entry: a store, a format for file stores, format options (`csv:`, `parquet:`), then the sink's target settings (`path`, `table`…)."
})
export type MappingBody = typeof MappingBody.Type

export const Mapping = Schema.Struct(
  {
    dataset: Name,
    store: Name,
    format: optional(Schema.Literal("csv", "parquet", "jsonl")),
    updated_at: Timestamp
  },
  OpenRecord
).annotations({ identifier: "Mapping", description: "Where a dataset of the subscription lands." })
export type Mapping = typeof Mapping.Type

// ---- runs --------------------------------------------------------------------------

export const RunMode = Schema.Literal("Full", "Incremental")
export const RunStatus = Schema.Literal("Queued", "InProgress", "Succeeded", "Failed", "Canceled")

export const SynchronizeBody = Schema.Struct({
  mode: RunMode.annotations({
    description: "`Full`: a whole snapshot. `Incremental`: what changed since the last run (a full one the first time)."
  })
}).annotations({ ...strict })

export const QueuedRun = Schema.Struct({
  run_id: Schema.String,
  status: Schema.Literal("Queued")
}).annotations({ identifier: "QueuedRun", description: "A synchronization queued: follow it under runs." })

export const DatasetRun = Schema.Struct({
  dataset: Name,
  status: RunStatus,
  started_at: Timestamp,
  ended_at: optional(Timestamp),
  duration_seconds: optional(Schema.Number),
  rows: Schema.Number,
  bytes: Schema.Number,
  files: Schema.Number,
  message: optional(Text)
}).annotations({ identifier: "DatasetRun", description: "What a run did with one dataset." })
export type DatasetRun = typeof DatasetRun.Type

export const Run = Schema.Struct({
  run_id: Schema.String,
  subscription: Name,
  mode: RunMode,
  status: RunStatus,
  requested_at: optional(Timestamp.annotations({ description: "While queued: when it was asked for." })),
  started_at: optional(Timestamp),
  ended_at: optional(Timestamp),
  duration_seconds: optional(Schema.Number),
  message: optional(Text),
  datasets: Schema.Array(DatasetRun)
}).annotations({ identifier: "Run", description: "A synchronization of the subscription." })
export type Run = typeof Run.Type

export const Delivery = Schema.Struct({
  run_id: Schema.String,
  consumer: Name,
  subscription: Name,
  share: Name,
  mode: RunMode,
  status: RunStatus,
  started_at: Timestamp,
  ended_at: optional(Timestamp),
  duration_seconds: optional(Schema.Number),
  rows: Schema.Number,
  bytes: Schema.Number,
  files: Schema.Number,
  message: optional(Text)
}).annotations({
  identifier: "Delivery",
  description: "A run of a subscription to one of the account's shares, with what it delivered."
})
export type Delivery = typeof Delivery.Type

export const CanceledRun = Schema.Struct({
  run_id: Schema.String,
  canceled: Schema.Literal(true)
}).annotations({ identifier: "CanceledRun", description: "The run was canceled; its watermarks stay where they were." })

// ---- audit -------------------------------------------------------------------------

export const AuditParams = Schema.Struct({
  ...PageParams.fields,
  resource: optional(
    Schema.String.annotations({ description: "Only entries about this resource, such as `share:contoso/pos-sales`." })
  )
})

export const AuditEntry = Schema.Struct({
  id: Schema.Number.annotations({ description: "Increasing: the order entries were written in." }),
  at: Timestamp,
  actor: Schema.String.annotations({ description: "`operator`, `config:FILE`, `service`, or an account's name." }),
  accounts: Schema.Array(Name).annotations({ description: "Every account the entry concerns." }),
  action: Schema.String.annotations({ examples: ["share.create", "subscription.revoke"] }),
  resource: Schema.String.annotations({ examples: ["share:contoso/pos-sales"] }),
  detail: optional(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
}).annotations({ identifier: "AuditEntry", description: "A change or a delivery, as the audit log keeps it." })
export type AuditEntry = typeof AuditEntry.Type
