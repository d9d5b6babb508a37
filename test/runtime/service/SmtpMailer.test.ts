import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { InvitationMail } from "../../../runtime/service/Mailer.js"
import { Mailer } from "../../../runtime/service/Mailer.js"
import { layerDisabled, layerFor, layerSmtp } from "../../../runtime/service/SmtpMailer.js"
import { FROM, smtpServer } from "../../support/smtp.js"

const MAIL: InvitationMail = {
  to: "ops@fabrikam.example",
  provider: "contoso",
  share: "pos-sales",
  description: "Point-of-sale lines, refreshed hourly.",
  terms: "For demand forecasting only.",
  datasetCount: 3,
  expiresAt: new Date("2027-02-01T00:00:00.000Z"),
  invitationId: "0193a7f0-invitation",
  acceptToken: "ferry_inv_Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg",
  baseUrl: "https://ferry.contoso.example/"
}

const send = (mail: InvitationMail) => Effect.flatMap(Mailer, (mailer) => mailer.sendInvitation(mail))

describe("SmtpMailer", () => {
  it.scoped(
    "mails the invitation: the share, its provider, description, terms, datasets, expiry and the accept request",
    () =>
      Effect.gen(function* () {
        const smtp = yield* smtpServer({ user: "ferry", password: "mail-pass-51" })
        const mailer = yield* Effect.provide(Mailer, layerSmtp(smtp.options))
        expect(mailer.enabled).toBe(true)
        yield* Effect.provide(send(MAIL), layerSmtp(smtp.options))
        expect(smtp.mails).toHaveLength(1)
        expect(smtp.recipients).toEqual([["ops@fabrikam.example"]])
        const mail = smtp.mails[0]!
        expect(mail.from?.text).toBe(FROM.replace("Ferry <", '"Ferry" <'))
        expect(mail.subject).toBe("contoso invites you to the share pos-sales on Ferry")
        const text = mail.text ?? ""
        expect(text).toContain("Share:       contoso/pos-sales")
        expect(text).toContain("Description: Point-of-sale lines, refreshed hourly.")
        expect(text).toContain("Datasets:    3 datasets")
        expect(text).toContain("Expires:     after 2027-01-31 (UTC)")
        expect(text).toContain("For demand forecasting only.")
        expect(text).toContain(`Accept token (single use): ${MAIL.acceptToken}`)
        expect(text).toContain(
          "curl -X POST 'https://ferry.contoso.example/api/v1/received-invitations/0193a7f0-invitation/accept'"
        )
        expect(text).toContain(`-d '{"accept_terms":true,"subscription":"pos-sales","token":"${MAIL.acceptToken}"}'`)
      })
  )

  it.scoped("an invitation without description, terms or expiry says so", () =>
    Effect.gen(function* () {
      const smtp = yield* smtpServer()
      const { description: _d, terms: _t, expiresAt: _e, ...bare } = MAIL
      yield* Effect.provide(send({ ...bare, datasetCount: 1 }), layerSmtp(smtp.options))
      const text = smtp.mails[0]?.text ?? ""
      expect(text).toContain("Description: (none)")
      expect(text).toContain("Datasets:    1 dataset\n")
      expect(text).toContain("Expires:     never")
      expect(text).toContain("(none given)")
    })
  )

  it.scoped("a refused login fails with a MailError that names the server, not the password", () =>
    Effect.gen(function* () {
      const smtp = yield* smtpServer({ user: "ferry", password: "mail-pass-51" })
      const wrong = { ...smtp.options, password: Redacted.make("wrong-pass-93") }
      const error = yield* Effect.flip(Effect.provide(send(MAIL), layerSmtp(wrong)))
      expect(error._tag).toBe("MailError")
      expect(error.message).toContain(`through 127.0.0.1:${smtp.options.port}`)
      expect(error.message).not.toContain("wrong-pass-93")
      expect(smtp.mails).toHaveLength(0)
    })
  )

  it.effect("a server that does not answer fails with a MailError", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Effect.provide(send(MAIL), layerSmtp({ host: "127.0.0.1", port: 1, from: FROM, timeoutMillis: 2_000 }))
      )
      expect(error.message).toMatch(
        /^Cannot send the invitation 0193a7f0-invitation to ops@fabrikam.example through 127.0.0.1:1: /
      )
    })
  )

  it.effect("the disabled mailer sends nothing", () =>
    Effect.gen(function* () {
      const mailer = yield* Mailer
      expect(mailer.enabled).toBe(false)
      const error = yield* Effect.flip(mailer.sendInvitation(MAIL))
      expect(error.message).toContain("no SMTP server is configured")
    }).pipe(Effect.provide(layerDisabled))
  )
})

describe("SmtpMailer.layerFor", () => {
  it.scoped("follows the config's smtp: a server named sends through it, none disables mail", () =>
    Effect.gen(function* () {
      const smtp = yield* smtpServer({ user: "ferry", password: "mail-pass-51" })
      const config = Option.some({
        host: smtp.options.host,
        port: smtp.options.port,
        from: FROM,
        secure: false,
        user: Option.some("ferry"),
        password: Option.some(Redacted.make("mail-pass-51"))
      })
      yield* Effect.provide(send(MAIL), layerFor(config))
      expect(smtp.recipients).toEqual([["ops@fabrikam.example"]])
      expect((yield* Effect.provide(Mailer, layerFor(Option.none()))).enabled).toBe(false)
    })
  )
})
