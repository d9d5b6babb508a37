/** The audit log: an account's entries, or every entry for the operator. */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import { Authentication } from "./Auth.js"
import { AuditEntry, AuditParams, Page } from "./Resources.js"

export const Audit = HttpApiGroup.make("audit")
  .add(
    HttpApiEndpoint.get("list", "/audit")
      .setUrlParams(AuditParams)
      .addSuccess(Page(AuditEntry, "Entries, newest first."))
      .annotate(OpenApi.Summary, "Read the audit log")
      .annotate(
        OpenApi.Description,
        "An account's token reads the entries that concern the account; the operator's reads every entry."
      )
  )
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Audit")
  .annotate(OpenApi.Description, "Every change and delivery, append-only.")
