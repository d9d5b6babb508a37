/**
 * The typed client of Ferry's API, made from the same definition as the server: every
 * route a method (`client.shares.create({ payload })`), every error its class
 * (`NotFound`, `Conflict`…). It needs an `HttpClient` (`FetchHttpClient.layer`, or
 * `NodeHttpClient.layerUndici`).
 */
import * as HttpApiClient from "@effect/platform/HttpApiClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as Effect from "effect/Effect"
import { identity } from "effect/Function"
import type * as Redacted from "effect/Redacted"
import { Api } from "./Api.js"

export interface ClientOptions {
  /** The service's address, such as `http://localhost:8080` (the client adds /api/v1/…). */
  readonly baseUrl: string
  /** An API token; requests go without `Authorization` when absent. */
  readonly token?: string | Redacted.Redacted<string>
  /** Applied after the token: retries, logging… */
  readonly transformClient?: (client: HttpClient.HttpClient) => HttpClient.HttpClient
}

/** Sends `Authorization: Bearer <token>` with every request. */
export const withToken =
  (token: string | Redacted.Redacted<string>) =>
  (client: HttpClient.HttpClient): HttpClient.HttpClient =>
    HttpClient.mapRequest(client, HttpClientRequest.bearerToken(token))

export const make = (options: ClientOptions) =>
  HttpApiClient.make(Api, {
    baseUrl: options.baseUrl,
    transformClient: (client) => {
      const authorized = options.token === undefined ? client : withToken(options.token)(client)
      return (options.transformClient ?? identity)(authorized)
    }
  })

export type Client = Effect.Effect.Success<ReturnType<typeof make>>
