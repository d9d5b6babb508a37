/** A provider's shares, their datasets and their schedules. */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Schema from "effect/Schema"
import { Authentication } from "./Auth.js"
import { Dataset, DatasetBody, Name, Page, PageParams, Schedule, Share, ShareBody, SharePatch } from "./Resources.js"

const SharePath = Schema.Struct({ share: Name })
const DatasetPath = Schema.Struct({ share: Name, dataset: Name })

export const Shares = HttpApiGroup.make("shares")
  .add(
    HttpApiEndpoint.get("list", "/shares")
      .setUrlParams(PageParams)
      .addSuccess(Page(Share, "The account's shares, by name."))
      .annotate(OpenApi.Summary, "List shares")
  )
  .add(
    HttpApiEndpoint.post("create", "/shares")
      .setPayload(ShareBody)
      .addSuccess(Share, { status: 201 })
      .annotate(OpenApi.Summary, "Create a share")
      .annotate(OpenApi.Description, "409 when the account has a share of that name.")
  )
  .add(
    HttpApiEndpoint.get("get", "/shares/:share")
      .setPath(SharePath)
      .addSuccess(Share)
      .annotate(OpenApi.Summary, "Read a share")
  )
  .add(
    HttpApiEndpoint.patch("update", "/shares/:share")
      .setPath(SharePath)
      .setPayload(SharePatch)
      .addSuccess(Share)
      .annotate(OpenApi.Summary, "Change a share's description, terms, kind or schedule")
  )
  .add(
    HttpApiEndpoint.del("delete", "/shares/:share")
      .setPath(SharePath)
      .annotate(OpenApi.Summary, "Delete a share")
      .annotate(OpenApi.Description, "Removes its datasets and invitations, and revokes its subscriptions.")
  )
  .add(
    HttpApiEndpoint.put("putSchedule", "/shares/:share/schedule")
      .setPath(SharePath)
      .setPayload(Schedule.annotations({ parseOptions: { onExcessProperty: "error" } }))
      .addSuccess(Share)
      .annotate(OpenApi.Summary, "Set the share's schedule")
      .annotate(OpenApi.Description, "`{ every: hour | day, at: HH:MM }` or `{ cron }`, in UTC.")
  )
  .add(
    HttpApiEndpoint.del("deleteSchedule", "/shares/:share/schedule")
      .setPath(SharePath)
      .addSuccess(Share)
      .annotate(OpenApi.Summary, "Remove the share's schedule")
  )
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Shares")
  .annotate(OpenApi.Description, "The provider's shares: datasets of its stores, offered together.")

export const Datasets = HttpApiGroup.make("datasets")
  .add(
    HttpApiEndpoint.get("list", "/shares/:share/datasets")
      .setPath(SharePath)
      .setUrlParams(PageParams)
      .addSuccess(Page(Dataset, "The share's datasets, in delivery order."))
      .annotate(OpenApi.Summary, "List a share's datasets")
  )
  .add(
    HttpApiEndpoint.put("put", "/shares/:share/datasets/:dataset")
      .setPath(DatasetPath)
      .setPayload(DatasetBody)
      .addSuccess(Dataset)
      .annotate(OpenApi.Summary, "Create or replace a dataset")
      .annotate(
        OpenApi.Description,
        "The config's dataset entry without its name; `source` is checked by the store's connector."
      )
  )
  .add(
    HttpApiEndpoint.get("get", "/shares/:share/datasets/:dataset")
      .setPath(DatasetPath)
      .addSuccess(Dataset)
      .annotate(OpenApi.Summary, "Read a dataset")
  )
  .add(
    HttpApiEndpoint.del("delete", "/shares/:share/datasets/:dataset")
      .setPath(DatasetPath)
      .annotate(OpenApi.Summary, "Delete a dataset")
  )
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Datasets")
  .annotate(OpenApi.Description, "The datasets of the provider's shares.")
