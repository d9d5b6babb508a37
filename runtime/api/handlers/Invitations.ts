/** Invitations: the provider's side (invite, resend, withdraw) and the invitee's (accept, reject). */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Invitation, Share } from "../../control/ControlStore.js"
import { ControlStore } from "../../control/ControlStore.js"
import { hashSecret, INVITATION_PREFIX, makeSecret } from "../../control/Tokens.js"
import { deliverInvitation } from "../../service/Invitations.js"
import { Mailer } from "../../service/Mailer.js"
import { Api } from "../Api.js"
import { requireAccount } from "../Auth.js"
import { badRequest, notFound } from "../Errors.js"
import { Settings } from "../Settings.js"
import { found, fromControl, pageRequest } from "./Common.js"
import * as View from "./Views.js"

const DAY = 86_400_000

/** `expires: YYYY-MM-DD` as a config writes it: valid through that whole day (UTC). */
const expiryOf = (expires: string | undefined, now: Date) => {
  if (expires === undefined) return Effect.succeed(undefined)
  const day = Date.parse(`${expires}T00:00:00.000Z`)
  if (Number.isNaN(day) || new Date(day).toISOString().slice(0, 10) !== expires) {
    return Effect.fail(badRequest("invalid_request", `${expires} is not a calendar date`, "expires"))
  }
  const expiresAt = new Date(day + DAY)
  return expiresAt.getTime() <= now.getTime()
    ? Effect.fail(badRequest("invalid_request", `${expires} has passed: give a day from today on`, "expires"))
    : Effect.succeed(expiresAt)
}

export const InvitationsLive = HttpApiBuilder.group(Api, "invitations", (handlers) =>
  Effect.gen(function* () {
    const control = yield* ControlStore
    const mailer = yield* Mailer
    const { baseUrl } = yield* Settings

    /** The accept token goes by mail when it can (runtime/service/Invitations.ts); otherwise back to the provider, once. */
    const deliver = (invitation: Invitation, share: Share, acceptToken: string) =>
      Effect.map(fromControl(deliverInvitation(invitation, share, acceptToken, baseUrl)), (delivery) =>
        delivery.sentAt === undefined
          ? View.invitation(invitation, acceptToken)
          : View.invitation({ ...invitation, sentAt: delivery.sentAt })
      ).pipe(Effect.provideService(ControlStore, control), Effect.provideService(Mailer, mailer))

    const ownInvitation = (account: string, id: string) =>
      Effect.flatMap(found(control.getInvitation(id, new Date()), `invitation ${id}`), (invitation) =>
        invitation.account === account
          ? Effect.succeed(invitation)
          : Effect.fail(notFound(`invitation ${id} does not exist`))
      )

    return handlers
      .handle("list", ({ path, urlParams }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          yield* found(control.getShare(account, path.share), `share ${path.share}`)
          const page = yield* fromControl(
            control.listInvitations({ account, share: path.share, now: new Date() }, pageRequest(urlParams))
          )
          return View.page(page, (invitation) => View.invitation(invitation))
        })
      )
      .handle("create", ({ path, payload }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          const share = yield* found(control.getShare(account, path.share), `share ${path.share}`)
          const now = new Date()
          const expiresAt = yield* expiryOf(payload.expires, now)
          const acceptToken = makeSecret(INVITATION_PREFIX)
          const invitation = yield* fromControl(
            control.createInvitation(
              { kind: "account", account },
              {
                account,
                share: path.share,
                to: payload.to,
                secretHash: hashSecret(acceptToken),
                at: now,
                ...(expiresAt === undefined ? {} : { expiresAt })
              }
            )
          )
          return yield* deliver(invitation, share, acceptToken)
        })
      )
      .handle("resend", ({ path }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          const invitation = yield* ownInvitation(account, path.id)
          const share = yield* found(control.getShare(account, invitation.share), `share ${invitation.share}`)
          const acceptToken = makeSecret(INVITATION_PREFIX)
          const renewed = yield* fromControl(
            control.renewInvitation({ kind: "account", account }, invitation.id, {
              secretHash: hashSecret(acceptToken)
            })
          )
          return yield* deliver(renewed, share, acceptToken)
        })
      )
      .handle("withdraw", ({ path }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          yield* ownInvitation(account, path.id)
          const withdrawn = yield* fromControl(
            control.withdrawInvitation({ kind: "account", account }, path.id, new Date())
          )
          return View.invitation(withdrawn)
        })
      )
  })
)

export const ReceivedInvitationsLive = HttpApiBuilder.group(Api, "receivedInvitations", (handlers) =>
  Effect.gen(function* () {
    const control = yield* ControlStore

    /** Whether the invitation names the account, or the account's e-mail address. */
    const addressedTo = (invitation: Invitation, account: string) =>
      Effect.map(fromControl(control.getAccount(account)), (found) => {
        if (invitation.to === account) return true
        const email = Option.getOrUndefined(Option.flatMapNullable(found, (account) => account.email))
        return email !== undefined && email.toLowerCase() === invitation.to.toLowerCase()
      })

    /** The invitation, if the account may answer it: addressed to it, or the mail's token in hand. */
    const answerable = (account: string, id: string, token: string | undefined) =>
      Effect.gen(function* () {
        const now = new Date()
        const missing = notFound(`invitation ${id} does not exist for account ${account}`)
        const invitation = Option.getOrUndefined(yield* fromControl(control.getInvitation(id, now)))
        if (invitation === undefined) return yield* missing
        if (token !== undefined) {
          // A spent token still finds its invitation: its holder learns that it was answered or
          // withdrawn (409), not that it does not exist. Spent, it is never pending: never accepted again.
          const byToken = yield* fromControl(control.invitationByToken(hashSecret(token), now, { spent: true }))
          if (Option.isNone(byToken) || byToken.value.id !== id) return yield* missing
          return invitation
        }
        return (yield* addressedTo(invitation, account)) ? invitation : yield* missing
      })

    return handlers
      .handle("list", ({ urlParams }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          const page = yield* fromControl(
            control.listReceivedInvitations({ account, now: new Date() }, pageRequest(urlParams))
          )
          const shares = new Map<string, Share | undefined>()
          const items = yield* Effect.forEach(page.items, (invitation) =>
            Effect.gen(function* () {
              const key = `${invitation.account}/${invitation.share}`
              if (!shares.has(key)) {
                const share = yield* fromControl(control.getShare(invitation.account, invitation.share))
                shares.set(key, Option.getOrUndefined(share))
              }
              return View.receivedInvitation(invitation, shares.get(key))
            })
          )
          return { items, ...(page.next === undefined ? {} : { next: page.next }) }
        })
      )
      .handle("accept", ({ path, payload }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          const invitation = yield* answerable(account, path.id, payload.token)
          const { subscription } = yield* fromControl(
            control.acceptInvitation(
              { kind: "account", account },
              {
                invitationId: invitation.id,
                account,
                subscription: payload.subscription,
                trigger: payload.trigger ?? "manual",
                at: new Date()
              }
            )
          )
          return View.subscription(subscription)
        })
      )
      .handle("reject", ({ path }) =>
        Effect.gen(function* () {
          const account = yield* requireAccount
          yield* answerable(account, path.id, undefined)
          const rejected = yield* fromControl(
            control.rejectInvitation({ kind: "account", account }, path.id, account, new Date())
          )
          return View.invitation(rejected)
        })
      )
  })
)
