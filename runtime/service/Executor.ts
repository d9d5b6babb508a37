/**
 * The executor: takes queued synchronizations (run requests) and runs them through the
 * run path, at most `limits.runs` at once across the service, never two of one
 * subscription at once. A run is planned from the control store at the moment it
 * starts: the subscription's share, datasets, stores and mappings are assembled into a
 * share config and decoded by the same loader as a file, so a run started by the
 * service means exactly what `ferry run` would make of the same config.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { Actor, ControlError, RunRequest, RunRequestMode } from "../control/ControlStore.js"

/** A subscription that cannot run as it stands: a dataset without a mapping, a setting its store rejects… */
export class PlanError extends Schema.TaggedError<PlanError>()("PlanError", {
  subscription: Schema.String,
  message: Schema.String,
  /** Each problem, with the path of the field at fault (`mappings.sales.store`) when there is one. */
  issues: Schema.Array(Schema.Struct({ path: Schema.String, message: Schema.String }))
}) {}

/** The subscription was revoked by its provider: it cannot run until reinstated (HTTP 403). */
export class RevokedError extends Schema.TaggedError<RevokedError>()("RevokedError", {
  subscription: Schema.String,
  message: Schema.String
}) {}

export class Executor extends Context.Tag("ferry/Executor")<
  Executor,
  {
    /**
     * Checks that the subscription can run (active, every dataset mapped, the plan
     * decodes), then queues it. Conflicts while one of its runs is queued or going;
     * a revoked subscription fails with RevokedError.
     */
    readonly synchronize: (
      actor: Actor,
      request: { readonly account: string; readonly subscription: string; readonly mode: RunRequestMode }
    ) => Effect.Effect<RunRequest, ControlError | PlanError | RevokedError>
    /** Cancels a queued or running run; its watermarks stay where they were. False if it was neither. */
    readonly cancel: (actor: Actor, runId: string) => Effect.Effect<boolean, ControlError>
    /** Cancels whatever the subscription has queued or running (on revocation), and waits for it to stop. */
    readonly cancelSubscription: (
      actor: Actor,
      subscription: { readonly account: string; readonly name: string }
    ) => Effect.Effect<void, ControlError>
  }
>() {}
