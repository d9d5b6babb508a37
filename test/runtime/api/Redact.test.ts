import { describe, expect, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import { PostgresStoreConfig } from "../../../connectors/postgres/PostgresStore.js"
import { LocalStoreConfig } from "../../../connectors/local/LocalStore.js"
import { redactSettings, WRITE_ONLY } from "../../../runtime/api/Redact.js"

describe("redactSettings", () => {
  it("replaces the postgres connector's url, a Schema.Redacted field, and keeps the rest", () => {
    const settings = { url: "postgres://ferry:pw@db/sales", pool_size: 4 }
    expect(redactSettings(settings, PostgresStoreConfig)).toEqual({ url: WRITE_ONLY, pool_size: 4 })
    expect(settings.url).toBe("postgres://ferry:pw@db/sales")
  })

  it("leaves a connector without secrets as it is", () => {
    expect(redactSettings({ root: "./data" }, LocalStoreConfig)).toEqual({ root: "./data" })
  })

  it("finds secrets in optional, nested, listed, record and union fields", () => {
    const Secret = Schema.Redacted(Schema.String)
    const Config = Schema.Struct({
      token: Schema.optional(Secret),
      auth: Schema.Struct({ user: Schema.String, password: Secret }),
      replicas: Schema.Array(Schema.Struct({ host: Schema.String, key: Secret })),
      headers: Schema.Record({ key: Schema.String, value: Secret }),
      credential: Schema.Union(
        Schema.Struct({ sas: Secret }),
        Schema.Struct({ account_key: Secret, name: Schema.String })
      )
    }).pipe(Schema.filter(() => true))
    const settings = {
      token: "t",
      auth: { user: "u", password: "p" },
      replicas: [
        { host: "a", key: "k1" },
        { host: "b", key: "k2" }
      ],
      headers: { "x-api-key": "h" },
      credential: { account_key: "ak", name: "acct" }
    }
    expect(redactSettings(settings, Config)).toEqual({
      token: WRITE_ONLY,
      auth: { user: "u", password: WRITE_ONLY },
      replicas: [
        { host: "a", key: WRITE_ONLY },
        { host: "b", key: WRITE_ONLY }
      ],
      headers: { "x-api-key": WRITE_ONLY },
      credential: { account_key: WRITE_ONLY, name: "acct" }
    })
  })

  it("withholds every setting when the store type has no Schema any more", () => {
    expect(redactSettings({ root: "./data", password: "p" }, undefined)).toEqual({
      root: WRITE_ONLY,
      password: WRITE_ONLY
    })
  })
})
