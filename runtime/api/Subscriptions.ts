/** Subscriptions: the provider's view of those to its shares, and the consumer's own, with mappings. */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Schema from "effect/Schema"
import { Authentication } from "./Auth.js"
import {
  Mapping,
  MappingBody,
  Name,
  Page,
  PageParams,
  ShareSubscription,
  Subscription,
  SubscriptionDataset,
  TriggerBody
} from "./Resources.js"

const ShareSubscriptionPath = Schema.Struct({ share: Name, consumer: Name, subscription: Name })
const SubscriptionPath = Schema.Struct({ subscription: Name })
const MappingPath = Schema.Struct({ subscription: Name, dataset: Name })

export const ShareSubscriptions = HttpApiGroup.make("shareSubscriptions")
  .add(
    HttpApiEndpoint.get("list", "/shares/:share/subscriptions")
      .setPath(Schema.Struct({ share: Name }))
      .setUrlParams(PageParams)
      .addSuccess(Page(ShareSubscription, "Who subscribes to the share, since when, and whether revoked."))
      .annotate(OpenApi.Summary, "List a share's subscriptions")
  )
  .add(
    HttpApiEndpoint.post("revoke", "/shares/:share/subscriptions/:consumer/:subscription/revoke")
      .setPath(ShareSubscriptionPath)
      .addSuccess(ShareSubscription)
      .annotate(OpenApi.Summary, "Revoke a subscription")
      .annotate(
        OpenApi.Description,
        "Its queued and running runs are canceled; it receives nothing more until reinstated."
      )
  )
  .add(
    HttpApiEndpoint.post("reinstate", "/shares/:share/subscriptions/:consumer/:subscription/reinstate")
      .setPath(ShareSubscriptionPath)
      .addSuccess(ShareSubscription)
      .annotate(OpenApi.Summary, "Reinstate a revoked subscription")
  )
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Share subscriptions")
  .annotate(OpenApi.Description, "The provider's view of the subscriptions to its shares.")

export const Subscriptions = HttpApiGroup.make("subscriptions")
  .add(
    HttpApiEndpoint.get("list", "/subscriptions")
      .setUrlParams(PageParams)
      .addSuccess(Page(Subscription, "The account's subscriptions, by name."))
      .annotate(OpenApi.Summary, "List subscriptions")
  )
  .add(
    HttpApiEndpoint.get("get", "/subscriptions/:subscription")
      .setPath(SubscriptionPath)
      .addSuccess(Subscription)
      .annotate(OpenApi.Summary, "Read a subscription")
  )
  .add(
    HttpApiEndpoint.del("delete", "/subscriptions/:subscription")
      .setPath(SubscriptionPath)
      .annotate(OpenApi.Summary, "Unsubscribe")
      .annotate(OpenApi.Description, "Its queued and running runs are canceled first.")
  )
  .add(
    HttpApiEndpoint.get("datasets", "/subscriptions/:subscription/datasets")
      .setPath(SubscriptionPath)
      .setUrlParams(PageParams)
      .addSuccess(Page(SubscriptionDataset, "The share's datasets, in delivery order."))
      .annotate(OpenApi.Summary, "List the subscribed share's datasets")
  )
  .add(
    HttpApiEndpoint.put("setTrigger", "/subscriptions/:subscription/trigger")
      .setPath(SubscriptionPath)
      .setPayload(TriggerBody)
      .addSuccess(Subscription)
      .annotate(OpenApi.Summary, "Follow the share's schedule, or run only when asked")
  )
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Subscriptions")
  .annotate(OpenApi.Description, "The consumer's subscriptions to other accounts' shares.")

export const Mappings = HttpApiGroup.make("mappings")
  .add(
    HttpApiEndpoint.get("list", "/subscriptions/:subscription/mappings")
      .setPath(SubscriptionPath)
      .addSuccess(Schema.Struct({ items: Schema.Array(Mapping) }).annotations({ description: "Every mapping." }))
      .annotate(OpenApi.Summary, "List the subscription's mappings")
  )
  .add(
    HttpApiEndpoint.get("get", "/subscriptions/:subscription/mappings/:dataset")
      .setPath(MappingPath)
      .addSuccess(Mapping)
      .annotate(OpenApi.Summary, "Read a dataset's mapping")
  )
  .add(
    HttpApiEndpoint.put("put", "/subscriptions/:subscription/mappings/:dataset")
      .setPath(MappingPath)
      .setPayload(MappingBody)
      .addSuccess(Mapping)
      .annotate(OpenApi.Summary, "Map a dataset to one of the account's stores")
      .annotate(OpenApi.Description, "Checked by the store's sink; 403 while the subscription is revoked.")
  )
  .add(
    HttpApiEndpoint.del("delete", "/subscriptions/:subscription/mappings/:dataset")
      .setPath(MappingPath)
      .annotate(OpenApi.Summary, "Remove a dataset's mapping")
  )
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Mappings")
  .annotate(OpenApi.Description, "Where each dataset of a subscription lands.")
