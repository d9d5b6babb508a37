/**
 * The error every state store operation fails with. Its message names the run,
 * subscription or dataset concerned and the database's reason, and never a connection
 * string, whose URL may carry a password.
 */
import * as Schema from "effect/Schema"

export class StateError extends Schema.TaggedError<StateError>()("StateError", {
  message: Schema.String
}) {}
