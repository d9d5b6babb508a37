/**
 * Specs written through the API are checked as a config file's are: by the Planner,
 * which assembles the slice concerned into a config document and loads it with the
 * served config's plugins and an empty environment (so `${env:…}` is refused: the
 * service's environment is its operator's, never a tenant's to read). Problems come back
 * as one 400 naming the first field at fault and listing them all.
 */
import * as Effect from "effect/Effect"
import type { Spec } from "../../control/ControlStore.js"
import type { PlanIssue } from "../../service/Planner.js"
import { Planner } from "../../service/Planner.js"
import { badRequest } from "../Errors.js"
import { fromControl } from "./Common.js"

const MAX_LISTED = 5

const refuse = (issues: ReadonlyArray<PlanIssue>) => {
  const first = issues[0]
  if (first === undefined) return Effect.void
  const listed = issues
    .slice(0, MAX_LISTED)
    .map((issue) => (issue.path === "" ? issue.message : `${issue.path}: ${issue.message}`))
    .join("; ")
  const more = issues.length > MAX_LISTED ? ` (and ${issues.length - MAX_LISTED} more)` : ""
  return Effect.fail(badRequest("invalid_spec", `${listed}${more}`, first.path))
}

/** A store entry (`type` and the connector's settings) of the account, before it is written. */
export const store = (account: string, name: string, entry: Spec) =>
  Effect.flatMap(Planner, (planner) => Effect.flatMap(fromControl(planner.checkStore(account, name, entry)), refuse))

/** A dataset entry of the provider's share, before it is written. */
export const dataset = (provider: string, share: string, name: string, spec: Spec) =>
  Effect.flatMap(Planner, (planner) =>
    Effect.flatMap(fromControl(planner.checkDataset(provider, share, name, spec)), refuse)
  )

/** A mapping entry of the consumer's subscription, before it is written. */
export const mapping = (consumer: string, subscription: string, dataset: string, spec: Spec) =>
  Effect.flatMap(Planner, (planner) =>
    Effect.flatMap(fromControl(planner.checkMapping(consumer, subscription, dataset, spec)), refuse)
  )
