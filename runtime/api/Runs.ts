/** Synchronizations: the consumer's runs of a subscription, and the provider's deliveries. */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Schema from "effect/Schema"
import { Authentication } from "./Auth.js"
import { CanceledRun, Delivery, Name, Page, PageParams, QueuedRun, Run, SynchronizeBody } from "./Resources.js"

const SubscriptionPath = Schema.Struct({ subscription: Name })
const RunPath = Schema.Struct({ subscription: Name, run_id: Schema.String })

export const Runs = HttpApiGroup.make("runs")
  .add(
    HttpApiEndpoint.post("synchronize", "/subscriptions/:subscription/synchronize")
      .setPath(SubscriptionPath)
      .setPayload(SynchronizeBody)
      .addSuccess(QueuedRun, { status: 202 })
      .annotate(OpenApi.Summary, "Queue a synchronization")
      .annotate(
        OpenApi.Description,
        "409 while one is queued or going; 403 while the subscription is revoked; 400 when it cannot run as it stands (a dataset without a mapping…)."
      )
  )
  .add(
    HttpApiEndpoint.get("list", "/subscriptions/:subscription/runs")
      .setPath(SubscriptionPath)
      .setUrlParams(PageParams)
      .addSuccess(Page(Run, "Queued runs first, then the others, newest first."))
      .annotate(OpenApi.Summary, "List the subscription's runs")
  )
  .add(
    HttpApiEndpoint.get("get", "/subscriptions/:subscription/runs/:run_id")
      .setPath(RunPath)
      .addSuccess(Run)
      .annotate(OpenApi.Summary, "Read a run, with what it did per dataset")
  )
  .add(
    HttpApiEndpoint.post("cancel", "/subscriptions/:subscription/runs/:run_id/cancel")
      .setPath(RunPath)
      .addSuccess(CanceledRun)
      .annotate(OpenApi.Summary, "Cancel a queued or running run")
      .annotate(OpenApi.Description, "409 when it has already ended.")
  )
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Runs")
  .annotate(OpenApi.Description, "The consumer's synchronizations.")

export const Deliveries = HttpApiGroup.make("deliveries")
  .add(
    HttpApiEndpoint.get("list", "/deliveries")
      .setUrlParams(PageParams)
      .addSuccess(Page(Delivery, "Runs of every subscription to the account's shares, newest first."))
      .annotate(OpenApi.Summary, "What was delivered to whom")
  )
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Deliveries")
  .annotate(OpenApi.Description, "The provider's history of deliveries, across consumers.")
