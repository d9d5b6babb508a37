/**
 * The scheduler of `ferry serve`: every share with a schedule ticks at the times its
 * schedule names (`every: hour | day` with `at`, written as cron, or `cron`, read by
 * croner exactly as validation reads it), and on each tick an incremental run of each of
 * its active subscriptions with `trigger: schedule` is queued with the executor. A
 * subscription whose run is still queued or going is skipped, with a log line.
 *
 * The last tick handled is kept per share in the control store: ticks missed while the
 * service was down run once when it starts, not once per missed tick. A share seen for
 * the first time starts from now: its first tick is its next one.
 *
 * Time is Effect's `Clock`, so tests move it with `TestClock`. The scheduler lag metric
 * is the time from a tick's due time to its runs queued.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as ConfigSchema from "../../config/ConfigSchema.js"
import { cronOfSchedule, nextCronTime, previousCronTime } from "../../config/internal/Cron.js"
import type { Actor, Share } from "../control/ControlStore.js"
import { ControlStore, subscriptionKey } from "../control/ControlStore.js"
import { describeFailure } from "../Run.js"
import { Executor } from "./Executor.js"
import { Metrics } from "./Metrics.js"

export interface SchedulerOptions {
  /**
   * The longest the scheduler sleeps before it reads the shares again, so that a
   * schedule set through the API is seen; one minute by default.
   */
  readonly refresh?: Duration.DurationInput
}

const SERVICE: Actor = { kind: "service" }

const decodeSchedule = Schema.decodeUnknownEither(ConfigSchema.Schedule)

/** The share's schedule as cron text, or why it has none that can run. */
export const scheduleCron = (share: Pick<Share, "schedule">): Option.Option<Either.Either<string, string>> =>
  Option.map(Option.fromNullable(share.schedule), (spec) =>
    Either.mapBoth(decodeSchedule(spec), {
      onLeft: () => "its schedule is not a valid schedule",
      onRight: cronOfSchedule
    })
  )

/** Every share of every account, page by page. */
const allShares = (control: ControlStore["Type"]) =>
  Effect.gen(function* () {
    const shares: Array<Share> = []
    let accountsAfter: string | undefined
    do {
      const accounts = yield* control.listAccounts({
        limit: 500,
        ...(accountsAfter === undefined ? {} : { after: accountsAfter })
      })
      for (const account of accounts.items) {
        let after: string | undefined
        do {
          const page = yield* control.listShares(account.name, {
            limit: 500,
            ...(after === undefined ? {} : { after })
          })
          shares.push(...page.items)
          after = page.next
        } while (after !== undefined)
      }
      accountsAfter = accounts.next
    } while (accountsAfter !== undefined)
    return shares
  })

export const make = (options: SchedulerOptions = {}) =>
  Effect.gen(function* () {
    const control = yield* ControlStore
    const executor = yield* Executor
    const metrics = yield* Metrics
    const refresh = Duration.toMillis(options.refresh ?? "1 minute")

    const name = (share: Share) => `${share.account}/${share.name}`

    /** Queues the share's scheduled subscriptions for the tick due at `due`. */
    const queue = (share: Share, due: Date) =>
      Effect.gen(function* () {
        const subscriptions = yield* control.scheduledSubscriptions(share.account, share.name)
        for (const subscription of subscriptions) {
          const key = subscriptionKey(subscription)
          yield* executor
            .synchronize(SERVICE, {
              account: subscription.account,
              subscription: subscription.name,
              mode: "incremental"
            })
            .pipe(
              Effect.tap((request) =>
                Effect.logInfo(`Queued run ${request.runId} of ${key} for the tick of ${name(share)}`)
              ),
              Effect.catchTag("ConflictError", () =>
                Effect.logInfo(`Skipped ${key} at the tick of ${name(share)}: a run of it is queued or going`)
              ),
              Effect.catchAll((error) =>
                Effect.logWarning(
                  `Could not queue a run of ${key} at the tick of ${name(share)}: ${describeFailure(error)}`
                )
              )
            )
        }
        const now = yield* Clock.currentTimeMillis
        yield* metrics.schedulerLag((now - due.getTime()) / 1000)
      }).pipe(Effect.annotateLogs({ share: name(share), tick: due.toISOString() }))

    /** Handles the share's due tick, if any; the time of its next tick. */
    const visit = (share: Share, now: Date): Effect.Effect<Option.Option<number>> =>
      Effect.gen(function* () {
        const cron = scheduleCron(share)
        if (Option.isNone(cron)) return Option.none()
        if (Either.isLeft(cron.value)) {
          yield* Effect.logWarning(`Share ${name(share)} is not scheduled: ${cron.value.left}`)
          return Option.none()
        }
        const expression = cron.value.right
        const last = yield* control.lastTick(share.account, share.name)
        if (Option.isNone(last)) {
          // First seen: its ticks start from now.
          yield* control.recordTick(share.account, share.name, now)
        } else {
          const due = nextCronTime(expression, last.value)
          if (due !== undefined && due.getTime() <= now.getTime()) {
            // However many ticks were missed, the latest stands for them all.
            const latest = previousCronTime(expression, now) ?? due
            yield* queue(share, latest)
            yield* control.recordTick(share.account, share.name, latest)
          }
        }
        return Option.fromNullable(nextCronTime(expression, now)).pipe(Option.map((next) => next.getTime()))
      }).pipe(
        Effect.catchAll((error) =>
          Effect.as(
            Effect.logError(`The schedule of share ${name(share)} could not be handled: ${describeFailure(error)}`),
            Option.none()
          )
        )
      )

    /** One pass over every share; how long to sleep before the next. */
    const pass = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const shares = yield* allShares(control)
      let wake = now + refresh
      for (const share of shares) {
        const next = yield* visit(share, new Date(now))
        if (Option.isSome(next)) wake = Math.min(wake, next.value)
      }
      return Math.max(0, wake - (yield* Clock.currentTimeMillis))
    }).pipe(
      Effect.catchAll((error) =>
        Effect.as(Effect.logError(`Could not read the shares to schedule: ${describeFailure(error)}`), refresh)
      )
    )

    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(pass, (millis) => Effect.sleep(Duration.millis(millis)))))
  })

/** The scheduler, going for as long as the layer's scope. */
export const layer = (options: SchedulerOptions = {}): Layer.Layer<never, never, ControlStore | Executor | Metrics> =>
  Layer.scopedDiscard(make(options))
