/**
 * The `ferry` command line. Exit codes: 0 success, 1 a run failed, 2 a bad config or
 * bad usage, 130 interrupted.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import { formatConfigError } from "../../config/ConfigError.js"
import type { FerryConfig } from "../../config/FerryConfig.js"
import { configJsonSchema } from "../../config/JsonSchema.js"
import { loadConfig } from "../../config/LoadConfig.js"
import { buildRegistry } from "../../config/Plugins.js"
import { builtins } from "../Builtins.js"
import * as Progress from "../Progress.js"
import { runSnapshots } from "../Run.js"
import * as StateStore from "../state/StateStore.js"
import { makeControlCommands } from "./ControlCommands.js"
import { describeRegistry } from "./PluginDocs.js"

export const EXIT_OK = 0
export const EXIT_RUN_FAILED = 1
export const EXIT_USAGE = 2
export const EXIT_INTERRUPTED = 130

/** Set by the command that ran; read when the program ends. */
let exitCode = EXIT_OK

const printError = (text: string) => Effect.sync(() => process.stderr.write(`${text}\n`))
const print = (text: string) => Effect.sync(() => process.stdout.write(`${text}\n`))

const load = (file: string) =>
  loadConfig(file, { builtins }).pipe(
    Effect.tapError((error) => printError(formatConfigError(error))),
    Effect.tapError(() => Effect.sync(() => (exitCode = EXIT_USAGE)))
  )

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`

const summary = (config: FerryConfig): string => {
  const datasets = config.shares.reduce((total, share) => total + share.datasets.length, 0)
  return [
    plural(config.stores.size, "store"),
    `${plural(config.shares.length, "share")} with ${plural(datasets, "dataset")}`,
    plural(config.subscriptions.length, "subscription")
  ].join(", ")
}

const configFile = Args.text({ name: "FILE" }).pipe(Args.withDescription("A share config (YAML)."))

const validate = Command.make("validate", { file: configFile }, ({ file }) =>
  Effect.flatMap(load(file), (config) => print(`${file} is valid: ${summary(config)}.`))
).pipe(Command.withDescription("Checks a share config and reports every problem, with file:line:column."))

const run = Command.make(
  "run",
  {
    file: configFile,
    share: Options.text("share").pipe(
      Options.optional,
      Options.withDescription("Only the subscriptions to this share (account/name or name).")
    ),
    subscription: Options.text("subscription").pipe(
      Options.optional,
      Options.withDescription("Only this subscription.")
    ),
    full: Options.boolean("full").pipe(
      Options.withDescription("Full snapshots, even where an incremental one could continue from the last run.")
    )
  },
  ({ file, full, share, subscription }) =>
    Effect.gen(function* () {
      const config = yield* load(file)
      const results = yield* runSnapshots(config, {
        full,
        ...Option.match(share, { onNone: () => ({}), onSome: (value) => ({ share: value }) }),
        ...Option.match(subscription, { onNone: () => ({}), onSome: (value) => ({ subscription: value }) })
      }).pipe(
        Effect.tapErrorTag("RunSelectionError", (error) =>
          Effect.zipRight(
            printError(`ferry run: ${error.message}`),
            Effect.sync(() => (exitCode = EXIT_USAGE))
          )
        ),
        Effect.provide(Layer.merge(StateStore.layerFor(config.state), Progress.layer)),
        Effect.tapErrorTag("StateError", (error) =>
          Effect.zipRight(
            printError(`state store: ${error.message}`),
            Effect.sync(() => (exitCode = EXIT_RUN_FAILED))
          )
        )
      )
      for (const result of results) {
        yield* print(`run ${result.runId} of ${result.subscription}: ${result.status}`)
      }
      exitCode = results.every((result) => result.status === "succeeded") ? EXIT_OK : EXIT_RUN_FAILED
    })
).pipe(Command.withDescription("Runs the snapshots of a share config once, then exits."))

const pluginsOf = (file: Option.Option<string>) =>
  Option.match(file, {
    onNone: () => Effect.succeed(buildRegistry(builtins, []).registry),
    onSome: (path) => Effect.map(load(path), (config) => config.registry)
  })

const plugins = Command.make("plugins", { file: configFile.pipe(Args.optional) }, ({ file }) =>
  Effect.flatMap(pluginsOf(file), (registry) => print(describeRegistry(registry)))
).pipe(Command.withDescription("Lists every store type with its settings; with FILE, the plugins it names too."))

const schema = Command.make("schema", { file: configFile.pipe(Args.optional) }, ({ file }) =>
  Effect.flatMap(pluginsOf(file), (registry) => print(JSON.stringify(configJsonSchema(registry), null, 2)))
).pipe(Command.withDescription("Prints the JSON Schema of share configs, for editor completion."))

const control = makeControlCommands({
  load,
  print,
  printError,
  exit: (code) => Effect.sync(() => (exitCode = code)),
  codes: { failed: EXIT_RUN_FAILED, usage: EXIT_USAGE }
})

/** How an interrupted program exits: a stopped service has done its job. */
let interruptedExitCode = EXIT_INTERRUPTED

const serve = Command.make(
  "serve",
  {
    file: configFile,
    port: Options.integer("port").pipe(
      Options.optional,
      Options.withDescription("The port of the HTTP API; the config's service.port (8080) otherwise.")
    ),
    prune: Options.boolean("prune").pipe(
      Options.withDescription("Remove what earlier applies of the file made and it no longer names.")
    )
  },
  ({ file, port, prune }) =>
    Effect.gen(function* () {
      const config = yield* load(file)
      interruptedExitCode = EXIT_OK
      const reload = (path: string) => loadConfig(path, { builtins })
      // The service (HTTP API, scheduler, mailer) is loaded by `ferry serve` alone: other commands do not pay for it.
      const { serve: serveConfig } = yield* Effect.promise(() => import("../service/Serve.js"))
      const serving = serveConfig(config, { file, port, prune, load: reload })
      // A service logs what it does; `--log-level` still chooses.
      return yield* process.argv.some((arg) => arg.startsWith("--log-level"))
        ? serving
        : Logger.withMinimumLogLevel(serving, LogLevel.Info)
    })
).pipe(
  Command.withDescription(
    "Applies a share config, then serves the REST API, the scheduler and the runs until SIGTERM; SIGHUP or a change of the file applies it again."
  )
)

const ferry = Command.make("ferry").pipe(
  Command.withDescription("Ferry: share datasets from your own stores with other organisations."),
  Command.withSubcommands([validate, run, serve, plugins, schema, control.apply, control.token])
)

/**
 * Log lines go to stderr as logfmt, so that stdout carries only what a command prints.
 * Warnings and errors by default; the built-in `--log-level` option asks for more.
 */
const logging = Layer.merge(
  Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger)),
  Logger.minimumLogLevel(LogLevel.Warning)
)

const cli = Command.run(ferry, { name: "ferry", version: "0.1.0" })

const program = Effect.suspend(() => cli(process.argv)).pipe(
  Effect.catchAll((error) => {
    if (ValidationError.isValidationError(error)) {
      exitCode = EXIT_USAGE
      return Effect.void
    }
    if (exitCode === EXIT_OK) exitCode = EXIT_RUN_FAILED
    const tagged = error as { readonly _tag?: string; readonly message?: string }
    // Config errors were printed where they arose; anything else is printed here.
    return tagged._tag === "ConfigError" || tagged._tag === "RunSelectionError" || tagged._tag === "StateError"
      ? Effect.void
      : printError(`ferry: ${tagged.message ?? String(error)}`)
  }),
  Effect.catchAllDefect((defect) =>
    Effect.sync(() => {
      exitCode = EXIT_RUN_FAILED
      process.stderr.write(
        `ferry: internal error: ${defect instanceof Error ? (defect.stack ?? defect.message) : String(defect)}\n`
      )
    })
  ),
  // What the command line needs of the platform; not NodeContext, whose process and
  // worker services would be loaded at every start for `ferry serve` alone.
  Effect.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer, logging))
)

NodeRuntime.runMain(program, {
  disableErrorReporting: true,
  disablePrettyLogger: true,
  teardown: (exit, onExit) =>
    onExit(
      Exit.isSuccess(exit) ? exitCode : Cause.isInterruptedOnly(exit.cause) ? interruptedExitCode : EXIT_RUN_FAILED
    )
})
