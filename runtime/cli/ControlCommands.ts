/**
 * The commands that write the control store directly, as the operator, in the state
 * database a config's `state:` names: `ferry apply FILE [--prune]` and
 * `ferry token create FILE (--account A | --operator) [--description D]`.
 *
 * Secrets they make (API tokens, invitations' accept tokens) are printed once and
 * never stored: only their SHA-256 is.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { ConfigError } from "../../config/ConfigError.js"
import type { FerryConfig } from "../../config/FerryConfig.js"
import type { ApplyReport, Kind } from "../control/Apply.js"
import { applyConfig, KINDS } from "../control/Apply.js"
import type { ControlError } from "../control/ControlStore.js"
import { ControlStore, NotFoundError } from "../control/ControlStore.js"
import * as Layers from "../control/Layers.js"
import { hashSecret, makeSecret, TOKEN_PREFIX } from "../control/Tokens.js"

/** What the commands share with the rest of the command line. */
export interface CommandLine {
  readonly load: (file: string) => Effect.Effect<FerryConfig, ConfigError>
  readonly print: (text: string) => Effect.Effect<void>
  readonly printError: (text: string) => Effect.Effect<void>
  readonly exit: (code: number) => Effect.Effect<void>
  readonly codes: { readonly failed: number; readonly usage: number }
}

const SINGULAR: Record<Kind, string> = {
  accounts: "account",
  stores: "store",
  shares: "share",
  datasets: "dataset",
  invitations: "invitation",
  subscriptions: "subscription",
  mappings: "mapping"
}

/** One line per change, in the order they were made, then what stayed as it was. */
export const describeReport = (report: ApplyReport): ReadonlyArray<string> => {
  const lines = KINDS.flatMap((kind) =>
    (["created", "updated", "removed"] as const).flatMap((outcome) =>
      report[kind][outcome].map((name) => `${outcome} ${SINGULAR[kind]} ${name}`)
    )
  )
  const unchanged = KINDS.reduce((total, kind) => total + report[kind].unchanged.length, 0)
  const tail =
    lines.length === 0
      ? [`Nothing to change: the state holds what the file says (${unchanged} resources).`]
      : unchanged > 0
        ? [`${unchanged} unchanged.`]
        : []
  const invitations = report.newInvitations.flatMap(({ acceptToken, invitation }) => [
    `Invitation ${invitation.id} of ${invitation.to} to share ${invitation.account}/${invitation.share} was not mailed; its accept token, shown only now:`,
    `  ${acceptToken}`
  ])
  return [...lines, ...tail, ...invitations]
}

export const makeControlCommands = (cli: CommandLine) => {
  const configFile = Args.text({ name: "FILE" }).pipe(
    Args.withDescription("A share config (YAML): its `state:` names the database.")
  )

  /**
   * A control-store failure, printed and turned into the exit code: a conflict or a
   * missing resource is the user's to fix (2), a database error is not (1).
   */
  const reportFailure =
    (doing: string) =>
    <A, R>(effect: Effect.Effect<A, ControlError, R>): Effect.Effect<A | void, never, R> => {
      const report = (error: ControlError) =>
        Effect.zipRight(
          cli.printError(`${doing}: ${error.message}`),
          cli.exit(error._tag === "StateError" ? cli.codes.failed : cli.codes.usage)
        )
      return Effect.catchTags(effect, { NotFoundError: report, ConflictError: report, StateError: report })
    }

  const apply = Command.make(
    "apply",
    {
      file: configFile,
      prune: Options.boolean("prune").pipe(
        Options.withDescription("Also remove what an earlier apply created and the file no longer names.")
      )
    },
    ({ file, prune }) =>
      Effect.gen(function* () {
        const config = yield* cli.load(file)
        yield* applyConfig(config, { prune, actor: { kind: "config", file: config.file }, now: new Date() }).pipe(
          Effect.flatMap((report) => Effect.forEach(describeReport(report), cli.print, { discard: true })),
          Effect.provide(Layers.layerFor(config.state)),
          reportFailure("ferry apply")
        )
      })
  ).pipe(
    Command.withDescription(
      "Makes the service's state hold what a share config says: accounts, stores, shares, datasets, invitations, subscriptions."
    )
  )

  const create = Command.make(
    "create",
    {
      file: configFile,
      account: Options.text("account").pipe(
        Options.optional,
        Options.withDescription("The account the token acts for.")
      ),
      operator: Options.boolean("operator").pipe(
        Options.withDescription("An operator token: manages accounts and tokens, reads every audit entry.")
      ),
      description: Options.text("description").pipe(
        Options.optional,
        Options.withDescription("What the token is for, shown when tokens are listed.")
      )
    },
    ({ account, description, file, operator }) =>
      Effect.gen(function* () {
        if (Option.isSome(account) === operator) {
          yield* cli.printError("ferry token create: give either --account ACCOUNT or --operator")
          return yield* cli.exit(cli.codes.usage)
        }
        const config = yield* cli.load(file)
        const secret = makeSecret(TOKEN_PREFIX)
        yield* Effect.flatMap(ControlStore, (control) =>
          control.createToken(
            { kind: "operator" },
            {
              secretHash: hashSecret(secret),
              ...Option.match(account, { onNone: () => ({}), onSome: (name) => ({ account: name }) }),
              ...Option.match(description, { onNone: () => ({}), onSome: (text) => ({ description: text }) })
            }
          )
        ).pipe(
          Effect.catchTag("NotFoundError", (error) =>
            Effect.fail(
              Option.isSome(account) && config.accounts.has(account.value)
                ? new NotFoundError({
                    resource: error.resource,
                    message: `${error.message} in the state database yet: ${file} names it, so apply the file first (ferry apply ${file}, or ferry serve ${file}, which applies it)`
                  })
                : error
            )
          ),
          // The secret alone on stdout, for scripts; what it is on stderr.
          Effect.flatMap((token) =>
            Effect.zipRight(
              cli.printError(
                `Created ${token.account === undefined ? "an operator token" : `a token for account ${token.account}`} (id ${token.id}). Its secret, shown only now:`
              ),
              cli.print(secret)
            )
          ),
          Effect.provide(Layers.layerFor(config.state)),
          reportFailure("ferry token create")
        )
      })
  ).pipe(Command.withDescription("Creates an API token and prints its secret once."))

  const token = Command.make("token").pipe(
    Command.withDescription("API tokens of the service."),
    Command.withSubcommands([create])
  )

  return { apply, token } as const
}
