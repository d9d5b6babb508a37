/**
 * Who calls: every /api/v1 request carries `Authorization: Bearer <token>`. Ferry keeps
 * only tokens' SHA-256, so the token is hashed and looked up; an account's token acts
 * as that account, the operator's as the operator. Without a token, or with one Ferry
 * does not know, the answer is 401; the routes then check that the actor is the kind
 * they serve (403 otherwise).
 */
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { Actor } from "../control/ControlStore.js"
import { ControlStore } from "../control/ControlStore.js"
import { hashSecret } from "../control/Tokens.js"
import * as Schema from "effect/Schema"
import { forbidden, Internal, InternalBody, Unauthorized, UnauthorizedBody } from "./Errors.js"

/** The actor of the request: an account, or the operator. */
export type ApiActor = Extract<Actor, { readonly kind: "account" } | { readonly kind: "operator" }>

export class CurrentActor extends Context.Tag("ferry/api/CurrentActor")<CurrentActor, ApiActor>() {}

export const bearer = HttpApiSecurity.bearer.pipe(
  HttpApiSecurity.annotate(
    OpenApi.Description,
    "An API token: `ferry token create --account A` (or `--operator`), or POST /api/v1/accounts/{name}/tokens."
  )
)

export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("ferry/api/Authentication", {
  failure: Schema.Union(UnauthorizedBody, InternalBody),
  provides: CurrentActor,
  security: { bearer }
}) {}

const unauthorized = (message: string) => new Unauthorized({ code: "unauthorized", message })

/** Looks the token's hash up in the control store. */
export const layer: Layer.Layer<Authentication, never, ControlStore> = Layer.effect(
  Authentication,
  Effect.map(ControlStore, (store) =>
    Authentication.of({
      bearer: (token) =>
        Effect.gen(function* () {
          const secret = Redacted.value(token).trim()
          if (secret === "") return yield* unauthorized("this request needs an Authorization: Bearer token")
          const found = yield* store.authenticate(hashSecret(secret), new Date()).pipe(
            Effect.tapError((error) => Effect.logError("Cannot check an API token.", error)),
            Effect.mapError(
              () => new Internal({ code: "internal", message: "cannot check the token now: see the service's log" })
            )
          )
          if (Option.isNone(found)) return yield* unauthorized("the bearer token is not known")
          const { account } = found.value
          return account === undefined ? { kind: "operator" as const } : { kind: "account" as const, account }
        })
    })
  )
)

/** The account of an account token; the operator is refused. */
export const requireAccount = Effect.flatMap(CurrentActor, (actor) =>
  actor.kind === "account"
    ? Effect.succeed(actor.account)
    : Effect.fail(forbidden("this route serves accounts: use an account's token, not the operator's"))
)

/** The operator; an account token is refused. */
export const requireOperator = Effect.flatMap(CurrentActor, (actor) =>
  actor.kind === "operator"
    ? Effect.succeed(actor)
    : Effect.fail(forbidden("only the operator's token manages accounts and tokens"))
)
