/**
 * An Azure Blob Storage account: its config, the client opened on it, the short-lived
 * read URLs that let the service copy a blob by itself, and the service's errors told as
 * sentences a user can act on. The source (connectors/azure-blob) and the sink
 * (sinks/azure-blob) share all of it.
 *
 * The Azure SDK (@azure/storage-blob, and @azure/identity for `default_credential`) is
 * loaded when a store opens, not when the connector is imported: it costs 170 ms and
 * 23 MiB (identity another 90 ms and 10 MiB), which a run without a blob store never pays.
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as AzureStorage from "@azure/storage-blob"

const SECRET_NOTE = "Keep it out of the config: write ${env:VARIABLE}."

const secret = (description: string, example: string) =>
  Schema.Redacted(Schema.NonEmptyString.annotations({ description, examples: [example] })).annotations({
    description
  })

/**
 * Names of containers (and of ADLS file systems, which are containers) as the service
 * takes them: 3 to 63 lowercase letters, digits and single hyphens.
 */
export const containerNamed = (what: string) =>
  Schema.String.pipe(
    Schema.pattern(/^(?=.{3,63}$)[a-z0-9]+(?:-[a-z0-9]+)*$/, {
      message: () => `${what}: 3 to 63 lowercase letters, digits and single hyphens, such as sales-2026`
    })
  )

export const ContainerName = containerNamed("a container name")

/**
 * An endpoint of the account: an http(s) URL without a query or credentials (a SAS goes
 * in `sas_token`, where it is kept secret). `expected` is the message for anything else.
 */
export const endpointUrl = (expected: string) =>
  Schema.String.pipe(
    Schema.filter(
      (text) => {
        const url = URL.canParse(text) ? new URL(text) : undefined
        if (url === undefined || (url.protocol !== "https:" && url.protocol !== "http:")) return expected
        if (url.search !== "" || url.username !== "" || url.password !== "") {
          return "give the URL without a query or credentials: a SAS goes in sas_token"
        }
        return undefined
      },
      { jsonSchema: {} }
    )
  )

export const AzureBlobStoreConfig = Schema.Struct({
  account_url: Schema.optional(
    endpointUrl("expected the account's blob endpoint, such as https://contosodata.blob.core.windows.net").annotations({
      description:
        "The account's blob endpoint (an emulator's is http://127.0.0.1:10000/devstoreaccount1). Give it with one way to sign in: account_name and account_key, sas_token, or default_credential.",
      examples: ["https://contosodata.blob.core.windows.net"]
    })
  ),
  connection_string: Schema.optional(
    secret(
      `The account's connection string as the portal gives it, with an AccountKey or a SharedAccessSignature; instead of account_url and a credential. ${SECRET_NOTE}`,
      "${env:CONTOSO_BLOB_CONNECTION_STRING}"
    )
  ),
  account_name: Schema.optional(
    Schema.String.pipe(
      Schema.pattern(/^[a-z0-9]{3,24}$/, { message: () => "an account name: 3 to 24 lowercase letters and digits" })
    ).annotations({ description: "The storage account's name, with account_key.", examples: ["contosodata"] })
  ),
  account_key: Schema.optional(
    secret(`One of the account's access keys, with account_name. ${SECRET_NOTE}`, "${env:CONTOSO_BLOB_KEY}")
  ),
  sas_token: Schema.optional(
    secret(
      `A shared access signature (the query string, with or without its leading ?). A source needs read and list (sp=rl); a target read, add, create, write, delete and list (sp=racwdl). ${SECRET_NOTE}`,
      "${env:CONTOSO_BLOB_SAS}"
    )
  ),
  default_credential: Schema.optional(
    Schema.Boolean.annotations({
      description:
        "Sign in with Azure's DefaultAzureCredential: environment variables (AZURE_CLIENT_ID…), workload identity, a managed identity, or the Azure CLI's login. The identity needs Storage Blob Data Reader on a source, Contributor on a target.",
      examples: [true]
    })
  ),
  block_size_kib: Schema.optional(
    Schema.Int.pipe(Schema.between(16, 4_096_000)).annotations({
      description:
        "Size of the blocks a blob is written in, and of the ranges it is read in, in KiB (default 8192: 8 MiB). A file being written holds at most three blocks in memory.",
      examples: [8192]
    })
  ),
  max_tries: Schema.optional(
    Schema.Int.pipe(Schema.between(1, 10)).annotations({
      description: "Attempts of a request that fails for a reason that may pass (default 4).",
      examples: [4]
    })
  ),
  retry_delay_ms: Schema.optional(
    Schema.Int.pipe(Schema.between(1, 60_000)).annotations({
      description: "Delay before the first retry, doubled at each one up to 30 times it (default 4000).",
      examples: [4000]
    })
  )
})
  .pipe(
    Schema.filter((config) => {
      const credentials = (["account_key", "sas_token", "default_credential"] as const).filter(
        (key) => config[key] !== undefined && config[key] !== false
      )
      if ((config.account_url === undefined) === (config.connection_string === undefined)) {
        return {
          path: ["account_url"],
          message: "give account_url (with account_key, sas_token or default_credential) or connection_string"
        }
      }
      if (config.connection_string !== undefined) {
        const extra = (["account_name", ...credentials] as const).find((key) => config[key] !== undefined)
        if (extra !== undefined) {
          return { path: [extra], message: `the connection string carries the credential; remove ${extra}` }
        }
        return undefined
      }
      if (credentials.length !== 1) {
        return {
          path: [credentials[1] ?? "account_key"],
          message: "give exactly one way to sign in: account_key (with account_name), sas_token or default_credential"
        }
      }
      if ((config.account_key === undefined) !== (config.account_name === undefined)) {
        return {
          path: [config.account_key === undefined ? "account_name" : "account_key"],
          message: "account_name and account_key go together"
        }
      }
      return undefined
    })
  )
  .annotations({
    identifier: "AzureBlobStoreConfig",
    description: "An Azure Blob Storage account (or an emulator of it, such as Azurite)."
  })
export type AzureBlobStoreConfig = typeof AzureBlobStoreConfig.Type

/** A blob store could not be opened, or the service answered with an error. Never carries a key or a SAS. */
export class AzureBlobError extends Schema.TaggedError<AzureBlobError>()("AzureBlobError", {
  store: Schema.String,
  message: Schema.String
}) {}

export const DEFAULT_BLOCK_BYTES = 8 * 1024 * 1024

/** How the store signs in, and what a message may say about it. */
export type Auth =
  | { readonly kind: "key"; readonly from: "account_key" | "connection string" }
  | {
      readonly kind: "sas"
      readonly from: "sas_token" | "connection string"
      /** The SAS query without its leading `?`: a secret. */
      readonly token: Redacted.Redacted<string>
      /** `sp`: what the SAS allows. */
      readonly permissions: string | undefined
      /** `se`: when it expires, in ms since the epoch. */
      readonly expires: number | undefined
    }
  | { readonly kind: "default_credential" }

/** A place in the account, for messages. */
export interface BlobPlace {
  readonly container: string
  readonly blob?: string
}

export interface BlobAccount {
  readonly store: string
  readonly sdk: typeof AzureStorage
  readonly service: AzureStorage.BlobServiceClient
  readonly accountName: string
  /** The blob endpoint, without credentials. */
  readonly endpoint: URL
  readonly auth: Auth
  readonly blockBytes: number
  /** A URL the service can read the blob from, by itself, until `expires`; the URL carries a secret. */
  readonly signedUrl: (
    place: Required<BlobPlace>,
    expires: Date
  ) => Effect.Effect<Redacted.Redacted<string>, AzureBlobError>
  /** The failure of `action` ("reading", "writing", "listing"…) at `place`, as a secret-free sentence. */
  readonly describe: (error: unknown, action: string, place: BlobPlace) => string
  readonly fail: (error: unknown, action: string, place: BlobPlace) => AzureBlobError
}

// ---- the service's errors ----------------------------------------------------------

interface ServiceError {
  readonly status: number | undefined
  readonly code: string | undefined
  readonly copySourceStatus: number | undefined
  readonly copySourceCode: string | undefined
  readonly name: string | undefined
}

const asServiceError = (error: unknown): ServiceError => {
  const value = (typeof error === "object" && error !== null ? error : {}) as {
    statusCode?: unknown
    code?: unknown
    name?: unknown
    details?: { errorCode?: unknown; copySourceStatusCode?: unknown; copySourceErrorCode?: unknown }
  }
  const text = (field: unknown) => (typeof field === "string" && field !== "" ? field : undefined)
  const number = (field: unknown) => (typeof field === "number" ? field : undefined)
  return {
    status: number(value.statusCode),
    code: text(value.code) ?? text(value.details?.errorCode),
    copySourceStatus: number(value.details?.copySourceStatusCode),
    copySourceCode: text(value.details?.copySourceErrorCode),
    name: text(value.name)
  }
}

/** The HTTP status of a service error, for callers that tell one failure from another. */
export const statusOf = (error: unknown): number | undefined => asServiceError(error).status

/** The service's error code (`BlobNotFound`, `LeaseAlreadyPresent`…), when it gave one. */
export const codeOf = (error: unknown): string | undefined => asServiceError(error).code

/** Codes of a request that did not reach the service (no HTTP status). */
export const NETWORK_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "REQUEST_SEND_ERROR"
])

const AUTHENTICATION = new Set(["AuthenticationFailed", "AuthorizationFailure", "InvalidAuthenticationInfo"])
const PERMISSION = new Set([
  "AuthorizationPermissionMismatch",
  "AuthorizationResourceTypeMismatch",
  "AuthorizationServiceMismatch",
  "AuthorizationSourceIPMismatch",
  "AuthorizationProtocolMismatch",
  "InsufficientAccountPermissions"
])
const CHANGED = new Set(["ConditionNotMet", "SourceConditionNotMet", "TargetConditionNotMet"])
const BAD_NAME = new Set(["InvalidResourceName", "OutOfRangeInput", "InvalidUri"])

/** Long names (a blob name may have 1,024 characters) are cut in messages. */
export const shortened = (name: string): string =>
  name.length <= 200 ? name : `${name.slice(0, 120)}… (${name.length} characters)`

export const describePlace = (place: BlobPlace): string =>
  place.blob === undefined ? `container ${place.container}` : `blob ${shortened(`${place.container}/${place.blob}`)}`

const authReason = (auth: Auth, now: number): string => {
  switch (auth.kind) {
    case "key":
      return `the account key was refused (authentication failed); check ${auth.from === "account_key" ? "account_key" : "the connection string's AccountKey"}`
    case "sas":
      return auth.expires !== undefined && auth.expires <= now
        ? `the SAS token expired at ${new Date(auth.expires).toISOString()}; give a new one`
        : "the SAS token was refused (authentication failed): it may have expired or been revoked (its stored access policy changed or deleted), or be for another account or container"
    case "default_credential":
      return "the Azure credential was refused (authentication failed)"
  }
}

const permissionReason = (auth: Auth, action: string): string => {
  switch (auth.kind) {
    case "sas":
      return `the SAS token does not allow ${action} (its permissions are "${auth.permissions ?? "?"}"; a source needs rl, a target racwdl)`
    case "default_credential":
      return `the identity has no role that allows ${action} here: give it Storage Blob Data Reader (source) or Storage Blob Data Contributor (target) on the account or container`
    case "key":
      return `the service does not allow ${action} with this key (a firewall or network rule?)`
  }
}

const describeWith =
  (auth: Auth, endpoint: URL) =>
  (error: unknown, action: string, place: BlobPlace): string => {
    const failure = asServiceError(error)
    const { code, status } = failure
    const where = `${action} ${describePlace(place)}`
    const reason = ((): string => {
      if (failure.name === "CredentialUnavailableError" || failure.name === "AggregateAuthenticationError") {
        return "no Azure credential is available to DefaultAzureCredential: set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET, use a managed identity, or sign in with az login"
      }
      if (failure.name === "AuthenticationError") return "the Azure credential could not get a token"
      if (status === undefined && code !== undefined && NETWORK_CODES.has(code)) {
        return `the service at ${endpoint.host} cannot be reached (${code})`
      }
      if (code === "CannotVerifyCopySource") {
        if (failure.copySourceCode !== undefined && CHANGED.has(failure.copySourceCode)) {
          return "the source blob changed while it was copied"
        }
        return `the service could not read the source of the copy (${[failure.copySourceStatus, failure.copySourceCode].filter((part) => part !== undefined).join(" ") || "no detail"})`
      }
      if (code !== undefined && AUTHENTICATION.has(code)) return authReason(auth, Date.now())
      if (status === 401) return authReason(auth, Date.now())
      if (code !== undefined && PERMISSION.has(code)) return permissionReason(auth, action)
      if (code === "ContainerNotFound" || (status === 404 && place.blob === undefined)) {
        return `container ${place.container} does not exist in the account`
      }
      if (code === "BlobNotFound" || status === 404) return "it does not exist"
      if ((code !== undefined && CHANGED.has(code)) || status === 412) return "it changed while it was read"
      if ((code !== undefined && BAD_NAME.has(code)) || status === 414 || status === 431) {
        return `the service rejects the name (HTTP ${status ?? "?"}${code === undefined ? "" : ` ${code}`})`
      }
      if (status === 403) return `access denied (HTTP 403${code === undefined ? "" : ` ${code}`})`
      if (status !== undefined && status >= 500) {
        return `the service failed (HTTP ${status}${code === undefined ? "" : ` ${code}`}); try again later`
      }
      if (status !== undefined) return `the service answered HTTP ${status}${code === undefined ? "" : ` ${code}`}`
      return code !== undefined ? `the request failed (${code})` : "the request failed"
    })()
    return `${where}: ${reason}`
  }

// ---- signing in ----------------------------------------------------------------------

const sasParameters = (token: string) => {
  const parameters = new URLSearchParams(token.replace(/^\?/, ""))
  const expiry = parameters.get("se")
  const expires = expiry === null ? undefined : Date.parse(expiry)
  return {
    permissions: parameters.get("sp") ?? undefined,
    expires: expires === undefined || Number.isNaN(expires) ? undefined : expires
  }
}

/** The fields of a connection string, by name (`AccountKey`, `BlobEndpoint`, `SharedAccessSignature`…). */
const connectionFields = (text: string): ReadonlyMap<string, string> =>
  new Map(
    text
      .split(";")
      .map((part) => part.trim())
      .filter((part) => part.includes("="))
      .map((part) => [part.slice(0, part.indexOf("=")), part.slice(part.indexOf("=") + 1)] as const)
  )

const sasAuth = (token: string, from: "sas_token" | "connection string"): Auth => ({
  kind: "sas",
  from,
  token: Redacted.make(token.replace(/^\?/, "")),
  ...sasParameters(token)
})

/** Retries as the config says: the SDK's exponential policy, so that a short outage is ridden out. */
const pipelineOptions = (config: AzureBlobStoreConfig): AzureStorage.StoragePipelineOptions => {
  const delay = config.retry_delay_ms ?? 4_000
  return {
    retryOptions: { maxTries: config.max_tries ?? 4, retryDelayInMs: delay, maxRetryDelayInMs: delay * 30 },
    userAgentOptions: { userAgentPrefix: "ferry" }
  }
}

interface Signed {
  readonly service: AzureStorage.BlobServiceClient
  readonly auth: Auth
}

const signIn = (
  sdk: typeof AzureStorage,
  config: AzureBlobStoreConfig,
  fail: (message: string) => AzureBlobError
): Effect.Effect<Signed, AzureBlobError> =>
  Effect.gen(function* () {
    const options = pipelineOptions(config)
    if (config.connection_string !== undefined) {
      const text = Redacted.value(config.connection_string)
      const fields = connectionFields(text)
      const service = yield* Effect.try({
        try: () => sdk.BlobServiceClient.fromConnectionString(text, options),
        // The SDK's message may quote the string; say what is wrong without it.
        catch: () =>
          fail(
            "the connection string cannot be read: expected AccountName and AccountKey, or BlobEndpoint and SharedAccessSignature, separated by ;"
          )
      })
      const signature = fields.get("SharedAccessSignature")
      return {
        service,
        auth:
          signature !== undefined ? sasAuth(signature, "connection string") : { kind: "key", from: "connection string" }
      }
    }
    const url = config.account_url!
    if (config.account_key !== undefined) {
      const credential = yield* Effect.try({
        try: () => new sdk.StorageSharedKeyCredential(config.account_name!, Redacted.value(config.account_key!)),
        catch: () => fail("account_key is not a base64 key as the portal gives it")
      })
      return {
        service: new sdk.BlobServiceClient(url, credential, options),
        auth: { kind: "key", from: "account_key" }
      }
    }
    if (config.sas_token !== undefined) {
      const auth = sasAuth(Redacted.value(config.sas_token), "sas_token")
      const token = auth.kind === "sas" ? Redacted.value(auth.token) : ""
      return { service: new sdk.BlobServiceClient(`${url.replace(/\/+$/, "")}?${token}`, undefined, options), auth }
    }
    const identity = yield* Effect.promise(() => import("@azure/identity"))
    return {
      service: new sdk.BlobServiceClient(url, new identity.DefaultAzureCredential(), options),
      auth: { kind: "default_credential" }
    }
  })

/** The part of a client's URL that is not a credential. */
const withoutQuery = (url: string): URL => {
  const parsed = new URL(url)
  parsed.search = ""
  return parsed
}

/** A user delegation key lives up to seven days; one is asked for per hour of signing, and reused. */
const DELEGATION_HOURS = 6

/** Opens the account: nothing is asked of the service until a dataset or target is used. */
export const openAccount = (
  config: AzureBlobStoreConfig,
  store: string
): Effect.Effect<BlobAccount, AzureBlobError, Scope.Scope> =>
  Effect.gen(function* () {
    const fail = (message: string) => new AzureBlobError({ store, message })
    const sdk = yield* Effect.promise(() => import("@azure/storage-blob"))
    const { auth, service } = yield* signIn(sdk, config, fail)
    if (auth.kind === "sas" && auth.expires !== undefined && auth.expires <= Date.now()) {
      return yield* fail(`the SAS token expired at ${new Date(auth.expires).toISOString()}; give a new one`)
    }
    const endpoint = withoutQuery(service.url)
    const describe = describeWith(auth, endpoint)
    const failWith = (error: unknown, action: string, place: BlobPlace) => fail(describe(error, action, place))

    let delegation: { key: AzureStorage.UserDelegationKey; until: number } | undefined
    const delegationKey = (expires: Date, place: BlobPlace) =>
      Effect.gen(function* () {
        if (delegation !== undefined && delegation.until >= expires.getTime()) return delegation.key
        const startsOn = new Date(Date.now() - 5 * 60_000)
        const until = new Date(Math.max(expires.getTime(), Date.now() + DELEGATION_HOURS * 3_600_000))
        const key = yield* Effect.tryPromise({
          try: () => service.getUserDelegationKey(startsOn, until),
          catch: (error) => failWith(error, "signing a read URL for", place)
        })
        delegation = { key, until: until.getTime() }
        return key
      })

    const signedUrl = (place: Required<BlobPlace>, expires: Date) =>
      Effect.gen(function* () {
        const blob = service.getContainerClient(place.container).getBlobClient(place.blob)
        const options = {
          permissions: sdk.BlobSASPermissions.parse("r"),
          // A few minutes of leeway for clocks that disagree.
          startsOn: new Date(Date.now() - 5 * 60_000),
          expiresOn: expires
        }
        switch (auth.kind) {
          case "key":
            return Redacted.make(
              yield* Effect.tryPromise({
                try: () => blob.generateSasUrl(options),
                catch: (error) => failWith(error, "signing a read URL for", place)
              })
            )
          case "sas":
            // The store's own SAS reads the blob; the service copying it sees it, Ferry's logs never do.
            return Redacted.make(`${withoutQuery(blob.url).toString()}?${Redacted.value(auth.token)}`)
          case "default_credential": {
            const key = yield* delegationKey(expires, place)
            return Redacted.make(
              yield* Effect.tryPromise({
                try: () => blob.generateUserDelegationSasUrl(options, key),
                catch: (error) => failWith(error, "signing a read URL for", place)
              })
            )
          }
        }
      })

    return {
      store,
      sdk,
      service,
      accountName: service.accountName,
      endpoint,
      auth,
      blockBytes: (config.block_size_kib ?? DEFAULT_BLOCK_BYTES / 1024) * 1024,
      signedUrl,
      describe,
      fail: failWith
    }
  })

/**
 * Fails unless the container exists and the credential may list it: a listing of one
 * blob (Get Container Properties is not allowed to a container's SAS).
 */
export const checkContainer = (account: BlobAccount, container: string): Effect.Effect<void, AzureBlobError> =>
  Effect.tryPromise({
    try: () => account.service.getContainerClient(container).listBlobsFlat().byPage({ maxPageSize: 1 }).next(),
    catch: (error) => account.fail(error, "listing", { container })
  }).pipe(Effect.asVoid)

/**
 * Whether the service behind `sink` can fetch a URL of `source` by itself: the same
 * endpoint host (one account, or one emulator), or two public Azure Storage endpoints.
 * A URL the service cannot reach is not copied from; its file is streamed instead.
 */
export const canCopyBetween = (source: URL, sink: URL): boolean => {
  if (source.origin === sink.origin) return true
  const azure = (url: URL) =>
    url.protocol === "https:" &&
    /\.blob\.(core\.windows\.net|core\.chinacloudapi\.cn|core\.usgovcloudapi\.net|storage\.azure\.net)$/.test(
      url.hostname
    )
  return azure(source) && azure(sink)
}
