/**
 * The HTTP server of `ferry serve`: the API under /api/v1, its OpenAPI document at
 * /api/v1/openapi.json, and, without authentication, /healthz and Prometheus' /metrics.
 * Every error leaves as `{ "error": { "code", "message", "path"? } }`, including the
 * framework's own: a body or parameter that does not decode, invalid JSON, a route that
 * does not exist, a defect (logged, answered 500 without its detail).
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type * as HttpApiError from "@effect/platform/HttpApiError"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServer from "@effect/platform/HttpServer"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as Etag from "@effect/platform/Etag"
import type * as HttpPlatform from "@effect/platform/HttpPlatform"
import type * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { createServer } from "node:http"
import type { Registry } from "../../core/Registry.js"
import type { ControlStore } from "../control/ControlStore.js"
import type { Executor } from "../service/Executor.js"
import type { Mailer } from "../service/Mailer.js"
import type { Planner } from "../service/Planner.js"
import { Metrics } from "../service/Metrics.js"
import { StateStore } from "../state/StateStore.js"
import { Api, OPENAPI_PATH } from "./Api.js"
import * as Auth from "./Auth.js"
import { BadRequest, Internal, NotFound } from "./Errors.js"
import { AccountsLive } from "./handlers/Accounts.js"
import { AuditLive } from "./handlers/Audit.js"
import { InvitationsLive, ReceivedInvitationsLive } from "./handlers/Invitations.js"
import { DeliveriesLive, RunsLive } from "./handlers/Runs.js"
import { DatasetsLive, SharesLive } from "./handlers/Shares.js"
import { StoresLive } from "./handlers/Stores.js"
import { MappingsLive, ShareSubscriptionsLive, SubscriptionsLive } from "./handlers/Subscriptions.js"
import { Settings } from "./Settings.js"

/** `incremental.key[0]`, as config messages write paths. */
const renderPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (text, key) => (typeof key === "number" ? `${text}[${key}]` : text === "" ? String(key) : `${text}.${String(key)}`),
    ""
  )

const isDecodeError = (error: unknown): error is HttpApiError.HttpApiDecodeError =>
  typeof error === "object" && error !== null && "_tag" in error && error._tag === "HttpApiDecodeError"

const isRouteNotFound = (error: unknown): error is HttpServerError.RouteNotFound =>
  typeof error === "object" && error !== null && "_tag" in error && error._tag === "RouteNotFound"

/** A body that is not JSON: the framework reads it with `orDie`. */
const isUnreadableBody = (defect: unknown): defect is HttpServerError.RequestError =>
  typeof defect === "object" &&
  defect !== null &&
  "_tag" in defect &&
  defect._tag === "RequestError" &&
  "reason" in defect &&
  defect.reason === "Decode"

/** The framework's failures in the API's error body. */
const errorBodies = HttpApiBuilder.middleware(Api, (app) =>
  Effect.catchAllCause(app, (cause): Effect.Effect<never, BadRequest | NotFound | Internal> => {
    const failure = Cause.failureOption(cause)
    if (Option.isSome(failure)) {
      const error: unknown = failure.value
      if (isDecodeError(error)) {
        const issue = error.issues[0]
        const path = issue === undefined ? "" : renderPath(issue.path)
        // A body that is not an object at all: the issue would quote the Schema's description.
        const message =
          issue === undefined
            ? error.message
            : issue._tag === "Type" && path === ""
              ? "the body must be a JSON object (Content-Type: application/json)"
              : issue.message
        return Effect.fail(
          new BadRequest({
            code: "invalid_request",
            message: path === "" ? message : `${path}: ${message}`,
            ...(path === "" ? {} : { path })
          })
        )
      }
      if (isRouteNotFound(error)) {
        return Effect.fail(
          new NotFound({
            code: "not_found",
            message: `there is no route ${error.request.method} ${error.request.url.split("?")[0] ?? ""}`
          })
        )
      }
      return Effect.failCause(cause)
    }
    const defect = Cause.dieOption(cause)
    if (Option.isSome(defect)) {
      if (isUnreadableBody(defect.value)) {
        return Effect.fail(new BadRequest({ code: "invalid_request", message: "the body is not valid JSON" }))
      }
      return Effect.zipRight(
        Effect.logError("A request failed unexpectedly.", cause),
        Effect.fail(
          new Internal({ code: "internal", message: "the request failed unexpectedly: see the service's log" })
        )
      )
    }
    return Effect.failCause(cause)
  })
)

/** /healthz (the state store answers) and /metrics, outside the API and its authentication. */
const serviceRoutes = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function* () {
    const state = yield* StateStore
    const metrics = yield* Metrics
    yield* router.get(
      "/healthz",
      Effect.match(state.listRuns({ limit: 1 }), {
        onFailure: () => HttpServerResponse.unsafeJson({ status: "unavailable" }, { status: 503 }),
        onSuccess: () => HttpServerResponse.unsafeJson({ status: "ok" })
      })
    )
    yield* router.get(
      "/metrics",
      Effect.map(metrics.exposition, (text) => HttpServerResponse.text(text, { contentType: metrics.contentType }))
    )
  })
)

/** Every route of the API, with its handlers and authentication. */
export const apiLayer = HttpApiBuilder.api(Api).pipe(
  Layer.provide([
    AccountsLive,
    StoresLive,
    SharesLive,
    DatasetsLive,
    InvitationsLive,
    ReceivedInvitationsLive,
    ShareSubscriptionsLive,
    DeliveriesLive,
    SubscriptionsLive,
    MappingsLive,
    RunsLive,
    AuditLive
  ]),
  Layer.provide(Auth.layer)
)

export interface ServerOptions {
  /** 0 picks a free port; the `HttpServer` the layer gives says which. */
  readonly port: number
  /** The interface to listen on; every interface when absent. */
  readonly host?: string
  /** The store types of the served config, for the Schemas that mark secret settings. */
  readonly registry: Registry
  /** How invitees reach the service, for the accept instructions in mails; `http://localhost:PORT` by default. */
  readonly baseUrl?: string
}

/** Requests logged as they are answered, without their headers (a bearer token stays out of the log). */
const logRequests = HttpMiddleware.logger

/**
 * Serves the API on the port until the layer's scope closes. Gives the `HttpServer`
 * (its address) and Node's platform services; needs the stores, the executor, the
 * planner (which checks specs), the mailer and the metrics.
 */
export const layer = (
  options: ServerOptions
): Layer.Layer<
  HttpServer.HttpServer | NodeContext.NodeContext | HttpPlatform.HttpPlatform | Etag.Generator,
  HttpServerError.ServeError,
  ControlStore | StateStore | Executor | Mailer | Metrics | Planner
> =>
  HttpApiBuilder.serve(logRequests).pipe(
    Layer.provide([HttpApiBuilder.middlewareOpenApi({ path: OPENAPI_PATH }), errorBodies, serviceRoutes]),
    Layer.provide(apiLayer),
    Layer.provide(
      Layer.succeed(Settings, {
        registry: options.registry,
        baseUrl: options.baseUrl ?? `http://localhost:${options.port}`
      })
    ),
    HttpServer.withLogAddress,
    Layer.provideMerge(
      NodeHttpServer.layer(createServer, {
        port: options.port,
        ...(options.host === undefined ? {} : { host: options.host })
      })
    )
  )
