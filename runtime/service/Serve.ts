/**
 * `ferry serve`: applies the config, then runs the HTTP API, the scheduler and the
 * executor until the process is told to stop. On SIGHUP, or when the file changes, the
 * config is read again and applied; a file that no longer validates is reported and
 * the service keeps the last good one. What the state location, plugins, limits, mail
 * server and port are is read at start: changing them takes a restart, which the log
 * says.
 */
import { watch } from "node:fs"
import * as path from "node:path"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { formatConfigError } from "../../config/ConfigError.js"
import type { FerryConfig } from "../../config/FerryConfig.js"
import * as Server from "../api/Server.js"
import type { ApplyReport } from "../control/Apply.js"
import { applyConfig } from "../control/Apply.js"
import { ControlStore } from "../control/ControlStore.js"
import * as Layers from "../control/Layers.js"
import * as ExecutorLive from "./ExecutorLive.js"
import { deliverInvitation } from "./Invitations.js"
import * as Metrics from "./Metrics.js"
import * as Planner from "./Planner.js"
import * as Scheduler from "./Scheduler.js"
import * as SmtpMailer from "./SmtpMailer.js"

export interface ServeOptions {
  /** The config file as the user named it. */
  readonly file: string
  /** Overrides the config's `service.port`. */
  readonly port: Option.Option<number>
  /** Remove what earlier applies of a config made and the file no longer names. */
  readonly prune: boolean
  /** Reads and checks the config file. */
  readonly load: (file: string) => Effect.Effect<FerryConfig, unknown>
}

const baseUrlOf = (config: FerryConfig, port: number) =>
  Option.getOrElse(config.service.baseUrl, () => `http://localhost:${port}`)

/** Applies the config and gets every new invitation's token to its invitee. */
const apply = (config: FerryConfig, file: string, prune: boolean, baseUrl: string) =>
  Effect.gen(function* () {
    const report: ApplyReport = yield* applyConfig(config, {
      prune,
      actor: { kind: "config", file },
      now: new Date()
    })
    const control = yield* ControlStore
    for (const { acceptToken, invitation } of report.newInvitations) {
      const share = yield* control.getShare(invitation.account, invitation.share)
      if (Option.isSome(share)) yield* deliverInvitation(invitation, share.value, acceptToken, baseUrl)
    }
    const changes = Object.entries(report)
      .filter(([kind]) => kind !== "newInvitations")
      .map(([kind, outcome]) => {
        const { created, removed, updated } = outcome as ApplyReport["accounts"]
        return { kind, created: created.length, updated: updated.length, removed: removed.length }
      })
      .filter((change) => change.created + change.updated + change.removed > 0)
    yield* changes.length === 0
      ? Effect.logInfo(`Applied ${file}: nothing changed.`)
      : Effect.logInfo(
          `Applied ${file}: ${changes.map((c) => `${c.kind} +${c.created} ~${c.updated} -${c.removed}`).join(", ")}.`
        )
  })

/** What a reload cannot change in a running service. */
const fixedAtStart = (config: FerryConfig) =>
  JSON.stringify({
    state: config.state.kind === "sqlite" ? config.state.file : Redacted.value(config.state.url),
    plugins: config.plugins.map((plugin) => plugin.resolved),
    limits: config.limits,
    smtp: Option.getOrNull(Option.map(config.smtp, (smtp) => ({ ...smtp, password: undefined }))),
    service: config.service
  })

/** SIGHUP, and changes of the file (editors often replace it, so its folder is watched). */
const reloadSignals = (file: string): Stream.Stream<string> =>
  Stream.asyncScoped<string>((emit) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        const onHangup = () => void emit.single("SIGHUP")
        process.on("SIGHUP", onHangup)
        const absolute = path.resolve(file)
        const watcher = watch(path.dirname(absolute), (_, name) => {
          if (name === path.basename(absolute)) void emit.single("a change of the file")
        })
        watcher.on("error", () => undefined)
        return () => {
          process.off("SIGHUP", onHangup)
          watcher.close()
        }
      }),
      (close) => Effect.sync(close)
    )
  ).pipe(
    // An editor's save is several events; read the file once they settle.
    Stream.debounce(Duration.millis(300))
  )

const reloads = (options: ServeOptions, started: FerryConfig, baseUrl: string) =>
  Stream.runForEach(reloadSignals(options.file), (reason) =>
    Effect.gen(function* () {
      yield* Effect.logInfo(`Reloading ${options.file} (${reason}).`)
      const loaded = yield* Effect.either(options.load(options.file))
      if (loaded._tag === "Left") {
        const error = loaded.left as { readonly _tag?: string }
        const text =
          error._tag === "ConfigError"
            ? formatConfigError(loaded.left as Parameters<typeof formatConfigError>[0])
            : String(loaded.left)
        return yield* Effect.logError(
          `${options.file} no longer validates; the service keeps its last good config.\n${text}`
        )
      }
      if (fixedAtStart(loaded.right) !== fixedAtStart(started)) {
        yield* Effect.logWarning(
          `${options.file} changes state, plugins, limits, smtp or service: those take effect at the next start.`
        )
      }
      yield* apply(loaded.right, options.file, options.prune, baseUrl).pipe(
        Effect.catchAll((error) =>
          Effect.logError(`Applying ${options.file} failed; nothing of it changed: ${(error as Error).message}`)
        )
      )
    })
  )

/** Serves until interrupted; interruption cancels running snapshots (their watermarks untouched). */
export const serve = (config: FerryConfig, options: ServeOptions) => {
  const port = Option.getOrElse(options.port, () => config.service.port)
  const baseUrl = baseUrlOf(config, port)
  // The config is applied before the executor, the scheduler and the API start.
  const applied = Layer.tap(Layer.merge(Layers.layerFor(config.state), SmtpMailer.layerFor(config.smtp)), (context) =>
    Effect.provide(apply(config, options.file, options.prune, baseUrl), context)
  )
  const running = ExecutorLive.layerFor(config).pipe(
    Layer.provideMerge(Planner.layerFor(config)),
    Layer.provideMerge(Layer.merge(applied, Metrics.layer))
  )
  const service = Layer.mergeAll(Server.layer({ port, registry: config.registry, baseUrl }), Scheduler.layer()).pipe(
    Layer.provideMerge(running)
  )
  return Effect.gen(function* () {
    yield* Effect.logInfo(`Serving ${options.file} at ${baseUrl}.`)
    yield* reloads(options, config, baseUrl)
    return yield* Effect.never
  }).pipe(Effect.provide(service))
}
