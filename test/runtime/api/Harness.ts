/**
 * The service as `ferry serve` composes it, on a free port, over either state store: a
 * SQLite file in a temporary folder, or a PostgreSQL schema of its own (`?schema=`,
 * dropped afterwards). The API server, the planner, the executor and the metrics, with
 * the gated test store among the connectors; invitations mailed to an in-process SMTP
 * server, or (without one) their accept tokens returned. No accounts: an operator token
 * only, made as `ferry token create --operator` makes it; the rest goes through the API
 * (or, with `layerWithAccounts`, contoso, fabrikam and northwind are made first, each
 * with a token). Beside the typed client, raw requests for what it cannot send, the
 * stores themselves (to check what a request left behind), and every response body received.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { makeRegistry } from "../../../core/Registry.js"
import * as Client from "../../../runtime/api/Client.js"
import * as Server from "../../../runtime/api/Server.js"
import { builtins } from "../../../runtime/Builtins.js"
import { ControlStore } from "../../../runtime/control/ControlStore.js"
import * as Layers from "../../../runtime/control/Layers.js"
import { hashSecret, makeSecret } from "../../../runtime/control/Tokens.js"
import * as ExecutorLive from "../../../runtime/service/ExecutorLive.js"
import * as Metrics from "../../../runtime/service/Metrics.js"
import * as Planner from "../../../runtime/service/Planner.js"
import * as SmtpMailer from "../../../runtime/service/SmtpMailer.js"
import { StateStore } from "../../../runtime/state/StateStore.js"
import gatePlugin from "../../fixtures/plugins/gate-plugin.js"
import { makeSchema, TEST_URL } from "../../support/postgres.js"
import type { TestSmtp } from "../../support/smtp.js"
import { smtpServer } from "../../support/smtp.js"
import type { ServiceSpace } from "../service/ServiceSupport.js"
import { CONFIG_ACTOR, serviceSpace } from "../service/ServiceSupport.js"

export type StateKind = "sqlite" | "postgres"

export interface RawResponse {
  readonly status: number
  readonly body: string
  readonly type: string
}

export interface Harness {
  readonly state: StateKind
  /** The folder: stores' roots resolve here (`./src`, `./out`). */
  readonly space: ServiceSpace
  readonly baseUrl: string
  readonly operatorToken: string
  /** The mail server, when the harness has one. */
  readonly smtp: TestSmtp | undefined
  readonly control: ControlStore["Type"]
  readonly stateStore: StateStore["Type"]
  /** Every response body received, by the typed clients and by `fetch`, in order. */
  readonly bodies: ReadonlyArray<string>
  /** The typed client with this token (none: no Authorization header). */
  readonly client: (token?: string) => Effect.Effect<Client.Client>
  /** A raw request to a path of the service. */
  readonly fetch: (path: string, init?: RequestInit) => Effect.Effect<RawResponse>
}

export class Service extends Context.Tag("test/api/Harness")<Service, Harness>() {}

const registry = Either.getOrThrow(
  makeRegistry([...builtins.map((plugin) => ({ origin: "built-in", plugin })), { origin: "gate", plugin: gatePlugin }])
)

const quiet = Logger.minimumLogLevel(LogLevel.Warning)

/** Both stores: a SQLite file in the folder, or a fresh PostgreSQL schema dropped when the scope closes. */
const storesOf = (kind: StateKind, space: ServiceSpace) =>
  kind === "sqlite"
    ? Effect.succeed(Layers.layerSqlite({ filename: space.state }))
    : Effect.map(
        Effect.acquireRelease(
          Effect.promise(() => makeSchema("api")),
          (schema) => Effect.promise(() => schema.drop())
        ),
        (schema) => {
          const url = new URL(TEST_URL)
          url.searchParams.set("schema", schema.name)
          return Layers.layerPostgres({ url: Redacted.make(url.toString()) })
        }
      )

export interface HarnessOptions {
  readonly state?: StateKind
  /** Invitations mailed to an in-process SMTP server (otherwise their tokens come back in the response). */
  readonly mail?: boolean
  /** Datasets transferring at once across every run. */
  readonly concurrency?: number
}

export const layer = (options: HarnessOptions = {}): Layer.Layer<Service> =>
  Layer.unwrapScoped(
    Effect.gen(function* () {
      const kind = options.state ?? "sqlite"
      const space = yield* Effect.acquireRelease(Effect.sync(serviceSpace), (space) => Effect.sync(space.remove))
      const smtp = options.mail === true ? yield* smtpServer() : undefined
      const stores = Layer.orDie(yield* storesOf(kind, space))
      const mailer = smtp === undefined ? SmtpMailer.layerDisabled : SmtpMailer.layerSmtp(smtp.options)
      const planner = Planner.layer({ builtins: [...builtins, gatePlugin], baseDir: space.dir })
      const executor = ExecutorLive.layer({ runs: 2, concurrency: options.concurrency ?? 2, poll: "200 millis" })
      const server = Server.layer({ port: 0, registry, baseUrl: "https://ferry.example" }).pipe(
        Layer.provide(executor),
        Layer.provide(planner),
        Layer.provide(Metrics.layer),
        Layer.provide(mailer),
        Layer.provideMerge(stores)
      )
      return Layer.effect(
        Service,
        Effect.gen(function* () {
          const address = (yield* HttpServer.HttpServer).address
          if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("the server is not on TCP")
          const baseUrl = `http://127.0.0.1:${address.port}`
          const control = yield* ControlStore
          const stateStore = yield* StateStore
          const operatorToken = makeSecret()
          yield* control.createToken(CONFIG_ACTOR, { secretHash: hashSecret(operatorToken), description: "tests" })
          const bodies: Array<string> = []
          // The body is read once here and handed on in a response of its own.
          const record = (client: HttpClient.HttpClient): HttpClient.HttpClient =>
            HttpClient.transformResponse(client, (response) =>
              Effect.flatMap(response, (response) =>
                Effect.map(Effect.orDie(response.text), (text) => {
                  bodies.push(text)
                  const empty = response.status === 204 || response.status === 304
                  const copy = new Response(empty ? null : text, { status: response.status, headers: response.headers })
                  return HttpClientResponse.fromWeb(response.request, copy)
                })
              )
            )
          const httpClient = yield* Effect.provide(HttpClient.HttpClient, FetchHttpClient.layer)
          const client = (token?: string) =>
            Client.make({ baseUrl, transformClient: record, ...(token === undefined ? {} : { token }) }).pipe(
              Effect.provideService(HttpClient.HttpClient, httpClient)
            )
          const fetch = (path: string, init?: RequestInit) =>
            Effect.promise(async () => {
              const response = await globalThis.fetch(`${baseUrl}${path}`, init)
              const body = await response.text()
              bodies.push(body)
              return { status: response.status, body, type: response.headers.get("content-type") ?? "" }
            })
          return { state: kind, space, baseUrl, operatorToken, smtp, control, stateStore, bodies, client, fetch }
        }).pipe(Effect.orDie)
      ).pipe(Layer.provide(Layer.orDie(server)), Layer.provide(quiet))
    })
  )

/** The tokens of the accounts `layerWithAccounts` makes, and the operator's. */
export interface AccountTokens {
  readonly operator: string
  readonly contoso: string
  readonly fabrikam: string
  readonly northwind: string
}

export class Accounts extends Context.Tag("test/api/Accounts")<Accounts, AccountTokens>() {}

/**
 * The harness with the accounts contoso (data@contoso.example), fabrikam
 * (ops@fabrikam.example) and northwind (no address) made in the control store, each with
 * a token, as `ferry apply` and `ferry token create` make them.
 */
export const layerWithAccounts = (options: HarnessOptions = {}): Layer.Layer<Service | Accounts> =>
  Layer.provideMerge(
    Layer.effect(
      Accounts,
      Effect.gen(function* () {
        const { control, operatorToken } = yield* Service
        const tokenOf = (account: string) =>
          Effect.gen(function* () {
            const secret = makeSecret()
            yield* control.createToken(CONFIG_ACTOR, { secretHash: hashSecret(secret), account })
            return secret
          })
        yield* control.putAccount(CONFIG_ACTOR, { name: "contoso", email: "data@contoso.example" })
        yield* control.putAccount(CONFIG_ACTOR, { name: "fabrikam", email: "ops@fabrikam.example" })
        yield* control.putAccount(CONFIG_ACTOR, { name: "northwind" })
        return {
          operator: operatorToken,
          contoso: yield* tokenOf("contoso"),
          fabrikam: yield* tokenOf("fabrikam"),
          northwind: yield* tokenOf("northwind")
        }
      }).pipe(Effect.orDie)
    ),
    layer(options)
  )

/** Polls the run until it has ended. */
export const ended = (client: Client.Client, subscription: string, runId: string) =>
  client.runs.get({ path: { subscription, run_id: runId } }).pipe(
    Effect.filterOrFail(
      (run) => run.status !== "Queued" && run.status !== "InProgress",
      () => "still going"
    ),
    Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo(Duration.seconds(30))))
  )

/** Headers of a request with this token (and a JSON body). */
export const headers = (token: string | undefined, json = true): Record<string, string> => ({
  ...(token === undefined ? {} : { Authorization: `Bearer ${token}` }),
  ...(json ? { "content-type": "application/json" } : {})
})

/** What an error of the typed client was: its class, code, path and message. */
export const failure = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.flip(effect), (error) => ({
    tag: error._tag,
    code: "code" in error ? error.code : undefined,
    path: "path" in error ? error.path : undefined,
    message: "message" in error ? String(error.message) : ""
  }))

/** The shape every error body has: `{ error: { code, message, path? } }` and nothing else. */
export const isErrorBody = (body: string): boolean => {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return false
  }
  if (typeof parsed !== "object" || parsed === null || Object.keys(parsed).join() !== "error") return false
  const error = (parsed as { error: unknown }).error
  if (typeof error !== "object" || error === null) return false
  const fields = error as Record<string, unknown>
  const extra = Object.keys(fields).filter((key) => !["code", "message", "path"].includes(key))
  return (
    extra.length === 0 &&
    typeof fields["code"] === "string" &&
    fields["code"] !== "" &&
    typeof fields["message"] === "string" &&
    fields["message"] !== "" &&
    (fields["path"] === undefined || typeof fields["path"] === "string")
  )
}

/** Whose resources each group of the API acts on, in the fixtures of the authorization and bad-input tests. */
export const GROUP_OWNERS = {
  accounts: "operator",
  stores: "contoso",
  shares: "contoso",
  datasets: "contoso",
  invitations: "contoso",
  receivedInvitations: "fabrikam",
  shareSubscriptions: "contoso",
  deliveries: "contoso",
  subscriptions: "fabrikam",
  mappings: "fabrikam",
  runs: "fabrikam",
  audit: "contoso"
} as const satisfies Record<string, "operator" | "contoso" | "fabrikam">
