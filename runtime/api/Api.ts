/**
 * Ferry's REST API, declared once: the server (`Server.ts`), the OpenAPI document at
 * /api/v1/openapi.json and the typed client (`Client.ts`) all come from this value.
 * JSON keys are snake_case; lists page with `?limit=&after=` and answer
 * `{ items, next? }`; every error is `{ "error": { "code", "message", "path"? } }`.
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as OpenApi from "@effect/platform/OpenApi"
import { Accounts } from "./Accounts.js"
import { Audit } from "./Audit.js"
import {
  BAD_REQUEST_DESCRIPTION,
  BadRequestBody,
  ConflictBody,
  ForbiddenBody,
  InternalBody,
  NotFoundBody
} from "./Errors.js"
import { Invitations, ReceivedInvitations } from "./Invitations.js"
import { Deliveries, Runs } from "./Runs.js"
import { Datasets, Shares } from "./Shares.js"
import { Stores } from "./Stores.js"
import { Mappings, ShareSubscriptions, Subscriptions } from "./Subscriptions.js"

export const API_PREFIX = "/api/v1"
export const OPENAPI_PATH = `${API_PREFIX}/openapi.json` as const

interface Operation {
  readonly responses?: Record<string, { description?: string; content?: Record<string, { schema?: unknown }> }>
}

/**
 * The framework answers a body that does not decode with a 400 of its own shape
 * (`HttpApiDecodeError`); the server rewrites it into the API's error body
 * (Server.ts), so the document describes that body alone.
 */
const describeOwnErrorsOnly = (spec: Record<string, unknown>): Record<string, unknown> => {
  const decodeError = { $ref: "#/components/schemas/HttpApiDecodeError" }
  const isDecodeError = (schema: unknown) => JSON.stringify(schema) === JSON.stringify(decodeError)
  const paths = (spec["paths"] ?? {}) as Record<string, Record<string, Operation>>
  for (const operations of Object.values(paths)) {
    for (const operation of Object.values(operations)) {
      const badRequest = operation.responses?.["400"]
      if (badRequest === undefined) continue
      badRequest.description = BAD_REQUEST_DESCRIPTION
      for (const media of Object.values(badRequest.content ?? {})) {
        const schema = media.schema as { anyOf?: Array<unknown> } | undefined
        const members = (schema?.anyOf ?? []).filter((member) => !isDecodeError(member))
        if (schema?.anyOf !== undefined) media.schema = members.length === 1 ? members[0] : { anyOf: members }
      }
    }
  }
  const components = spec["components"] as { schemas?: Record<string, unknown> } | undefined
  for (const name of ["HttpApiDecodeError", "Issue", "PropertyKey"]) delete components?.schemas?.[name]
  return spec
}

export class Api extends HttpApi.make("ferry")
  .add(Accounts)
  .add(Stores)
  .add(Shares)
  .add(Datasets)
  .add(Invitations)
  .add(ReceivedInvitations)
  .add(ShareSubscriptions)
  .add(Deliveries)
  .add(Subscriptions)
  .add(Mappings)
  .add(Runs)
  .add(Audit)
  .addError(BadRequestBody)
  .addError(ForbiddenBody)
  .addError(NotFoundBody)
  .addError(ConflictBody)
  .addError(InternalBody)
  .prefix(API_PREFIX)
  .annotate(OpenApi.Title, "Ferry")
  .annotate(OpenApi.Version, "1")
  .annotate(
    OpenApi.Description,
    "Share datasets from your own stores with other organisations. Authenticate with `Authorization: Bearer <token>`."
  )
  .annotate(OpenApi.Transform, describeOwnErrorsOnly) {}
