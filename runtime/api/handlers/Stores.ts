/** An account's stores. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as Effect from "effect/Effect"
import { ControlStore } from "../../control/ControlStore.js"
import { Api } from "../Api.js"
import { requireAccount } from "../Auth.js"
import { Settings } from "../Settings.js"
import * as Checks from "./Checks.js"
import { found, fromControl, pageRequest } from "./Common.js"
import * as View from "./Views.js"

export const StoresLive = HttpApiBuilder.group(Api, "stores", (handlers) =>
  Effect.gen(function* () {
    const control = yield* ControlStore
    const { registry } = yield* Settings
    return handlers
      .handle("list", ({ urlParams }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          const page = yield* fromControl(control.listStores(account, pageRequest(urlParams)))
          return View.page(page, (store) => View.store(store, registry))
        })
      )
      .handle("put", ({ path, payload }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          const { type, ...settings } = payload
          yield* Checks.store(account, path.store, payload)
          const store = yield* fromControl(
            control.putStore({ kind: "account", account }, { account, name: path.store, type, settings })
          )
          return View.store(store, registry)
        })
      )
      .handle("get", ({ path }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          return View.store(yield* found(control.getStore(account, path.store), `store ${path.store}`), registry)
        })
      )
      .handle("delete", ({ path }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          yield* found(control.getStore(account, path.store), `store ${path.store}`)
          yield* fromControl(control.deleteStore({ kind: "account", account }, account, path.store))
        })
      )
  })
)
