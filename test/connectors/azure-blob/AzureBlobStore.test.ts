/** The blob store's config: one way to sign in, secrets kept redacted, URLs without credentials. */
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { AzureBlobDatasetConfig } from "../../../connectors/azure-blob/AzureBlobSource.js"
import { AzureBlobStoreConfig, canCopyBetween } from "../../../connectors/azure-blob/AzureBlobStore.js"

const URL_ = "https://contosodata.blob.core.windows.net"
const decode = (input: unknown) => Schema.decodeUnknownEither(AzureBlobStoreConfig)(input)
const problem = (input: unknown, schema: Schema.Schema<unknown, unknown> = AzureBlobStoreConfig as never) =>
  Either.match(Schema.decodeUnknownEither(schema)(input), {
    onLeft: (error) => error.message.replace(/\s+/g, " "),
    onRight: () => "accepted"
  })

describe("azure_blob store config", () => {
  it("takes one way to sign in, and keeps secrets redacted", () => {
    const withKey = Either.getOrThrow(decode({ account_url: URL_, account_name: "contosodata", account_key: "a2V5" }))
    expect(Redacted.isRedacted(withKey.account_key)).toBe(true)
    expect(String(withKey.account_key)).toBe("<redacted>")
    expect(Either.isRight(decode({ account_url: URL_, sas_token: "?sv=2024&sp=rl&sig=x" }))).toBe(true)
    expect(Either.isRight(decode({ account_url: URL_, default_credential: true }))).toBe(true)
    expect(Either.isRight(decode({ connection_string: "UseDevelopmentStorage=true" }))).toBe(true)
  })

  it("refuses configs that sign in in no way, in two ways, or with a credential in the URL", () => {
    expect(problem({ account_url: URL_ })).toContain(
      "give exactly one way to sign in: account_key (with account_name), sas_token or default_credential"
    )
    expect(problem({ account_url: URL_, sas_token: "x", default_credential: true })).toContain(
      "give exactly one way to sign in"
    )
    expect(problem({ account_url: URL_, account_key: "a2V5" })).toContain("account_name and account_key go together")
    expect(problem({})).toContain(
      "give account_url (with account_key, sas_token or default_credential) or connection_string"
    )
    expect(problem({ connection_string: "x", sas_token: "y" })).toContain(
      "the connection string carries the credential; remove sas_token"
    )
    expect(problem({ account_url: `${URL_}?sv=1&sig=secret`, default_credential: true })).toContain(
      "give the URL without a query or credentials: a SAS goes in sas_token"
    )
    expect(problem({ account_url: "ftp://x", default_credential: true })).toContain(
      "expected the account's blob endpoint"
    )
  })

  it("refuses datasets that name a folder and a blob, table settings on files, and paths that leave the folder", () => {
    const dataset = AzureBlobDatasetConfig as unknown as Schema.Schema<unknown, unknown>
    expect(problem({ container: "sales", prefix: "a", blob: "b" }, dataset)).toContain(
      "give prefix (a folder) or blob (one blob), not both"
    )
    expect(problem({ container: "sales", prefix: "a", format: "csv" }, dataset)).toContain(
      "format applies to table datasets (kind: table), not to files"
    )
    expect(problem({ container: "sales", prefix: "a/../b" }, dataset)).toContain('has an empty, "." or ".." segment')
    expect(problem({ container: "Sales_2026" }, dataset)).toContain("a container name")
    expect(
      problem({ container: "sales", prefix: "orders/", kind: "table", parquet: {}, format: "csv" }, dataset)
    ).toContain("parquet options given, but the format is csv")
  })

  it("copies server-side within one endpoint, or between public Azure endpoints only", () => {
    const at = (url: string) => new URL(url)
    expect(canCopyBetween(at("http://127.0.0.1:10000/a/c/b"), at("http://127.0.0.1:10000/a"))).toBe(true)
    expect(canCopyBetween(at("https://one.blob.core.windows.net/c/b"), at("https://two.blob.core.windows.net"))).toBe(
      true
    )
    expect(canCopyBetween(at("http://127.0.0.1:10000/a/c/b"), at("https://two.blob.core.windows.net"))).toBe(false)
  })
})
