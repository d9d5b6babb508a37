/** Helpers for config tests: write a config into a fresh folder, load it, read its issues compactly. */
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { Plugin } from "../../core/Plugin.js"
import type { ConfigError } from "../../config/ConfigError.js"
import type { FerryConfig } from "../../config/FerryConfig.js"
import { loadConfig } from "../../config/LoadConfig.js"
import memoryPlugin from "../fixtures/plugins/memory-plugin.js"

export const FIXTURE_PLUGINS = fileURLToPath(new URL("../fixtures/plugins", import.meta.url))

/** A fresh folder holding `ferry.yaml` with the text; returns the file's path. */
export const writeConfig = (text: string, folder = mkdtempSync(path.join(tmpdir(), "ferry-config-"))): string => {
  const file = path.join(folder, "ferry.yaml")
  writeFileSync(file, text)
  return file
}

export interface LoadTextOptions {
  readonly builtins?: ReadonlyArray<Plugin>
  readonly env?: Readonly<Record<string, string | undefined>>
  readonly folder?: string
}

export const loadText = (
  text: string,
  options: LoadTextOptions = {}
): Effect.Effect<Either.Either<FerryConfig, ConfigError>> =>
  Effect.either(
    loadConfig(writeConfig(text, options.folder), {
      builtins: options.builtins ?? [memoryPlugin],
      env: options.env ?? {}
    })
  )

/** The issues of a config that must fail, as `line:column path: message`. */
export const issuesOf = (text: string, options: LoadTextOptions = {}): Effect.Effect<ReadonlyArray<string>> =>
  Effect.map(loadText(text, options), (result) => {
    if (Either.isRight(result)) throw new Error("expected the config to fail, but it loaded")
    return result.left.issues.map(
      (issue) => `${issue.line}:${issue.column} ${issue.path === "" ? "" : `${issue.path}: `}${issue.message}`
    )
  })

/** The config, which must load. */
export const loaded = (text: string, options: LoadTextOptions = {}): Effect.Effect<FerryConfig> =>
  Effect.map(loadText(text, options), (result) => {
    if (Either.isLeft(result))
      throw new Error(
        `expected the config to load:\n${result.left.issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`).join("\n")}`
      )
    return result.right
  })

/** Ten lines: two accounts, a provider store with a table, a consumer store. */
export const PRELUDE = `version: 1
accounts:
  contoso: {}
  fabrikam: {}
stores:
  provider-mem:
    type: memory_table
    account: contoso
    tables: { customers: { columns: { id: int64, name: utf8, updated_at: "timestamp(us, UTC)" } } }
  consumer-mem: { type: memory_table, account: fabrikam }
`

/** A valid config of 23 lines: PRELUDE, one share (lines 11-16), one subscription (17-23). */
export const BASE = `${PRELUDE}shares:
  - name: retail
    account: contoso
    datasets:
      - name: customers
        source: { store: provider-mem, table: customers }
subscriptions:
  - name: feed
    account: fabrikam
    share: contoso/retail
    accept_terms: true
    mappings:
      customers: { store: consumer-mem, table: out }
`

/** BASE with each `from` replaced by `to`; a `from` that is not there fails the test. */
export const variant = (...replacements: ReadonlyArray<readonly [string, string]>): string =>
  replacements.reduce((text, [from, to]) => {
    if (!text.includes(from)) throw new Error(`not in the config: ${from}`)
    return text.replace(from, () => to)
  }, BASE)
