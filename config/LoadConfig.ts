/**
 * Loading a share config: YAML with positions, `${env:…}` interpolation, the config's
 * own keys, plugins, then connector settings and references. Nothing is opened: a
 * config that loads is one whose every part has been checked, and a config that does
 * not load fails once, with every problem found.
 */
import { readFile } from "node:fs/promises"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { Plugin } from "../core/Plugin.js"
import { ConfigError, sortIssues } from "./ConfigError.js"
import type { FerryConfig, LoadedPlugin } from "./FerryConfig.js"
import { buildRegistry, loadPlugins } from "./Plugins.js"
import type { Decoded } from "./internal/Decode.js"
import { decodeDocument } from "./internal/Decode.js"
import type { Environment } from "./internal/Interpolate.js"
import { interpolate, Secrets } from "./internal/Interpolate.js"
import { Reporter } from "./internal/Reporter.js"
import { Resolver, stateLocation } from "./internal/Resolve.js"
import { parseYaml } from "./internal/Yaml.js"

export interface LoadOptions {
  /** The connectors that ship with Ferry; plugins listed in the file are added after them. */
  readonly builtins: ReadonlyArray<Plugin>
  /** Where `${env:NAME}` is looked up; `process.env` by default. */
  readonly env?: Environment
}

/** The config's own keys, decoded: what is known before any plugin is imported. */
export interface ParsedConfig {
  readonly file: string
  readonly baseDir: string
  readonly reporter: Reporter
  readonly decoded: Decoded
}

const fail = (reporter: Reporter): ConfigError =>
  new ConfigError({ file: reporter.file, issues: sortIssues(reporter.issues) })

/**
 * Parses, interpolates and decodes the config's own keys. Fails at once on YAML syntax
 * errors; other problems are kept in the reporter so that later phases add theirs.
 */
export const parseConfigText = (
  file: string,
  text: string,
  env: Environment,
  /** How messages name the file; the path as the user gave it reads best. */
  displayName: string = file
): Either.Either<ParsedConfig, ConfigError> => {
  const { errors, file: yaml } = parseYaml(text)
  const { interpolated, problems } = interpolate(yaml, env)
  const reporter = new Reporter(displayName, yaml, new Secrets(interpolated))
  if (errors.length > 0) {
    for (const error of errors) reporter.atPosition(error.position, [], error.message)
    return Either.left(fail(reporter))
  }
  for (const problem of problems) reporter.atPosition(problem.position, problem.path, problem.message)
  const decoded = decodeDocument(reporter, yaml.doc.toJS({ maxAliasCount: 1000 }))
  return Option.match(decoded, {
    onNone: () => Either.left(fail(reporter)),
    onSome: (decoded) => Either.right({ file, baseDir: path.dirname(file), reporter, decoded })
  })
}

/** Loads plugins, checks connector settings and references, and builds the config. */
export const resolveConfig = (
  parsed: ParsedConfig,
  builtins: ReadonlyArray<Plugin>
): Effect.Effect<FerryConfig, ConfigError> =>
  Effect.gen(function* () {
    const { baseDir, decoded, reporter } = parsed
    const results = yield* loadPlugins(decoded.top.plugins, baseDir)
    const loaded: Array<{ index: number; plugin: LoadedPlugin }> = []
    results.forEach((result, index) => {
      if (Either.isLeft(result)) reporter.at(["plugins", index], `plugin ${result.left.plugin}: ${result.left.message}`)
      else loaded.push({ index, plugin: result.right })
    })
    const { registry, rejected } = buildRegistry(builtins, loaded)
    for (const { error, index } of rejected) {
      reporter.at(index === undefined ? [] : ["plugins", index], `plugin ${error.plugin}: ${error.message}`)
    }
    const resolver = new Resolver(reporter, decoded, registry, loaded.length < results.length || rejected.length > 0)
    const stores = resolver.resolveStores()
    const shares = resolver.resolveShares()
    const subscriptions = resolver.resolveSubscriptions()
    if (reporter.issues.length > 0) return yield* fail(reporter)
    const { top } = decoded
    return {
      file: parsed.file,
      baseDir,
      version: top.version,
      state: stateLocation(top.state, baseDir),
      plugins: loaded.map(({ plugin }) => plugin),
      limits: top.limits,
      smtp: Option.map(Option.fromNullable(top.smtp), (smtp) => ({
        host: smtp.host,
        port: smtp.port,
        from: smtp.from,
        secure: smtp.secure,
        user: Option.fromNullable(smtp.user),
        password: Option.fromNullable(smtp.password)
      })),
      service: { port: top.service.port, baseUrl: Option.fromNullable(top.service.base_url) },
      registry,
      accounts: new Map(
        [...decoded.accounts].map(([name, account]) => [
          name,
          { name, email: Option.fromNullable(account.email), description: Option.fromNullable(account.description) }
        ])
      ),
      stores,
      shares,
      subscriptions
    }
  })

const readText = (file: string, displayName: string): Effect.Effect<string, ConfigError> =>
  Effect.tryPromise({
    try: () => readFile(file, "utf8"),
    catch: (error) =>
      new ConfigError({
        file: displayName,
        issues: [
          {
            file: displayName,
            line: 1,
            column: 1,
            path: "",
            message: `cannot read the file: ${(error as { code?: string }).code === "ENOENT" ? "it does not exist" : String(error)}`
          }
        ]
      })
  })

/** Reads, validates and decodes a share config file. */
export const loadConfig = (file: string, options: LoadOptions): Effect.Effect<FerryConfig, ConfigError> =>
  Effect.gen(function* () {
    const absolute = path.resolve(file)
    const text = yield* readText(absolute, file)
    const parsed = yield* parseConfigText(absolute, text, options.env ?? process.env, file)
    return yield* resolveConfig(parsed, options.builtins)
  })
