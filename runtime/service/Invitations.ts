/**
 * Getting an invitation's single-use accept token to the invitee: mailed when a mail
 * server is configured and the invitee has an address (an e-mail, or an account with
 * one); otherwise the provider passes it on, so it is logged for the operator, once.
 * Used by the API when a provider invites or resends, and by apply for the invitations
 * a config creates.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { ControlError, Invitation, Share } from "../control/ControlStore.js"
import { ControlStore } from "../control/ControlStore.js"
import { Mailer } from "./Mailer.js"

export interface Delivery {
  /** Absent when the token was not mailed. */
  readonly sentAt?: Date
  /** Why it was not mailed, as a short clause; absent when it was. */
  readonly notMailed?: string
}

const isEmail = (to: string) => to.includes("@")

export const deliverInvitation = (
  invitation: Invitation,
  share: Pick<Share, "description" | "terms" | "datasetCount">,
  acceptToken: string,
  baseUrl: string
): Effect.Effect<Delivery, ControlError, ControlStore | Mailer> =>
  Effect.gen(function* () {
    const control = yield* ControlStore
    const mailer = yield* Mailer
    const address = isEmail(invitation.to)
      ? Option.some(invitation.to)
      : Option.flatMapNullable(yield* control.getAccount(invitation.to), (account) => account.email)
    const where = `invitation ${invitation.id} to ${invitation.to} for share ${invitation.account}/${invitation.share}`
    let notMailed: string
    if (mailer.enabled && Option.isSome(address)) {
      const failure = yield* mailer
        .sendInvitation({
          to: address.value,
          provider: invitation.account,
          share: invitation.share,
          datasetCount: share.datasetCount,
          invitationId: invitation.id,
          acceptToken,
          baseUrl,
          ...(share.description === undefined ? {} : { description: share.description }),
          ...(share.terms === undefined ? {} : { terms: share.terms }),
          ...(invitation.expiresAt === undefined ? {} : { expiresAt: invitation.expiresAt })
        })
        .pipe(Effect.flip, Effect.option)
      if (Option.isNone(failure)) {
        const sentAt = new Date()
        yield* control.markInvitationSent(invitation.id, sentAt)
        return { sentAt }
      }
      notMailed = failure.value.message
    } else {
      notMailed = mailer.enabled ? `${invitation.to} has no e-mail address` : "no SMTP server is configured"
    }
    yield* Effect.logInfo(`The ${where} was not mailed (${notMailed}); pass its accept token on: ${acceptToken}`)
    return { notMailed }
  })
