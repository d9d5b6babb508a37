/**
 * Invitations with a mail server: the accept token goes by mail (read back from an
 * in-process SMTP server) and never into the response; an invitee without an address
 * gets no mail, and the provider the token.
 */
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { TestSmtp } from "../../support/smtp.js"
import { Accounts, layerWithAccounts, Service } from "./Harness.js"

/** The accept token of the last mail to this address. */
const mailedToken = (smtp: TestSmtp, to: string) => {
  const index = smtp.recipients.findLastIndex((recipients) => recipients.includes(to))
  const match = /Accept token \(single use\): (\S+)/.exec(smtp.mails[index]?.text ?? "")
  if (match?.[1] === undefined) throw new Error(`no mail to ${to}`)
  return match[1]
}

layer(layerWithAccounts({ mail: true }), { excludeTestServices: true })("invitations by mail", (it) => {
  it.effect("mailed to the invitee's address, with the share's details; the response keeps the token out", () =>
    Effect.gen(function* () {
      const service = yield* Service
      const tokens = yield* Accounts
      const smtp = service.smtp!
      const contoso = yield* service.client(tokens.contoso)
      const fabrikam = yield* service.client(tokens.fabrikam)
      yield* contoso.stores.put({ path: { store: "src" }, payload: { type: "local", root: "./src" } })
      yield* contoso.shares.create({
        payload: { name: "retail", description: "Customers.", terms: "Forecasting only." }
      })
      yield* contoso.datasets.put({
        path: { share: "retail", dataset: "customers" },
        payload: { source: { store: "src", table: "customers.csv" } }
      })

      // Addressed to fabrikam's account: mailed to its e-mail address.
      const invitation = yield* contoso.invitations.create({
        path: { share: "retail" },
        payload: { to: "fabrikam", expires: "2999-01-31" }
      })
      expect(invitation.accept_token).toBeUndefined()
      expect(invitation.sent_at).toBeInstanceOf(Date)
      expect(smtp.recipients).toEqual([["ops@fabrikam.example"]])
      const text = smtp.mails[0]?.text ?? ""
      expect(smtp.mails[0]?.subject).toBe("contoso invites you to the share retail on Ferry")
      for (const part of ["Customers.", "Forecasting only.", "1 dataset", "after 2999-01-31", invitation.id]) {
        expect(text).toContain(part)
      }
      expect(text).toContain("https://ferry.example/api/v1/received-invitations/")
      const token = mailedToken(smtp, "ops@fabrikam.example")
      expect(service.bodies.some((body) => body.includes(token))).toBe(false)
      const listed = yield* contoso.invitations.list({ path: { share: "retail" }, urlParams: {} })
      expect(listed.items[0]?.sent_at).toBeInstanceOf(Date)

      const subscription = yield* fabrikam.receivedInvitations.accept({
        path: { id: invitation.id },
        payload: { accept_terms: true, subscription: "feed" }
      })
      expect(subscription.status).toBe("Active")
    })
  )

  it.effect("an address no account has: accepted with the mailed token; a resend makes the old token useless", () =>
    Effect.gen(function* () {
      const service = yield* Service
      const tokens = yield* Accounts
      const smtp = service.smtp!
      const contoso = yield* service.client(tokens.contoso)
      const northwind = yield* service.client(tokens.northwind)
      const invitation = yield* contoso.invitations.create({
        path: { share: "retail" },
        payload: { to: "buyer@elsewhere.example" }
      })
      expect(invitation.accept_token).toBeUndefined()
      const first = mailedToken(smtp, "buyer@elsewhere.example")
      const resent = yield* contoso.invitations.resend({ path: { id: invitation.id } })
      expect(resent.accept_token).toBeUndefined()
      const second = mailedToken(smtp, "buyer@elsewhere.example")
      expect(second).not.toBe(first)
      const accept = (token: string) =>
        northwind.receivedInvitations.accept({
          path: { id: invitation.id },
          payload: { accept_terms: true, subscription: "retail", token }
        })
      const stale = yield* Effect.flip(accept(first))
      expect(stale._tag).toBe("NotFound")
      expect((yield* accept(second)).invitation_id).toBe(invitation.id)
    })
  )

  it.effect("an account without an address gets no mail: the provider gets the token", () =>
    Effect.gen(function* () {
      const service = yield* Service
      const tokens = yield* Accounts
      const smtp = service.smtp!
      const contoso = yield* service.client(tokens.contoso)
      const before = smtp.mails.length
      const invitation = yield* contoso.invitations.create({ path: { share: "retail" }, payload: { to: "northwind" } })
      expect(invitation.accept_token).toMatch(/^ferry_inv_/)
      expect(invitation.sent_at).toBeUndefined()
      expect(smtp.mails.length).toBe(before)
    })
  )
})
