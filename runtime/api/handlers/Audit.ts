/** The audit log: what concerns the account, or everything for the operator. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as Effect from "effect/Effect"
import { ControlStore } from "../../control/ControlStore.js"
import { Api } from "../Api.js"
import { CurrentActor } from "../Auth.js"
import { fromControl, pageRequest } from "./Common.js"
import * as View from "./Views.js"

export const AuditLive = HttpApiBuilder.group(Api, "audit", (handlers) =>
  Effect.gen(function* () {
    const control = yield* ControlStore
    return handlers.handle("list", ({ urlParams }) =>
      Effect.gen(function* () {
        const actor = yield* CurrentActor
        const query = {
          ...(actor.kind === "account" ? { account: actor.account } : {}),
          ...(urlParams.resource === undefined ? {} : { resource: urlParams.resource })
        }
        const page = yield* fromControl(control.listAudit(query, pageRequest(urlParams)))
        return View.page(page, View.auditEntry)
      })
    )
  })
)
