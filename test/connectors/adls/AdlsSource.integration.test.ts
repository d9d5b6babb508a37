/**
 * The ADLS source, which reads through the account's Blob endpoint (Azurite here): the
 * source conformance suite with hierarchical_namespace: false, tables read from CSV and
 * Parquet files, ADLS → local copied incrementally with the directories a hierarchical
 * namespace lists through the Blob endpoint left out, the store's settings checked
 * before anything opens, and the errors a user meets, told in a data lake's words.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import type { AdlsDatasetConfig as DatasetConfig } from "../../../connectors/adls/AdlsSource.js"
import { AdlsDatasetConfig, adlsSource } from "../../../connectors/adls/AdlsSource.js"
import type { AdlsStoreConfig } from "../../../connectors/adls/AdlsStore.js"
import { AdlsStoreConfig as StoreConfigSchema, blobStoreConfig } from "../../../connectors/adls/AdlsStore.js"
import type { SourceError } from "../../../core/Errors.js"
import { formatNamed } from "../../../sinks/formats/Formats.js"
import { builtins } from "../../../runtime/Builtins.js"
import { issuesOf } from "../../config/support.js"
import { batchOf, collect, column, columnTypesOf, sourceConformance } from "../../conformance/index.js"
import { csvLines, datasetsOf, runOnce, shareConfig, tree, workspace } from "../../runtime/RunSupport.js"
import {
  container,
  DEV_KEY,
  keyStoreLine,
  lakeStore,
  putBlobs,
  azuriteForTests,
  writeInSeconds,
  writeParts
} from "../../support/azurite.js"

const azurite = azuriteForTests()

const context = { store: "lake", baseDir: "." }
const store = (extra: Record<string, unknown> = {}): AdlsStoreConfig =>
  lakeStore(azurite, { hierarchical_namespace: false, ...extra })
const dataset = (fields: Record<string, unknown>): DatasetConfig => Schema.decodeUnknownSync(AdlsDatasetConfig)(fields)

const lakeLine = (extra = "") => keyStoreLine(azurite, "lake", "contoso", { type: "adls", extra })

sourceConformance("adls (csv, hierarchical_namespace: false)", {
  connector: adlsSource,
  table: (spec) =>
    Effect.gen(function* () {
      const fileSystem = yield* container(azurite)
      yield* writeParts(azurite, fileSystem, "csv", spec)
      return {
        config: store(),
        context,
        dataset: dataset({
          file_system: fileSystem,
          directory: "table/",
          kind: "table",
          format: "csv",
          ...columnTypesOf("csv", spec.columns)
        })
      }
    }),
  files: (files) =>
    Effect.gen(function* () {
      const fileSystem = yield* container(azurite)
      const modified = yield* writeInSeconds(azurite, fileSystem, files)
      return { config: store(), context, dataset: dataset({ file_system: fileSystem, directory: "docs" }), modified }
    })
})

describe("adls source", () => {
  it.effect("checks the store's settings before anything opens: endpoints, credentials, the namespace", () =>
    Effect.gen(function* () {
      const config = (store: string) =>
        [
          "version: 1",
          "accounts: { contoso: {} }",
          "stores:",
          `  lake: { type: adls, account: contoso, ${store} }`,
          ""
        ].join("\n")
      // An emulator's endpoint says nothing of its DFS endpoint.
      expect(
        yield* issuesOf(config(`account_url: "http://127.0.0.1:10000/devstoreaccount1", sas_token: "sv=1&sig=x"`), {
          builtins
        })
      ).toEqual([
        "4:9 stores.lake.dfs_url: give dfs_url: the DFS endpoint is found only from an ACCOUNT.blob… or ACCOUNT.dfs… account_url (or set hierarchical_namespace: false)"
      ])
      // The blob store's rules hold, at their keys.
      expect(
        yield* issuesOf(
          config(
            `account_url: "https://contosolake.dfs.core.windows.net", sas_token: "sv=1&sig=x", default_credential: true`
          ),
          { builtins }
        )
      ).toEqual([
        "4:143 stores.lake.default_credential: give exactly one way to sign in: account_key (with account_name), sas_token or default_credential"
      ])
      // The DFS endpoint given as account_url: the Blob endpoint is found from it.
      const decoded = Schema.decodeUnknownSync(StoreConfigSchema)({
        account_url: "https://contosolake.dfs.core.windows.net",
        default_credential: true
      })
      expect(decoded.hierarchical_namespace).toBe(true)
      expect(blobStoreConfig(decoded).account_url).toBe("https://contosolake.blob.core.windows.net")
      // dfs_url is an endpoint as account_url is: http(s), without a query or credentials.
      const dfsUrl = (dfs_url: string) =>
        Schema.decodeUnknownEither(StoreConfigSchema)({
          account_url: "http://127.0.0.1:1/x",
          dfs_url,
          default_credential: true
        })
      expect(dfsUrl("ftp://lake")).toMatchObject({
        left: {
          message: expect.stringContaining("expected the account's DFS endpoint, such as https://contosolake.dfs")
        }
      })
      expect(dfsUrl("https://lake.dfs.core.windows.net?sig=x")).toMatchObject({
        left: {
          message: expect.stringContaining("give the URL without a query or credentials: a SAS goes in sas_token")
        }
      })
      expect(dfsUrl("http://127.0.0.1:1/x")).toMatchObject({ right: { dfs_url: "http://127.0.0.1:1/x" } })
      expect(
        Schema.decodeUnknownEither(AdlsDatasetConfig)({ file_system: "sales", directory: "a/../b" })
      ).toMatchObject({
        left: { message: expect.stringContaining('"a/../b" is not a path: it has an empty, "." or ".." segment') }
      })
      expect(
        yield* issuesOf(
          [
            "version: 1",
            "accounts: { contoso: {} }",
            "stores:",
            '  lake: { type: adls, account: contoso, account_url: "https://x.blob.core.windows.net", default_credential: true }',
            "shares:",
            "  - name: s",
            "    account: contoso",
            "    datasets:",
            "      - { name: d, source: { store: lake, file_system: Sales, directory: a/../b } }",
            ""
          ].join("\n"),
          { builtins }
        )
      ).toEqual([
        '9:56 shares[0].datasets[0].source.file_system: expected a file system name: 3 to 63 lowercase letters, digits and single hyphens, such as sales-2026, got "Sales"'
      ])
    })
  )

  it.scopedLive("reads tables from a CSV file and from a directory of Parquet files", () =>
    Effect.gen(function* () {
      const fileSystem = yield* container(azurite)
      const columns = [
        column("id", { kind: "int64" }, false),
        column("amount", { kind: "decimal", precision: 10, scale: 2 })
      ]
      const parquet = formatNamed("parquet")
      const options = Schema.decodeUnknownSync(parquet.options)({})
      const part = (rows: ReadonlyArray<ReadonlyArray<bigint>>) =>
        Effect.map(collect(parquet.encode(columns, Stream.make(batchOf(columns, rows)), options)), (chunks) =>
          Buffer.concat(chunks)
        )
      const parts = [
        yield* part([
          [1n, 1050n],
          [2n, 20n]
        ]),
        yield* part([[3n, 99999n]])
      ]
      yield* Effect.promise(() =>
        putBlobs(azurite, fileSystem, [
          ["sales/orders/part-0.parquet", parts[0]!],
          ["sales/orders/part-1.parquet", parts[1]!],
          ["sales/orders/readme.txt", "not a part of the table"],
          ["exports/customers.csv", 'id,name,since\n1,Ada,2026-01-02\n2,"Lovelace, A.",2026-03-04\n']
        ])
      )
      const space = workspace(
        shareConfig({
          stores: [lakeLine(", hierarchical_namespace: false")],
          datasets: [
            `{ name: customers, source: { store: lake, file_system: ${fileSystem}, file: exports/customers.csv, kind: table } }`,
            `{ name: orders, source: { store: lake, file_system: ${fileSystem}, directory: sales/orders/, kind: table } }`
          ],
          mappings: [
            "customers: { store: out, path: customers/, format: csv }",
            "orders: { store: out, path: orders/, format: csv }"
          ]
        })
      )
      yield* Effect.addFinalizer(() => Effect.sync(space.remove))
      expect(datasetsOf(yield* runOnce(space))).toMatchObject([
        { status: "succeeded", rows: 2 },
        { status: "succeeded", rows: 3 }
      ])
      expect(csvLines(space.out("customers"))).toEqual(["1,Ada,2026-01-02", '2,"Lovelace, A.",2026-03-04'])
      expect(csvLines(space.out("orders")).sort()).toEqual(["1,10.50", "2,0.20", "3,999.99"])
    })
  )

  it.scopedLive("copies ADLS → local incrementally, leaving out the directories a hierarchical namespace lists", () =>
    Effect.gen(function* () {
      const fileSystem = yield* container(azurite)
      const client = azurite.service.getContainerClient(fileSystem)
      // As the Blob endpoint of an account with a hierarchical namespace lists them: directories are
      // empty entries marked hdi_isfolder; an empty file is not marked.
      const directory = (name: string) =>
        client.getBlockBlobClient(name).upload("", 0, { metadata: { hdi_isfolder: "true" } })
      yield* Effect.promise(async () => {
        await directory("docs")
        await directory("docs/sub")
        await directory("docs/empty-dir")
        await putBlobs(azurite, fileSystem, [
          ["docs/a.txt", "a1"],
          ["docs/sub/b.txt", "b1"],
          ["docs/sub/empty.txt", ""]
        ])
      })
      const space = workspace(
        shareConfig({
          stores: [lakeLine(`, dfs_url: "http://127.0.0.1:1"`)],
          datasets: [`{ name: docs, source: { store: lake, file_system: ${fileSystem}, directory: docs } }`],
          mappings: ["docs: { store: out, path: docs/ }"]
        })
      )
      yield* Effect.addFinalizer(() => Effect.sync(space.remove))
      // File times are whole seconds, and a run leaves the last second to the next one.
      yield* Effect.sleep(2_100)
      expect(datasetsOf(yield* runOnce(space))).toMatchObject([{ status: "succeeded", mode: "full", files: 3 }])
      const delivered = () => tree(space.out("docs")).filter((file) => !file.startsWith("_ferry/"))
      expect(delivered()).toEqual(["a.txt", "sub/b.txt", "sub/empty.txt"])

      yield* Effect.promise(async () => {
        await directory("docs/later")
        await putBlobs(azurite, fileSystem, [
          ["docs/sub/b.txt", "b2, changed"],
          ["docs/later/c.txt", "c1, added"]
        ])
      })
      yield* Effect.sleep(2_100)
      expect(datasetsOf(yield* runOnce(space))).toMatchObject([{ status: "succeeded", mode: "incremental", files: 2 }])
      expect(fs.readFileSync(space.out("docs", "sub", "b.txt"), "utf8")).toBe("b2, changed")
      expect(delivered()).toEqual(["a.txt", "later/c.txt", "sub/b.txt", "sub/empty.txt"])
    })
  )

  it.scopedLive("tells what is wrong, naming the store, file system and path, never the key", () =>
    Effect.gen(function* () {
      const fileSystem = yield* container(azurite)
      yield* Effect.promise(() => putBlobs(azurite, fileSystem, [["docs/a.txt", "a"]]))
      const refusal = <A>(effect: Effect.Effect<A, SourceError, Scope.Scope>) =>
        Effect.map(Effect.flip(Effect.scoped(effect)), (error) => {
          expect(error.message).not.toContain(DEV_KEY)
          expect(error.store).toBe("lake")
          return error.message
        })
      const list = (config: AdlsStoreConfig, folder: DatasetConfig) =>
        Effect.flatMap(adlsSource.open(config, context), (session) =>
          collect(session.files!.list(folder, { after: Option.none(), until: Number.MAX_SAFE_INTEGER }))
        )
      const docs = dataset({ file_system: fileSystem, directory: "docs" })
      expect(yield* refusal(list(store({ account_key: Buffer.alloc(64, 3).toString("base64") }), docs))).toBe(
        `listing file system ${fileSystem}: the account key was refused (authentication failed); check account_key`
      )
      expect(yield* refusal(list(store(), dataset({ file_system: "not-there", directory: "docs" })))).toBe(
        "listing file system not-there: file system not-there does not exist in the account"
      )
      const missing = dataset({ file_system: fileSystem, file: "docs/missing.csv", kind: "table" })
      expect(
        yield* refusal(Effect.flatMap(adlsSource.open(store(), context), (session) => session.describe(missing)))
      ).toBe(`reading path ${fileSystem}/docs/missing.csv: it does not exist`)
    })
  )
})
