/**
 * Runs one command in a child process and measures it: wall time (taken here, so it
 * includes the process's start-up), CPU time and peak RSS. Peak RSS comes from GNU
 * time (`/usr/bin/time`), which reads it from the kernel when the process ends; where
 * GNU time is not installed, from polling `VmHWM` in /proc for the child and its
 * descendants every 20 ms, which can miss a peak shorter than that.
 */
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Schema from "effect/Schema"

export class BenchmarkError extends Schema.TaggedError<BenchmarkError>()("BenchmarkError", {
  message: Schema.String
}) {}

export interface Measurement {
  readonly wallSeconds: number
  /** User plus system CPU seconds of the process and its children. */
  readonly cpuSeconds: number
  readonly peakRssBytes: number
  /** How peak RSS and CPU were read. */
  readonly method: "gnu-time" | "proc-poll"
}

export interface Command {
  readonly file: string
  readonly args: ReadonlyArray<string>
  readonly cwd: string
  /** Where the command's stdout and stderr go. */
  readonly log: string
  readonly env?: NodeJS.ProcessEnv
}

const GNU_TIME = "/usr/bin/time"
const STATS_FORMAT = "%e %U %S %M"

let gnuTime: boolean | undefined

/** Whether GNU time is installed (BusyBox and BSD `time` take other options). */
export const hasGnuTime = (scratch: string): boolean => {
  if (gnuTime === undefined) {
    const probe = path.join(scratch, "time-probe.txt")
    const result = spawnSync(GNU_TIME, ["-f", STATS_FORMAT, "-o", probe, "true"], { stdio: "ignore" })
    gnuTime = result.status === 0 && fs.existsSync(probe) && parseStats(fs.readFileSync(probe, "utf8")) !== undefined
    fs.rmSync(probe, { force: true })
  }
  return gnuTime
}

const parseStats = (text: string): { cpuSeconds: number; peakRssBytes: number } | undefined => {
  // The last line holds the figures; "Command exited with non-zero status" may come before.
  const fields = text.trim().split("\n").at(-1)?.trim().split(/\s+/).map(Number)
  if (fields === undefined || fields.length !== 4 || fields.some((field) => !Number.isFinite(field))) return undefined
  const [, user, system, maxKilobytes] = fields as [number, number, number, number]
  return { cpuSeconds: user + system, peakRssBytes: maxKilobytes * 1024 }
}

const run = (file: string, args: ReadonlyArray<string>, command: Command, onSpawn: (pid: number) => void = () => {}) =>
  new Promise<{ code: number | null; started: number }>((resolve, reject) => {
    const log = fs.openSync(command.log, "a")
    const started = performance.now()
    const child = spawn(file, args, {
      cwd: command.cwd,
      env: command.env ?? process.env,
      stdio: ["ignore", log, log]
    })
    child.on("error", reject)
    child.on("spawn", () => {
      if (child.pid !== undefined) onSpawn(child.pid)
    })
    child.on("close", (code) => {
      fs.closeSync(log)
      resolve({ code, started })
    })
  })

const failure = (command: Command, code: number | null): BenchmarkError => {
  const tail = fs.existsSync(command.log) ? fs.readFileSync(command.log, "utf8").trim().split("\n").slice(-15) : []
  return new BenchmarkError({
    message: `${path.basename(command.file)} ${command.args.join(" ")} exited with ${code}:\n  ${tail.join("\n  ")}`
  })
}

const withGnuTime = async (command: Command): Promise<Measurement> => {
  const stats = `${command.log}.time`
  const { code, started } = await run(
    GNU_TIME,
    ["-f", STATS_FORMAT, "-o", stats, command.file, ...command.args],
    command
  )
  const wallSeconds = (performance.now() - started) / 1000
  if (code !== 0) throw failure(command, code)
  const parsed = parseStats(fs.readFileSync(stats, "utf8"))
  if (parsed === undefined) throw new BenchmarkError({ message: `unreadable GNU time output in ${stats}` })
  return { wallSeconds, ...parsed, method: "gnu-time" }
}

const CLOCK_TICKS = 100

/** The process and its descendants, from /proc/PID/task/TID/children. */
const processTree = (pid: number): Array<number> => {
  const tree = [pid]
  for (let i = 0; i < tree.length; i++) {
    try {
      for (const task of fs.readdirSync(`/proc/${tree[i]}/task`)) {
        const children = fs.readFileSync(`/proc/${tree[i]}/task/${task}/children`, "utf8").trim()
        if (children !== "") tree.push(...children.split(/\s+/).map(Number))
      }
    } catch {
      // The process ended between two reads.
    }
  }
  return tree
}

const readProc = (pid: number): { hwmBytes: number; cpuSeconds: number } | undefined => {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(status)
    // Fields after the command name (which may hold spaces): utime is the 12th, then stime, cutime, cstime.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat
      .slice(stat.lastIndexOf(")") + 2)
      .split(" ")
      .map(Number)
    const ticks = (fields[11] ?? 0) + (fields[12] ?? 0) + (fields[13] ?? 0) + (fields[14] ?? 0)
    return { hwmBytes: hwm === null ? 0 : Number(hwm[1]) * 1024, cpuSeconds: ticks / CLOCK_TICKS }
  } catch {
    return undefined
  }
}

const withProcPolling = async (command: Command): Promise<Measurement> => {
  let peakRssBytes = 0
  let cpuSeconds = 0
  let timer: NodeJS.Timeout | undefined
  const watch = (pid: number) => {
    const poll = () => {
      const tree = processTree(pid)
      for (const member of tree) {
        const read = readProc(member)
        if (read === undefined) continue
        peakRssBytes = Math.max(peakRssBytes, read.hwmBytes)
        if (member === pid) cpuSeconds = read.cpuSeconds
      }
    }
    poll()
    timer = setInterval(poll, 20)
  }
  try {
    const { code, started } = await run(command.file, command.args, command, watch)
    const wallSeconds = (performance.now() - started) / 1000
    if (code !== 0) throw failure(command, code)
    return { wallSeconds, cpuSeconds, peakRssBytes, method: "proc-poll" }
  } finally {
    clearInterval(timer)
  }
}

/** Runs the command to its end; a non-zero exit is a BenchmarkError with the end of its output. */
export const measure = (command: Command, scratch: string): Promise<Measurement> =>
  hasGnuTime(scratch) ? withGnuTime(command) : withProcPolling(command)

/**
 * Each side's turn in each of `repeat` rounds, the sides in reverse order every other
 * round (so that neither always runs first, on a warmer or a busier machine), each turn
 * with a run folder of its own under `runsDir`.
 */
export function* sideTurns<Side extends { readonly name: string }>(
  job: string,
  sides: ReadonlyArray<Side>,
  repeat: number,
  runsDir: string
): Generator<{ readonly index: number; readonly side: Side; readonly run: string }> {
  for (let round = 0; round < repeat; round++) {
    const order = sides.map((_, index) => index)
    if (round % 2 === 1) order.reverse()
    for (const index of order) {
      const side = sides[index]!
      const run = fs.mkdtempSync(path.join(runsDir, `${job}-${side.name.replace(/\W+/g, "-")}-`))
      yield { index, side, run }
    }
  }
}
