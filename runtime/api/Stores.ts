/** A provider's or consumer's stores: connections to its data, secrets write-only. */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Schema from "effect/Schema"
import { Authentication } from "./Auth.js"
import { Name, Page, PageParams, Store, StoreBody } from "./Resources.js"

const StorePath = Schema.Struct({ store: Name })

export const Stores = HttpApiGroup.make("stores")
  .add(
    HttpApiEndpoint.get("list", "/stores")
      .setUrlParams(PageParams)
      .addSuccess(Page(Store, "The account's stores, by name."))
      .annotate(OpenApi.Summary, "List stores")
  )
  .add(
    HttpApiEndpoint.put("put", "/stores/:store")
      .setPath(StorePath)
      .setPayload(StoreBody)
      .addSuccess(Store)
      .annotate(OpenApi.Summary, "Create or replace a store")
      .annotate(
        OpenApi.Description,
        "The body is `type` and the connector's settings, checked by the connector's Schema; values may not contain `${env:…}`."
      )
  )
  .add(
    HttpApiEndpoint.get("get", "/stores/:store")
      .setPath(StorePath)
      .addSuccess(Store)
      .annotate(OpenApi.Summary, "Read a store")
  )
  .add(
    HttpApiEndpoint.del("delete", "/stores/:store")
      .setPath(StorePath)
      .annotate(OpenApi.Summary, "Delete a store")
      .annotate(OpenApi.Description, "Refused (409) while a dataset or a mapping uses it.")
  )
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Stores")
  .annotate(OpenApi.Description, "Connections to the account's data stores. Secret settings are write-only.")
