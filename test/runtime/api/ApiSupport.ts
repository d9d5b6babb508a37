/**
 * The service as `ferry serve` runs it, on a free port: the API server over a SQLite
 * control and state store in a temporary folder, the planner, the executor and the
 * metrics; the mailer is the caller's. Accounts contoso, fabrikam and northwind with a
 * token each, and an operator token. Clients are the typed client of runtime/api, and
 * every response body they receive is kept, so that a test can look through all of them.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { makeRegistry } from "../../../core/Registry.js"
import * as Client from "../../../runtime/api/Client.js"
import * as Server from "../../../runtime/api/Server.js"
import { builtins } from "../../../runtime/Builtins.js"
import { ControlStore } from "../../../runtime/control/ControlStore.js"
import { hashSecret, makeSecret } from "../../../runtime/control/Tokens.js"
import * as ExecutorLive from "../../../runtime/service/ExecutorLive.js"
import type { Mailer } from "../../../runtime/service/Mailer.js"
import * as Metrics from "../../../runtime/service/Metrics.js"
import * as SmtpMailer from "../../../runtime/service/SmtpMailer.js"
import gatePlugin from "../../fixtures/plugins/gate-plugin.js"
import type { ServiceSpace } from "../service/ServiceSupport.js"
import { CONFIG_ACTOR, plannerLayer, serviceSpace, storesLayer } from "../service/ServiceSupport.js"

export interface TestService {
  readonly space: ServiceSpace
  readonly baseUrl: string
  readonly tokens: {
    readonly operator: string
    readonly contoso: string
    readonly fabrikam: string
    readonly northwind: string
  }
  /** Every response body received by a client of `client`, in order. */
  readonly bodies: ReadonlyArray<string>
  /** The typed client with this token (none: no Authorization header). */
  readonly client: (token?: string) => Effect.Effect<Client.Client>
  /** A raw request, for what the typed client cannot send (invalid JSON, unknown fields). */
  readonly fetch: (path: string, init?: RequestInit) => Effect.Effect<{ status: number; body: string; type: string }>
}

export class Service extends Context.Tag("test/api/Service")<Service, TestService>() {}

const registry = Either.getOrThrow(
  makeRegistry([...builtins.map((plugin) => ({ origin: "built-in", plugin })), { origin: "gate", plugin: gatePlugin }])
)

const quiet = Logger.minimumLogLevel(LogLevel.Warning)

/** The service with this mailer, its folder removed when the layer's scope closes. */
export const layer = (mailer: Layer.Layer<Mailer> = SmtpMailer.layerDisabled): Layer.Layer<Service> =>
  Layer.unwrapScoped(
    Effect.gen(function* () {
      const space = yield* Effect.acquireRelease(Effect.sync(serviceSpace), (space) => Effect.sync(space.remove))
      const stores = storesLayer(space)
      const planner = plannerLayer(space)
      const executor = ExecutorLive.layer({ runs: 2, concurrency: 2, poll: "200 millis" })
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
          const tokenOf = (account?: string) =>
            Effect.gen(function* () {
              const secret = makeSecret()
              yield* control.createToken(CONFIG_ACTOR, {
                secretHash: hashSecret(secret),
                ...(account === undefined ? {} : { account })
              })
              return secret
            })
          yield* control.putAccount(CONFIG_ACTOR, { name: "contoso", email: "data@contoso.example" })
          yield* control.putAccount(CONFIG_ACTOR, { name: "fabrikam", email: "ops@fabrikam.example" })
          yield* control.putAccount(CONFIG_ACTOR, { name: "northwind" })
          const tokens = {
            operator: yield* tokenOf(),
            contoso: yield* tokenOf("contoso"),
            fabrikam: yield* tokenOf("fabrikam"),
            northwind: yield* tokenOf("northwind")
          }
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
          return { space, baseUrl, tokens, bodies, client, fetch }
        }).pipe(Effect.orDie)
      ).pipe(Layer.provide(Layer.orDie(server)), Layer.provide(quiet))
    })
  )

/** The bearer header of a token, for `fetch`. */
export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` })
