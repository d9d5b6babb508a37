/** The operator's routes: accounts and their API tokens. */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Schema from "effect/Schema"
import { Authentication } from "./Auth.js"
import { Account, AccountBody, CreatedToken, Name, Page, PageParams, Token, TokenBody } from "./Resources.js"

const AccountPath = Schema.Struct({ name: Name })

export const Accounts = HttpApiGroup.make("accounts")
  .add(
    HttpApiEndpoint.get("list", "/accounts")
      .setUrlParams(PageParams)
      .addSuccess(Page(Account, "Accounts, by name."))
      .annotate(OpenApi.Summary, "List accounts")
  )
  .add(
    HttpApiEndpoint.put("put", "/accounts/:name")
      .setPath(AccountPath)
      .setPayload(AccountBody)
      .addSuccess(Account)
      .annotate(OpenApi.Summary, "Create or replace an account")
  )
  .add(
    HttpApiEndpoint.get("get", "/accounts/:name")
      .setPath(AccountPath)
      .addSuccess(Account)
      .annotate(OpenApi.Summary, "Read an account")
  )
  .add(
    HttpApiEndpoint.del("delete", "/accounts/:name")
      .setPath(AccountPath)
      .annotate(OpenApi.Summary, "Delete an account and everything it owns")
      .annotate(OpenApi.Description, "Refused (409) while other accounts subscribe to its shares.")
  )
  .add(
    HttpApiEndpoint.get("listTokens", "/accounts/:name/tokens")
      .setPath(AccountPath)
      .setUrlParams(PageParams)
      .addSuccess(Page(Token, "The account's tokens, oldest first, without their secrets."))
      .annotate(OpenApi.Summary, "List the account's API tokens")
  )
  .add(
    HttpApiEndpoint.post("createToken", "/accounts/:name/tokens")
      .setPath(AccountPath)
      .setPayload(TokenBody)
      .addSuccess(CreatedToken, { status: 201 })
      .annotate(OpenApi.Summary, "Create an API token of the account")
      .annotate(OpenApi.Description, "The secret is in this response only.")
  )
  .add(
    HttpApiEndpoint.del("revokeToken", "/accounts/:name/tokens/:id")
      .setPath(Schema.Struct({ name: Name, id: Schema.String }))
      .annotate(OpenApi.Summary, "Revoke an API token")
  )
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Accounts")
  .annotate(OpenApi.Description, "The operator's: accounts and their API tokens (operator token only).")
