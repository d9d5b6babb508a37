/** A provider's shares, their schedules and their datasets. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Dataset, Share } from "../../control/ControlStore.js"
import { ControlStore } from "../../control/ControlStore.js"
import { Api } from "../Api.js"
import { requireAccount } from "../Auth.js"
import { conflict } from "../Errors.js"
import { Settings } from "../Settings.js"
import * as Checks from "./Checks.js"
import { found, fromControl, pageRequest } from "./Common.js"
import * as View from "./Views.js"

/** What `putShare` takes of a share. */
const shareFields = (share: Share) => ({
  account: share.account,
  name: share.name,
  kind: share.kind,
  ...(share.description === undefined ? {} : { description: share.description }),
  ...(share.terms === undefined ? {} : { terms: share.terms }),
  ...(share.schedule === undefined ? {} : { schedule: share.schedule })
})

export const SharesLive = HttpApiBuilder.group(Api, "shares", (handlers) =>
  Effect.gen(function* () {
    const control = yield* ControlStore
    const getShare = (account: string, name: string) => found(control.getShare(account, name), `share ${name}`)
    return handlers
      .handle("list", ({ urlParams }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          return View.page(yield* fromControl(control.listShares(account, pageRequest(urlParams))), View.share)
        })
      )
      .handle("create", ({ payload }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          if (Option.isSome(yield* fromControl(control.getShare(account, payload.name)))) {
            return yield* conflict(`share ${payload.name} exists: change it with PATCH /api/v1/shares/${payload.name}`)
          }
          const share = yield* fromControl(
            control.putShare({ kind: "account", account }, { ...payload, account, kind: payload.kind ?? "snapshot" })
          )
          return View.share(share)
        })
      )
      .handle("get", ({ path }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          return View.share(yield* getShare(account, path.share))
        })
      )
      .handle("update", ({ path, payload }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          const share = yield* getShare(account, path.share)
          const updated = yield* fromControl(
            control.putShare({ kind: "account", account }, { ...shareFields(share), ...payload })
          )
          return View.share(updated)
        })
      )
      .handle("delete", ({ path }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          yield* getShare(account, path.share)
          yield* fromControl(control.deleteShare({ kind: "account", account }, account, path.share))
        })
      )
      .handle("putSchedule", ({ path, payload }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          const share = yield* getShare(account, path.share)
          const updated = yield* fromControl(
            control.putShare({ kind: "account", account }, { ...shareFields(share), schedule: payload })
          )
          return View.share(updated)
        })
      )
      .handle("deleteSchedule", ({ path }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          const { schedule: _, ...rest } = shareFields(yield* getShare(account, path.share))
          return View.share(yield* fromControl(control.putShare({ kind: "account", account }, rest)))
        })
      )
  })
)

export const DatasetsLive = HttpApiBuilder.group(Api, "datasets", (handlers) =>
  Effect.gen(function* () {
    const control = yield* ControlStore
    const { registry } = yield* Settings
    /** The dataset shown, its source redacted by the type of the store it reads (looked up once per store). */
    const showWith = (account: string, types: Map<string, string | undefined>) => (dataset: Dataset) =>
      Effect.gen(function* () {
        const store = View.datasetStore(dataset)
        if (store !== undefined && !types.has(store)) {
          const found = yield* fromControl(control.getStore(account, store))
          types.set(store, Option.getOrUndefined(Option.map(found, (store) => store.type)))
        }
        return View.dataset(dataset, registry, store === undefined ? undefined : types.get(store))
      })
    const show = (account: string, dataset: Dataset) => showWith(account, new Map())(dataset)
    const getShare = (account: string, name: string) => found(control.getShare(account, name), `share ${name}`)
    return handlers
      .handle("list", ({ path, urlParams }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          yield* getShare(account, path.share)
          const page = yield* fromControl(control.listDatasets(account, path.share, pageRequest(urlParams)))
          const items = yield* Effect.forEach(page.items, showWith(account, new Map()))
          return { items, ...(page.next === undefined ? {} : { next: page.next }) }
        })
      )
      .handle("put", ({ path, payload }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          yield* getShare(account, path.share)
          yield* Checks.dataset(account, path.share, path.dataset, payload)
          const dataset = yield* fromControl(
            control.putDataset(
              { kind: "account", account },
              { account, share: path.share, name: path.dataset, spec: payload }
            )
          )
          return yield* show(account, dataset)
        })
      )
      .handle("get", ({ path }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          yield* getShare(account, path.share)
          const dataset = yield* found(
            control.getDataset(account, path.share, path.dataset),
            `dataset ${path.dataset} of share ${path.share}`
          )
          return yield* show(account, dataset)
        })
      )
      .handle("delete", ({ path }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          yield* getShare(account, path.share)
          yield* found(
            control.getDataset(account, path.share, path.dataset),
            `dataset ${path.dataset} of share ${path.share}`
          )
          yield* fromControl(control.deleteDataset({ kind: "account", account }, account, path.share, path.dataset))
        })
      )
  })
)
