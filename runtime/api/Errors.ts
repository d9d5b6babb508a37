/**
 * The API's errors. Every one has the same body, `{ "error": { "code", "message",
 * "path"? } }`, and its own status; a handler fails with the class, and the Schema
 * beside it turns the class into that body (and the body back into the class, for the
 * typed client). Messages never carry a secret: a store's settings, a token.
 */
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as Schema from "effect/Schema"

const fields = {
  code: Schema.String,
  message: Schema.String,
  path: Schema.optionalWith(Schema.String, { exact: true })
}

export const ErrorDetail = Schema.Struct({
  code: Schema.String.annotations({
    description:
      "Why, in a word that does not change: invalid_request, invalid_spec, invalid_cursor, unauthorized, forbidden, revoked, not_found, conflict, internal.",
    examples: ["not_found"]
  }),
  message: Schema.String.annotations({ description: "What went wrong, as a sentence for a person." }),
  path: Schema.optionalWith(
    Schema.String.annotations({
      description: "The field at fault, as `incremental.key[0]` or `source.table`, when one is.",
      examples: ["source.table"]
    }),
    { exact: true }
  )
})

/** The body of every error response. */
export const ErrorBody = Schema.Struct({ error: ErrorDetail }).annotations({
  identifier: "Error",
  description: "An error: its code, a message and, for a bad request, the field at fault."
})

/** A body that does not decode (an unknown field, a wrong type), a spec the connectors refuse, a bad cursor. */
export class BadRequest extends Schema.TaggedError<BadRequest>()("BadRequest", fields) {}
/** No bearer token, or one Ferry does not know. */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", fields) {}
/** An account token on an operator route, the operator token on an account route, a revoked subscription. */
export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", fields) {}
/** The resource does not exist for the account asking: another account's resources are not found either. */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", fields) {}
/** A name taken, an invitation no longer pending, a run already going. */
export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", fields) {}
/** The state store failed; the service's log says why. */
export class Internal extends Schema.TaggedError<Internal>()("Internal", fields) {}

export type ApiError = BadRequest | Unauthorized | Forbidden | NotFound | Conflict | Internal

interface ErrorFields {
  readonly code: string
  readonly message: string
  readonly path?: string
}

/** The class as the body above, at its status. */
const asBody = <E extends ErrorFields, I>(
  Class: Schema.Schema<E, I> & (new (fields: ErrorFields) => E),
  status: number,
  description: string
) =>
  Schema.transform(ErrorBody, Schema.typeSchema(Class), {
    strict: true,
    decode: ({ error }) =>
      new Class({
        code: error.code,
        message: error.message,
        ...(error.path === undefined ? {} : { path: error.path })
      }),
    encode: (error) => ({
      error: {
        code: error.code,
        message: error.message,
        ...(error.path === undefined ? {} : { path: error.path })
      }
    })
  }).annotations(HttpApiSchema.annotations({ status, description }))

export const BAD_REQUEST_DESCRIPTION =
  "A bad request: a body or parameter that does not decode (an unknown field, a wrong type), a spec the connectors refuse, a bad cursor; the field at fault is in `path`."
export const BadRequestBody = asBody(BadRequest, 400, BAD_REQUEST_DESCRIPTION)
export const UnauthorizedBody = asBody(Unauthorized, 401, "No bearer token, or an unknown one.")
export const ForbiddenBody = asBody(Forbidden, 403, "The token may not do this.")
export const NotFoundBody = asBody(NotFound, 404, "No such resource for this account.")
export const ConflictBody = asBody(Conflict, 409, "The request conflicts with what exists.")
export const InternalBody = asBody(Internal, 500, "The service failed; its log says why.")

/** Shorthands for the handlers. */
export const badRequest = (code: string, message: string, path?: string) =>
  new BadRequest({ code, message, ...(path === undefined || path === "" ? {} : { path }) })
export const notFound = (message: string) => new NotFound({ code: "not_found", message })
export const conflict = (message: string) => new Conflict({ code: "conflict", message })
export const forbidden = (message: string, code = "forbidden") => new Forbidden({ code, message })
