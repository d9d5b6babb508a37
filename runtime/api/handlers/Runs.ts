/** Synchronizations of a subscription (the consumer's), and deliveries of a provider's shares. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Subscription } from "../../control/ControlStore.js"
import { ControlStore, subscriptionKey } from "../../control/ControlStore.js"
import { Executor } from "../../service/Executor.js"
import { StateStore } from "../../state/StateStore.js"
import { Api } from "../Api.js"
import { requireAccount } from "../Auth.js"
import { badRequest, conflict, forbidden, notFound } from "../Errors.js"
import { DEFAULT_LIMIT } from "../Resources.js"
import { controlError, found, fromControl, internal } from "./Common.js"
import { refuseRevoked } from "./Subscriptions.js"
import * as View from "./Views.js"

const MODE = { Full: "full", Incremental: "incremental" } as const

export const RunsLive = HttpApiBuilder.group(Api, "runs", (handlers) =>
  Effect.gen(function* () {
    const control = yield* ControlStore
    const state = yield* StateStore
    const executor = yield* Executor
    const getSubscription = (account: string, name: string) =>
      found(control.getSubscription(account, name), `subscription ${name}`)
    const queued = (subscription: Subscription) =>
      Effect.map(fromControl(control.pendingRunRequests()), (requests) =>
        requests.filter(
          (request) => request.account === subscription.account && request.subscription === subscription.name
        )
      )

    /** The run (queued or not) if it is one of the subscription's. */
    const findRun = (subscription: Subscription, runId: string) =>
      Effect.gen(function* () {
        const detail = yield* Effect.catchAll(state.getRun(runId), internal)
        if (Option.isSome(detail) && detail.value.subscription === subscriptionKey(subscription)) {
          return View.run(detail.value, detail.value.datasets)
        }
        const request = (yield* queued(subscription)).find((request) => request.runId === runId)
        if (request !== undefined) return View.queuedRun(request)
        return yield* notFound(`subscription ${subscription.name} has no run ${runId}`)
      })

    return handlers
      .handle("synchronize", ({ path, payload }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          yield* refuseRevoked(yield* getSubscription(account, path.subscription))
          const request = yield* executor
            .synchronize(
              { kind: "account", account },
              { account, subscription: path.subscription, mode: MODE[payload.mode] }
            )
            .pipe(
              Effect.catchTags({
                PlanError: (error) =>
                  Effect.fail(
                    badRequest(
                      "invalid_plan",
                      error.issues.length === 0
                        ? error.message
                        : error.issues
                            .map((issue) => `${issue.path === "" ? "" : `${issue.path}: `}${issue.message}`)
                            .join("; "),
                      error.issues[0]?.path
                    )
                  ),
                RevokedError: (error) => Effect.fail(forbidden(error.message, "revoked")),
                NotFoundError: controlError,
                ConflictError: controlError,
                StateError: controlError
              })
            )
          return { run_id: request.runId, status: "Queued" as const }
        })
      )
      .handle("list", ({ path, urlParams }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          const subscription = yield* getSubscription(account, path.subscription)
          const key = subscriptionKey(subscription)
          const limit = urlParams.limit ?? DEFAULT_LIMIT
          if (urlParams.after !== undefined) {
            const cursor = yield* Effect.catchAll(state.getRun(urlParams.after), internal)
            if (Option.isNone(cursor) || cursor.value.subscription !== key) {
              return yield* badRequest("invalid_cursor", "the cursor is not one this list returned", "after")
            }
          }
          const waiting = urlParams.after === undefined ? (yield* queued(subscription)).map(View.queuedRun) : []
          const runs = yield* Effect.catchAll(
            state.listRunDetails({
              subscription: key,
              limit: limit + 1,
              ...(urlParams.after === undefined ? {} : { before: urlParams.after })
            }),
            internal
          )
          const shown = runs.slice(0, limit)
          const items = shown.map((run) => View.run(run, run.datasets))
          const last = shown[shown.length - 1]
          return {
            items: [...waiting, ...items],
            ...(runs.length > limit && last !== undefined ? { next: last.runId } : {})
          }
        })
      )
      .handle("get", ({ path }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          return yield* findRun(yield* getSubscription(account, path.subscription), path.run_id)
        })
      )
      .handle("cancel", ({ path }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          yield* findRun(yield* getSubscription(account, path.subscription), path.run_id)
          const canceled = yield* fromControl(executor.cancel({ kind: "account", account }, path.run_id))
          if (!canceled) return yield* conflict(`run ${path.run_id} has already ended`)
          return { run_id: path.run_id, canceled: true as const }
        })
      )
  })
)

export const DeliveriesLive = HttpApiBuilder.group(Api, "deliveries", (handlers) =>
  Effect.gen(function* () {
    const state = yield* StateStore
    return handlers.handle("list", ({ urlParams }) =>
      Effect.gen(function* () {
        const account = yield* requireAccount
        const limit = urlParams.limit ?? DEFAULT_LIMIT
        if (urlParams.after !== undefined) {
          const cursor = yield* Effect.catchAll(state.getRun(urlParams.after), internal)
          if (Option.isNone(cursor) || !cursor.value.share.startsWith(`${account}/`)) {
            return yield* badRequest("invalid_cursor", "the cursor is not one this list returned", "after")
          }
        }
        // Every run of the provider's shares, kept after a subscription is gone: the history of what went to whom.
        const runs = yield* Effect.catchAll(
          state.listRunDetails({
            provider: account,
            limit: limit + 1,
            ...(urlParams.after === undefined ? {} : { before: urlParams.after })
          }),
          internal
        )
        const shown = runs.slice(0, limit)
        const last = shown[shown.length - 1]
        return {
          items: shown.map(View.delivery),
          ...(runs.length > limit && last !== undefined ? { next: last.runId } : {})
        }
      })
    )
  })
)
