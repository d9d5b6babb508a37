/** What the API's handlers need to know of the service beyond its stores. */
import * as Context from "effect/Context"
import type { Registry } from "../../core/Registry.js"

export interface ApiSettings {
  /** The store types of the served config (built-ins and plugins), for the Schemas that mark secret settings. */
  readonly registry: Registry
  /** The service's address as invitees reach it, for the accept instructions of mails. */
  readonly baseUrl: string
}

export class Settings extends Context.Tag("ferry/api/Settings")<Settings, ApiSettings>() {}
