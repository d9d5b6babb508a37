/**
 * Outgoing mail: the invitation to a share, sent by SMTP when the config names a
 * server, and otherwise left to the provider (the accept token is returned to it and
 * logged).
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

export interface InvitationMail {
  readonly to: string
  readonly provider: string
  readonly share: string
  readonly description?: string
  readonly terms?: string
  readonly datasetCount: number
  readonly expiresAt?: Date
  readonly invitationId: string
  /** The single-use accept token. */
  readonly acceptToken: string
  /** The service's base URL, for the accept instructions. */
  readonly baseUrl: string
}

export class MailError extends Schema.TaggedError<MailError>()("MailError", {
  message: Schema.String
}) {}

export class Mailer extends Context.Tag("ferry/Mailer")<
  Mailer,
  {
    /** False when no SMTP server is configured: nothing was sent. */
    readonly enabled: boolean
    readonly sendInvitation: (mail: InvitationMail) => Effect.Effect<void, MailError>
  }
>() {}
