/** What every handler does alike: the control store's errors as API errors, paging, lookups. */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { ControlError, PageRequest } from "../../control/ControlStore.js"
import type { StateError } from "../../state/StateError.js"
import type { BadRequest, Conflict, Internal, NotFound } from "../Errors.js"
import { badRequest, conflict, Internal as InternalError, notFound } from "../Errors.js"
import type { PageParams } from "../Resources.js"
import { DEFAULT_LIMIT } from "../Resources.js"

export const pageRequest = (params: PageParams): PageRequest => ({
  limit: params.limit ?? DEFAULT_LIMIT,
  ...(params.after === undefined ? {} : { after: params.after })
})

/** A failure of the database: logged with its message, answered 500 without it. */
export const internal = (error: StateError) =>
  Effect.zipRight(
    Effect.logError(`The state store failed: ${error.message}`),
    Effect.fail(new InternalError({ code: "internal", message: "the state store failed: see the service's log" }))
  )

/** The control store's errors as the API's: not found 404, conflict 409, a cursor it did not make 400. */
export const controlError = (
  error: ControlError
): Effect.Effect<never, BadRequest | NotFound | Conflict | Internal> => {
  switch (error._tag) {
    case "NotFoundError":
      return error.resource === "cursor"
        ? Effect.fail(badRequest("invalid_cursor", "the cursor is not one this list returned", "after"))
        : Effect.fail(notFound(error.message))
    case "ConflictError":
      return Effect.fail(conflict(error.message))
    case "StateError":
      return internal(error)
  }
}

export const fromControl = <A, R>(
  effect: Effect.Effect<A, ControlError, R>
): Effect.Effect<A, BadRequest | NotFound | Conflict | Internal, R> => Effect.catchAll(effect, controlError)

/** The value, or a 404 saying what was not found. */
export const found = <A, R>(
  effect: Effect.Effect<Option.Option<A>, ControlError, R>,
  what: string
): Effect.Effect<A, BadRequest | NotFound | Conflict | Internal, R> =>
  Effect.flatMap(
    fromControl(effect),
    Option.match({ onNone: () => Effect.fail(notFound(`${what} does not exist`)), onSome: Effect.succeed })
  )

/** Seconds between two instants, to the millisecond. */
export const seconds = (from: Date, to: Date): number => Math.round(to.getTime() - from.getTime()) / 1000
