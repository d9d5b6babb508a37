/**
 * A check of five-field cron text (minute hour day-of-month month day-of-week), so
 * that a typo fails at validation rather than when the scheduler first reads it.
 * It checks each field's syntax and ranges; computing run times is the scheduler's job.
 */

interface Field {
  readonly name: string
  readonly min: number
  readonly max: number
  readonly names?: ReadonlyArray<string>
  readonly article?: string
}

const FIELDS: ReadonlyArray<Field> = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23, article: "an" },
  { name: "day of month", min: 1, max: 31 },
  {
    name: "month",
    min: 1,
    max: 12,
    names: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
  },
  // 7 is Sunday too, as in Vixie cron.
  { name: "day of week", min: 0, max: 7, names: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] }
]

const valueOf = (text: string, field: Field): number | undefined => {
  if (/^\d+$/.test(text)) {
    const n = Number(text)
    return n >= field.min && n <= field.max ? n : undefined
  }
  const index = field.names?.indexOf(text.toLowerCase()) ?? -1
  return index < 0 ? undefined : index + field.min
}

const checkPart = (part: string, field: Field): string | undefined => {
  const [range = "", step, ...extra] = part.split("/")
  if (extra.length > 0) return `"${part}" has more than one /`
  if (step !== undefined && !(/^\d+$/.test(step) && Number(step) >= 1)) {
    return `step "${step}" is not a positive number`
  }
  if (range === "*") return undefined
  const [low = "", high, ...more] = range.split("-")
  if (more.length > 0) return `"${range}" is not a range`
  const from = valueOf(low, field)
  if (from === undefined) return `"${low}" is not ${field.article ?? "a"} ${field.name} (${field.min}-${field.max})`
  if (high === undefined) return undefined
  const to = valueOf(high, field)
  if (to === undefined) return `"${high}" is not ${field.article ?? "a"} ${field.name} (${field.min}-${field.max})`
  if (to < from) return `range "${range}" runs backwards`
  return undefined
}

/** A message saying what is wrong with the expression, or undefined when it is well formed. */
export const checkCron = (expression: string): string | undefined => {
  const fields = expression.trim().split(/\s+/)
  if (fields.length !== 5) {
    return `expected 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}`
  }
  for (let i = 0; i < 5; i++) {
    const field = FIELDS[i]!
    for (const part of fields[i]!.split(",")) {
      const problem = checkPart(part, field)
      if (problem !== undefined) return `${field.name} field: ${problem}`
    }
  }
  return undefined
}
