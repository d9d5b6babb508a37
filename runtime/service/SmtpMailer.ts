/**
 * The Mailer over SMTP (nodemailer), and the Mailer of a service without a mail server.
 * An invitation's mail says what is offered (the share, its provider, description and
 * terms, how many datasets, until when) and carries the single-use accept token with the
 * request that accepts it. Errors name the server, never the password.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import nodemailer from "nodemailer"
import type { Smtp } from "../../config/FerryConfig.js"
import type { InvitationMail } from "./Mailer.js"
import { MailError, Mailer } from "./Mailer.js"

export interface SmtpOptions {
  readonly host: string
  readonly port: number
  /** The sender, such as `Ferry <ferry@contoso.example>`. */
  readonly from: string
  /** TLS from the first byte (port 465); otherwise STARTTLS when the server offers it. */
  readonly secure?: boolean
  readonly user?: string
  readonly password?: Redacted.Redacted<string>
  /** How long connecting and each reply may take; 30 seconds by default. */
  readonly timeoutMillis?: number
}

const dateOnly = (date: Date) => date.toISOString().slice(0, 10)

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`

/** A shell word: single-quoted, with single quotes closed, escaped and reopened. */
const shellQuote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`

export const invitationSubject = (mail: InvitationMail) =>
  `${mail.provider} invites you to the share ${mail.share} on Ferry`

/** The mail's text: what is shared, on what terms, and how to accept. */
export const invitationText = (mail: InvitationMail): string => {
  const base = mail.baseUrl.replace(/\/+$/, "")
  const body = JSON.stringify({ accept_terms: true, subscription: mail.share, token: mail.acceptToken })
  const lines = [
    `${mail.provider} invites you to subscribe to its share "${mail.share}" on Ferry.`,
    "",
    `Share:       ${mail.provider}/${mail.share}`,
    `Description: ${mail.description ?? "(none)"}`,
    `Datasets:    ${plural(mail.datasetCount, "dataset")}`,
    `Expires:     ${mail.expiresAt === undefined ? "never" : `after ${dateOnly(new Date(mail.expiresAt.getTime() - 1))} (UTC)`}`,
    "",
    "Terms of use:",
    mail.terms ?? "(none given)",
    "",
    "Accepting subscribes your account to the share and accepts its terms. With an API token",
    'of your account in FERRY_TOKEN (choose the subscription\'s name in "subscription"):',
    "",
    `curl -X POST ${shellQuote(`${base}/api/v1/received-invitations/${mail.invitationId}/accept`)} \\`,
    `  -H "Authorization: Bearer $FERRY_TOKEN" -H "Content-Type: application/json" \\`,
    `  -d ${shellQuote(body)}`,
    "",
    `Invitation: ${mail.invitationId}`,
    `Accept token (single use): ${mail.acceptToken}`,
    "",
    "If you did not expect this invitation, ignore this mail: nothing happens unless it is accepted."
  ]
  return `${lines.join("\n")}\n`
}

/** Sends invitations through the SMTP server; the transport's connections close with the layer. */
export const layerSmtp = (options: SmtpOptions): Layer.Layer<Mailer> =>
  Layer.scoped(
    Mailer,
    Effect.gen(function* () {
      const timeout = options.timeoutMillis ?? 30_000
      const transport = yield* Effect.acquireRelease(
        Effect.sync(() =>
          nodemailer.createTransport({
            host: options.host,
            port: options.port,
            secure: options.secure ?? false,
            connectionTimeout: timeout,
            greetingTimeout: timeout,
            socketTimeout: timeout,
            ...(options.user === undefined
              ? {}
              : {
                  auth: {
                    user: options.user,
                    pass: options.password === undefined ? "" : Redacted.value(options.password)
                  }
                })
          })
        ),
        (transport) => Effect.sync(() => transport.close())
      )
      const server = `${options.host}:${options.port}`
      const secrets = options.password === undefined ? [] : [Redacted.value(options.password)].filter((s) => s !== "")
      const describe = (error: unknown) => {
        let text = error instanceof Error ? error.message : String(error)
        for (const secret of secrets) text = text.replaceAll(secret, "***")
        return text
      }
      return Mailer.of({
        enabled: true,
        sendInvitation: (mail) =>
          Effect.tryPromise({
            try: () =>
              transport.sendMail({
                from: options.from,
                to: mail.to,
                subject: invitationSubject(mail),
                text: invitationText(mail)
              }),
            catch: (error) =>
              new MailError({
                message: `Cannot send the invitation ${mail.invitationId} to ${mail.to} through ${server}: ${describe(error)}`
              })
          }).pipe(
            Effect.tap(() =>
              Effect.logInfo(`Invitation ${mail.invitationId} to ${mail.provider}/${mail.share} mailed to ${mail.to}.`)
            ),
            Effect.asVoid
          )
      })
    })
  )

/** No mail server: nothing is sent, and the provider passes the accept token on itself. */
export const layerDisabled: Layer.Layer<Mailer> = Layer.succeed(
  Mailer,
  Mailer.of({
    enabled: false,
    sendInvitation: (mail) =>
      Effect.fail(
        new MailError({ message: `Cannot send the invitation ${mail.invitationId}: no SMTP server is configured` })
      )
  })
)

/** The mailer a config's `smtp:` asks for: SMTP when it names a server, disabled otherwise. */
export const layerFor = (smtp: Option.Option<Smtp>): Layer.Layer<Mailer> =>
  Option.match(smtp, {
    onNone: () => layerDisabled,
    onSome: (smtp) =>
      layerSmtp({
        host: smtp.host,
        port: smtp.port,
        from: smtp.from,
        secure: smtp.secure,
        ...Option.match(smtp.user, { onNone: () => ({}), onSome: (user) => ({ user }) }),
        ...Option.match(smtp.password, { onNone: () => ({}), onSome: (password) => ({ password }) })
      })
  })
