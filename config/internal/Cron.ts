/**
 * Five-field cron text (minute hour day-of-month month day-of-week, UTC), read by one
 * library, croner, both when a config is validated and when the scheduler computes a
 * share's next run, so that the two never disagree. Croner's own messages name neither
 * the field nor what it expects, so a failure is located here, part by part, and told
 * in Ferry's words.
 */
import type { CronOptions } from "croner"
import { Cron } from "croner"

/**
 * How Ferry reads cron text: UTC, exactly five fields, and a day of month or a day of
 * week matching (either one, as in Vixie cron) when both are given.
 */
export const CRON_OPTIONS: CronOptions = { timezone: "UTC", mode: "5-part", domAndDow: false, paused: true }

interface Field {
  readonly name: string
  readonly range: string
  readonly article?: string
}

const FIELDS: ReadonlyArray<Field> = [
  { name: "minute", range: "0-59" },
  { name: "hour", range: "0-23", article: "an" },
  { name: "day of month", range: "1-31" },
  { name: "month", range: "1-12 or jan-dec" },
  // 7 is Sunday too, as in Vixie cron.
  { name: "day of week", range: "0-7 or sun-sat" }
]

/** Croner's reading of the expression, or its message. */
const parse = (expression: string): Cron | string => {
  try {
    return new Cron(expression, CRON_OPTIONS)
  } catch (error) {
    return error instanceof Error ? error.message.replace(/^CronPattern: /, "") : String(error)
  }
}

/** What is wrong with one comma-separated part of a field, in words that say what it should be. */
const describePart = (part: string, field: Field, problem: string): string => {
  if (/larger than to value/.test(problem)) return `range "${part.split("/")[0]}" runs backwards`
  const step = part.split("/")[1]
  if (step !== undefined && /stepping/.test(problem) && /numeric prefix/.test(problem)) {
    return `"${part}": a step follows * or a range, such as */${step} or 0-30/${step}`
  }
  if (step !== undefined && /stepping/.test(problem)) return `step "${step}" is not a positive number`
  return `"${part}" is not ${field.article ?? "a"} ${field.name} (${field.range})`
}

/** The field's first part croner refuses when the other fields are `*`. */
const fieldProblem = (fields: ReadonlyArray<string>, index: number): string | undefined => {
  const alone = (text: string) => fields.map((_, i) => (i === index ? text : "*")).join(" ")
  const whole = parse(alone(fields[index]!))
  if (typeof whole !== "string") return undefined
  const field = FIELDS[index]!
  for (const part of fields[index]!.split(",")) {
    const problem = parse(alone(part))
    if (typeof problem === "string") return `${field.name} field: ${describePart(part, field, problem)}`
  }
  return `${field.name} field: ${whole}`
}

/** A message saying what is wrong with the expression, or undefined when it is well formed. */
export const checkCron = (expression: string): string | undefined => {
  const fields = expression.trim().split(/\s+/)
  if (fields.length !== 5) {
    return `expected 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}`
  }
  for (let i = 0; i < fields.length; i++) {
    const problem = fieldProblem(fields, i)
    if (problem !== undefined) return problem
  }
  const cron = parse(fields.join(" "))
  if (typeof cron === "string") return cron
  if (cron.nextRun(new Date(0)) === null) return "it never matches a date (such as 30 February)"
  return undefined
}

/** The first time after `after` that a well-formed expression matches, in UTC. */
export const nextCronTime = (expression: string, after: Date): Date | undefined => {
  const cron = parse(expression)
  return typeof cron === "string" ? undefined : (cron.nextRun(after) ?? undefined)
}

/** The last time at or before `at` that a well-formed expression matches, in UTC. */
export const previousCronTime = (expression: string, at: Date): Date | undefined => {
  const cron = parse(expression)
  return typeof cron === "string" ? undefined : cron.previousRuns(1, new Date(at.getTime() + 1))[0]
}

/**
 * A share's `schedule:` as cron text: `{ every: hour, at: "00:MM" }` is `MM * * * *`,
 * `{ every: day, at: "HH:MM" }` is `MM HH * * *` (`at` defaults to `00:00`), and
 * `{ cron }` is itself, so that every schedule runs by one computation.
 */
export const cronOfSchedule = (schedule: {
  readonly every?: "hour" | "day" | undefined
  readonly at?: string | undefined
  readonly cron?: string | undefined
}): string => {
  if (schedule.cron !== undefined) return schedule.cron.trim().split(/\s+/).join(" ")
  const [hour = 0, minute = 0] = (schedule.at ?? "00:00").split(":").map(Number)
  return schedule.every === "hour" ? `${minute} * * * *` : `${minute} ${hour} * * *`
}
