/** Invitations: the provider's to its shares, and those an account received. */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Schema from "effect/Schema"
import { Authentication } from "./Auth.js"
import {
  AcceptBody,
  Invitation,
  InvitationBody,
  Name,
  Page,
  PageParams,
  ReceivedInvitation,
  Subscription
} from "./Resources.js"

const SharePath = Schema.Struct({ share: Name })
const InvitationPath = Schema.Struct({ id: Schema.String })

export const Invitations = HttpApiGroup.make("invitations")
  .add(
    HttpApiEndpoint.get("list", "/shares/:share/invitations")
      .setPath(SharePath)
      .setUrlParams(PageParams)
      .addSuccess(Page(Invitation, "The share's invitations, oldest first."))
      .annotate(OpenApi.Summary, "List a share's invitations")
  )
  .add(
    HttpApiEndpoint.post("create", "/shares/:share/invitations")
      .setPath(SharePath)
      .setPayload(InvitationBody)
      .addSuccess(Invitation, { status: 201 })
      .annotate(OpenApi.Summary, "Invite an e-mail address or an account")
      .annotate(
        OpenApi.Description,
        "With SMTP configured, the single-use accept token is mailed and not returned; without, `accept_token` is in this response, once."
      )
  )
  .add(
    HttpApiEndpoint.post("resend", "/invitations/:id/resend")
      .setPath(InvitationPath)
      .addSuccess(Invitation)
      .annotate(OpenApi.Summary, "Renew a pending invitation's accept token and send it again")
      .annotate(OpenApi.Description, "The previous token stops working.")
  )
  .add(
    HttpApiEndpoint.post("withdraw", "/invitations/:id/withdraw")
      .setPath(InvitationPath)
      .addSuccess(Invitation)
      .annotate(OpenApi.Summary, "Withdraw a pending invitation")
  )
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Invitations")
  .annotate(OpenApi.Description, "The provider's invitations to its shares.")

export const ReceivedInvitations = HttpApiGroup.make("receivedInvitations")
  .add(
    HttpApiEndpoint.get("list", "/received-invitations")
      .setUrlParams(PageParams)
      .addSuccess(Page(ReceivedInvitation, "Invitations addressed to the account's name or e-mail address."))
      .annotate(OpenApi.Summary, "List the invitations the account received")
  )
  .add(
    HttpApiEndpoint.post("accept", "/received-invitations/:id/accept")
      .setPath(InvitationPath)
      .setPayload(AcceptBody)
      .addSuccess(Subscription, { status: 201 })
      .annotate(OpenApi.Summary, "Accept an invitation: its terms, and a subscription")
      .annotate(
        OpenApi.Description,
        "An invitation addressed to another e-mail address is accepted with the mail's `token`."
      )
  )
  .add(
    HttpApiEndpoint.post("reject", "/received-invitations/:id/reject")
      .setPath(InvitationPath)
      .addSuccess(Invitation)
      .annotate(OpenApi.Summary, "Reject an invitation")
  )
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Received invitations")
  .annotate(OpenApi.Description, "The consumer's side: invitations to other accounts' shares.")
