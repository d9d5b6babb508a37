/** Subscriptions: the provider's view (list, revoke, reinstate) and the consumer's (its own, and mappings). */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Mapping, Subscription } from "../../control/ControlStore.js"
import { ControlStore } from "../../control/ControlStore.js"
import { Executor } from "../../service/Executor.js"
import { Api } from "../Api.js"
import { requireAccount } from "../Auth.js"
import { forbidden, notFound } from "../Errors.js"
import { Settings } from "../Settings.js"
import * as Checks from "./Checks.js"
import { found, fromControl, pageRequest } from "./Common.js"
import * as View from "./Views.js"

/** A revoked subscription keeps its history but takes no new runs or mappings. */
export const refuseRevoked = (subscription: Subscription) =>
  subscription.status === "Revoked"
    ? Effect.fail(
        forbidden(
          `subscription ${subscription.name} was revoked by ${subscription.provider}: it cannot change or run until reinstated`,
          "revoked"
        )
      )
    : Effect.void

export const ShareSubscriptionsLive = HttpApiBuilder.group(Api, "shareSubscriptions", (handlers) =>
  Effect.gen(function* () {
    const control = yield* ControlStore
    const executor = yield* Executor

    /** The consumer's subscription, if it subscribes to this share of the account. */
    const toShare = (account: string, path: { share: string; consumer: string; subscription: string }) =>
      Effect.gen(function* () {
        yield* found(control.getShare(account, path.share), `share ${path.share}`)
        const subscription = Option.getOrUndefined(
          yield* fromControl(control.getSubscription(path.consumer, path.subscription))
        )
        if (subscription === undefined || subscription.provider !== account || subscription.share !== path.share) {
          return yield* notFound(`share ${path.share} has no subscription ${path.consumer}/${path.subscription}`)
        }
        return subscription
      })

    return handlers
      .handle("list", ({ path, urlParams }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          yield* found(control.getShare(account, path.share), `share ${path.share}`)
          const page = yield* fromControl(
            control.listShareSubscriptions({ provider: account, share: path.share }, pageRequest(urlParams))
          )
          return View.page(page, View.shareSubscription)
        })
      )
      .handle("revoke", ({ path }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          const subscription = yield* toShare(account, path)
          const actor = { kind: "account" as const, account }
          const key = { account: subscription.account, name: subscription.name }
          const revoked = yield* fromControl(control.setSubscriptionStatus(actor, key, "Revoked", new Date()))
          yield* fromControl(executor.cancelSubscription(actor, key))
          return View.shareSubscription(revoked)
        })
      )
      .handle("reinstate", ({ path }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          const subscription = yield* toShare(account, path)
          const reinstated = yield* fromControl(
            control.setSubscriptionStatus(
              { kind: "account", account },
              { account: subscription.account, name: subscription.name },
              "Active",
              new Date()
            )
          )
          return View.shareSubscription(reinstated)
        })
      )
  })
)

export const SubscriptionsLive = HttpApiBuilder.group(Api, "subscriptions", (handlers) =>
  Effect.gen(function* () {
    const control = yield* ControlStore
    const executor = yield* Executor
    const getSubscription = (account: string, name: string) =>
      found(control.getSubscription(account, name), `subscription ${name}`)
    return handlers
      .handle("list", ({ urlParams }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          return View.page(
            yield* fromControl(control.listSubscriptions(account, pageRequest(urlParams))),
            View.subscription
          )
        })
      )
      .handle("get", ({ path }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          return View.subscription(yield* getSubscription(account, path.subscription))
        })
      )
      .handle("delete", ({ path }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          yield* getSubscription(account, path.subscription)
          const actor = { kind: "account" as const, account }
          yield* fromControl(executor.cancelSubscription(actor, { account, name: path.subscription }))
          yield* fromControl(control.deleteSubscription(actor, account, path.subscription))
        })
      )
      .handle("datasets", ({ path, urlParams }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          const subscription = yield* getSubscription(account, path.subscription)
          const page = yield* fromControl(
            control.listDatasets(subscription.provider, subscription.share, pageRequest(urlParams))
          )
          return View.page(page, (dataset) => {
            const source = dataset.spec["source"]
            const files = typeof source === "object" && source !== null && "files" in source
            const columns = dataset.spec["columns"]
            return {
              name: dataset.name,
              kind: files ? ("files" as const) : ("table" as const),
              ...(Array.isArray(columns) ? { columns: columns.map(String) } : {})
            }
          })
        })
      )
      .handle("setTrigger", ({ path, payload }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          yield* getSubscription(account, path.subscription)
          const subscription = yield* fromControl(
            control.setTrigger({ kind: "account", account }, account, path.subscription, payload.trigger)
          )
          return View.subscription(subscription)
        })
      )
  })
)

export const MappingsLive = HttpApiBuilder.group(Api, "mappings", (handlers) =>
  Effect.gen(function* () {
    const control = yield* ControlStore
    const { registry } = yield* Settings
    const getSubscription = (account: string, name: string) =>
      found(control.getSubscription(account, name), `subscription ${name}`)
    /** The mapping shown, its target redacted by the sink of the store it writes to. */
    const show = (account: string, mapping: Mapping) =>
      Effect.gen(function* () {
        const store = mapping.spec["store"]
        const type =
          typeof store === "string"
            ? Option.getOrUndefined(Option.map(yield* fromControl(control.getStore(account, store)), (s) => s.type))
            : undefined
        return View.mapping(mapping, registry, type)
      })
    const getMapping = (account: string, subscription: string, dataset: string) =>
      Effect.flatMap(fromControl(control.listMappings(account, subscription)), (mappings) => {
        const mapping = mappings.find((mapping) => mapping.dataset === dataset)
        return mapping === undefined
          ? Effect.fail(notFound(`subscription ${subscription} has no mapping for dataset ${dataset}`))
          : Effect.succeed(mapping)
      })
    return handlers
      .handle("list", ({ path }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          yield* getSubscription(account, path.subscription)
          const mappings = yield* fromControl(control.listMappings(account, path.subscription))
          return { items: yield* Effect.forEach(mappings, (mapping) => show(account, mapping)) }
        })
      )
      .handle("get", ({ path }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          yield* getSubscription(account, path.subscription)
          return yield* show(account, yield* getMapping(account, path.subscription, path.dataset))
        })
      )
      .handle("put", ({ path, payload }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          yield* refuseRevoked(yield* getSubscription(account, path.subscription))
          yield* Checks.mapping(account, path.subscription, path.dataset, payload)
          const mapping = yield* fromControl(
            control.putMapping(
              { kind: "account", account },
              { account, subscription: path.subscription, dataset: path.dataset, spec: payload }
            )
          )
          return yield* show(account, mapping)
        })
      )
      .handle("delete", ({ path }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          yield* refuseRevoked(yield* getSubscription(account, path.subscription))
          yield* getMapping(account, path.subscription, path.dataset)
          yield* fromControl(
            control.deleteMapping({ kind: "account", account }, account, path.subscription, path.dataset)
          )
        })
      )
  })
)
