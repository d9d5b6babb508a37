/**
 * The two servers of the service benchmark as processes, and the load on them:
 * a server is started as a child process, waited for until `/healthz` answers, watched
 * through /proc (CPU seconds, resident memory and its peak) and stopped with SIGTERM.
 * The load is autocannon's, on loopback, with a fixed number of connections each
 * sending its next request when the previous one is answered; the latency of every
 * response is kept (microseconds, where autocannon's own histogram keeps whole
 * milliseconds) and the percentiles computed from them.
 */
import autocannon from "autocannon"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import { BenchmarkError } from "./Measure.js"

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })

const CLOCK_TICKS = 100

export interface ProcessStats {
  /** User plus system CPU seconds of the process so far. */
  readonly cpuSeconds: number
  readonly rssBytes: number
  /** The highest resident set size so far (VmHWM). */
  readonly peakRssBytes: number
}

export const processStats = (pid: number): ProcessStats => {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
  const kilobytes = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) * 1024
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
  const fields = stat
    .slice(stat.lastIndexOf(")") + 2)
    .split(" ")
    .map(Number)
  return {
    cpuSeconds: ((fields[11] ?? 0) + (fields[12] ?? 0)) / CLOCK_TICKS,
    rssBytes: kilobytes("VmRSS"),
    peakRssBytes: kilobytes("VmHWM")
  }
}

export interface ServerProcess {
  readonly name: string
  readonly pid: number
  readonly baseUrl: string
  readonly log: string
  readonly stats: () => ProcessStats
  /** SIGTERM, then waits for the exit; its code. */
  readonly stop: () => Promise<number | null>
}

const tail = (file: string) =>
  fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim().split("\n").slice(-15).join("\n  ") : ""

/** Starts the command and resolves once `GET baseUrl/healthz` answers 200. */
export const startServer = async (options: {
  readonly name: string
  readonly file: string
  readonly args: ReadonlyArray<string>
  readonly cwd: string
  readonly log: string
  readonly port: number
  readonly timeoutSeconds?: number
}): Promise<ServerProcess> => {
  const log = fs.openSync(options.log, "a")
  const child = spawn(options.file, options.args, { cwd: options.cwd, stdio: ["ignore", log, log] })
  fs.closeSync(log)
  let exited: number | null | undefined
  const exit = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      exited = code
      resolve(code)
    })
  )
  const baseUrl = `http://127.0.0.1:${options.port}`
  const deadline = Date.now() + (options.timeoutSeconds ?? 120) * 1000
  for (;;) {
    if (exited !== undefined) {
      throw new BenchmarkError({
        message: `${options.name} exited with ${exited} before answering:\n  ${tail(options.log)}`
      })
    }
    try {
      const response = await fetch(`${baseUrl}/healthz`)
      if (response.status === 200) break
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL")
      throw new BenchmarkError({ message: `${options.name} did not answer /healthz in time:\n  ${tail(options.log)}` })
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const pid = child.pid!
  return {
    name: options.name,
    pid,
    baseUrl,
    log: options.log,
    stats: () => processStats(pid),
    stop: () => {
      if (exited === undefined) child.kill("SIGTERM")
      return exit
    }
  }
}

export interface LoadOptions {
  readonly baseUrl: string
  readonly token: string
  /** Each request takes the next path, round-robin. */
  readonly paths: ReadonlyArray<string>
  readonly seconds: number
  readonly connections: number
}

export interface LoadResult {
  readonly requests: number
  readonly seconds: number
  readonly requestsPerSecond: number
  /** Milliseconds. */
  readonly p50: number
  readonly p99: number
  readonly mean: number
  readonly non2xx: number
  readonly errors: number
}

const percentile = (sorted: Float64Array, p: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!

/** Loads the server with GETs of the paths for `seconds`; fails if any answer is not a 2xx. */
export const load = (options: LoadOptions): Promise<LoadResult> =>
  new Promise((resolve, reject) => {
    let next = 0
    let latencies = new Float64Array(1 << 16)
    let count = 0
    const instance = autocannon(
      {
        url: options.baseUrl,
        connections: options.connections,
        pipelining: 1,
        duration: options.seconds,
        headers: { authorization: `Bearer ${options.token}` },
        requests: [
          {
            method: "GET",
            setupRequest: (request) => ({ ...request, path: options.paths[next++ % options.paths.length]! })
          }
        ]
      },
      (error: unknown, result) => {
        if (error !== null && error !== undefined) {
          reject(new BenchmarkError({ message: `autocannon failed: ${String(error)}` }))
          return
        }
        if (result.non2xx > 0 || result.errors > 0) {
          reject(
            new BenchmarkError({
              message: `${options.baseUrl}${options.paths[0]}: ${result.non2xx} answers were not 2xx, ${result.errors} errors`
            })
          )
          return
        }
        const sorted = latencies.slice(0, count).sort()
        let sum = 0
        for (const value of sorted) sum += value
        resolve({
          requests: result["2xx"],
          seconds: result.duration,
          requestsPerSecond: result["2xx"] / result.duration,
          p50: percentile(sorted, 50),
          p99: percentile(sorted, 99),
          mean: sum / count,
          non2xx: result.non2xx,
          errors: result.errors
        })
      }
    )
    instance.on("response", (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      if (statusCode < 200 || statusCode >= 300) return
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2)
        grown.set(latencies)
        latencies = grown
      }
      latencies[count++] = responseTime
    })
  })
