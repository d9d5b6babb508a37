/** The operator's accounts and tokens. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as Effect from "effect/Effect"
import { ControlStore } from "../../control/ControlStore.js"
import { hashSecret, makeSecret } from "../../control/Tokens.js"
import { Api } from "../Api.js"
import { requireOperator } from "../Auth.js"
import { notFound } from "../Errors.js"
import { found, fromControl, pageRequest } from "./Common.js"
import * as View from "./Views.js"

export const AccountsLive = HttpApiBuilder.group(Api, "accounts", (handlers) =>
  Effect.gen(function* () {
    const control = yield* ControlStore
    return handlers
      .handle("list", ({ urlParams }) =>
        Effect.gen(function* () {
          yield* requireOperator
          return View.page(yield* fromControl(control.listAccounts(pageRequest(urlParams))), View.account)
        })
      )
      .handle("put", ({ path, payload }) =>
        Effect.gen(function* () {
          const actor = yield* requireOperator
          const account = yield* fromControl(control.putAccount(actor, { name: path.name, ...payload }))
          return View.account(account)
        })
      )
      .handle("get", ({ path }) =>
        Effect.gen(function* () {
          yield* requireOperator
          return View.account(yield* found(control.getAccount(path.name), `account ${path.name}`))
        })
      )
      .handle("delete", ({ path }) =>
        Effect.gen(function* () {
          const actor = yield* requireOperator
          yield* found(control.getAccount(path.name), `account ${path.name}`)
          yield* fromControl(control.deleteAccount(actor, path.name))
        })
      )
      .handle("listTokens", ({ path, urlParams }) =>
        Effect.gen(function* () {
          yield* requireOperator
          yield* found(control.getAccount(path.name), `account ${path.name}`)
          return View.page(
            yield* fromControl(control.listTokens({ account: path.name }, pageRequest(urlParams))),
            View.token
          )
        })
      )
      .handle("createToken", ({ path, payload }) =>
        Effect.gen(function* () {
          const actor = yield* requireOperator
          yield* found(control.getAccount(path.name), `account ${path.name}`)
          const secret = makeSecret()
          const token = yield* fromControl(
            control.createToken(actor, { account: path.name, secretHash: hashSecret(secret), ...payload })
          )
          return { ...View.token(token), token: secret }
        })
      )
      .handle("revokeToken", ({ path }) =>
        Effect.gen(function* () {
          const actor = yield* requireOperator
          yield* found(control.getAccount(path.name), `account ${path.name}`)
          // The id must be one of this account's tokens, not another's reached through this path.
          let after: string | undefined
          let owned = false
          do {
            const page = yield* fromControl(
              control.listTokens({ account: path.name }, { limit: 1000, ...(after === undefined ? {} : { after }) })
            )
            owned = page.items.some((token) => token.id === path.id)
            after = owned ? undefined : page.next
          } while (after !== undefined)
          if (!owned) return yield* notFound(`account ${path.name} has no token ${path.id}`)
          yield* fromControl(control.revokeToken(actor, path.id))
        })
      )
  })
)
