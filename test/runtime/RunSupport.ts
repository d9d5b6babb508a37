/**
 * A share config in a fresh folder (provider files under `src/`, consumer files under
 * `out/`, state in `state.db`), run in this process with the real run path, the SQLite
 * state store and the collecting progress display; and what a consumer then sees.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { FerryConfig } from "../../config/FerryConfig.js"
import { loadConfig } from "../../config/LoadConfig.js"
import { builtins } from "../../runtime/Builtins.js"
import * as Progress from "../../runtime/Progress.js"
import type { DatasetResult, RunOptions, RunResult } from "../../runtime/Run.js"
import { runSnapshots } from "../../runtime/Run.js"
import type { Checkpoint, PendingCommit } from "../../runtime/state/StateStore.js"
import { layerSqlite, StateStore } from "../../runtime/state/StateStore.js"

export const REPOSITORY = fileURLToPath(new URL("../..", import.meta.url))
export const MEMORY_PLUGIN = path.join(REPOSITORY, "test", "fixtures", "plugins", "memory-plugin.ts")

export interface Workspace {
  readonly dir: string
  readonly config: string
  readonly state: string
  /** A path under the provider's root. */
  readonly src: (...parts: ReadonlyArray<string>) => string
  /** A path under the consumer's root. */
  readonly out: (...parts: ReadonlyArray<string>) => string
  /** Writes a file under the provider's root, creating its folders. */
  readonly write: (name: string, content: string | Uint8Array) => string
  readonly remove: () => void
}

export const workspace = (configText: string): Workspace => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-run-"))
  fs.mkdirSync(path.join(dir, "src"))
  const config = path.join(dir, "ferry.yaml")
  fs.writeFileSync(config, configText)
  const src = (...parts: ReadonlyArray<string>) => path.join(dir, "src", ...parts)
  return {
    dir,
    config,
    state: path.join(dir, "state.db"),
    src,
    out: (...parts) => path.join(dir, "out", ...parts),
    write: (name, content) => {
      const file = src(name)
      fs.mkdirSync(path.dirname(file), { recursive: true })
      fs.writeFileSync(file, content)
      return file
    },
    remove: () => fs.rmSync(dir, { recursive: true, force: true })
  }
}

export interface ConfigParts {
  /** Dataset entries, one YAML line each, indented by the helper. */
  readonly datasets: ReadonlyArray<string>
  /** Mapping entries (`name: { … }`), one YAML line each. */
  readonly mappings: ReadonlyArray<string>
  /** Extra top-level lines, such as `limits:` or `plugins:`. */
  readonly top?: ReadonlyArray<string>
  /** Extra stores, one YAML line each (`name: { … }`). */
  readonly stores?: ReadonlyArray<string>
}

/** Provider contoso shares `retail` from store `src`; consumer fabrikam's `feed` receives it into store `out`. */
export const shareConfig = (parts: ConfigParts): string =>
  [
    "version: 1",
    "state: sqlite:state.db",
    ...(parts.top ?? []),
    "accounts: { contoso: {}, fabrikam: {} }",
    "stores:",
    "  src: { type: local, root: ./src, account: contoso }",
    "  out: { type: local, root: ./out, account: fabrikam }",
    ...(parts.stores ?? []).map((line) => `  ${line}`),
    "shares:",
    "  - name: retail",
    "    account: contoso",
    "    datasets:",
    ...parts.datasets.map((line) => `      - ${line}`),
    "subscriptions:",
    "  - name: feed",
    "    account: fabrikam",
    "    share: contoso/retail",
    "    accept_terms: true",
    "    mappings:",
    ...parts.mappings.map((line) => `      ${line}`),
    ""
  ].join("\n")

export const load = (file: string): Effect.Effect<FerryConfig> =>
  loadConfig(file, { builtins }).pipe(Effect.orDieWith((error) => new Error(JSON.stringify(error.issues, null, 2))))

export interface Ran {
  readonly results: ReadonlyArray<RunResult>
  /** The progress display's lines. */
  readonly lines: ReadonlyArray<string>
}

/** The outcome of every dataset of the run, in order. */
export const datasetsOf = (ran: Ran): ReadonlyArray<DatasetResult> => ran.results.flatMap((result) => result.datasets)

/** Runs the snapshots once, as `ferry run` does, with `state` in place of the store's own layer if given. */
export const runOnce = (
  space: Workspace,
  options: Partial<RunOptions> = {},
  state: Layer.Layer<StateStore, unknown> = layerSqlite({ filename: space.state }),
  display?: Layer.Layer<Progress.ProgressDisplay>
): Effect.Effect<Ran> =>
  Effect.gen(function* () {
    const config = yield* load(space.config)
    const lines: Array<string> = []
    const results = yield* runSnapshots(config, { full: false, ...options }).pipe(
      Effect.provide(Layer.merge(state, display ?? Progress.layerCollect(lines))),
      Effect.orDie
    )
    return { results, lines }
  })

const withState = <A>(space: Workspace, use: (store: StateStore["Type"]) => Effect.Effect<A, unknown>) =>
  Effect.flatMap(StateStore, use).pipe(Effect.provide(layerSqlite({ filename: space.state })), Effect.orDie)

export const checkpointOf = (space: Workspace, dataset: string): Effect.Effect<Option.Option<Checkpoint>> =>
  withState(space, (store) => store.checkpoint({ subscription: "fabrikam/feed", dataset }))

export const pendingOf = (space: Workspace, dataset: string): Effect.Effect<Option.Option<PendingCommit>> =>
  withState(space, (store) => store.pendingCommit({ subscription: "fabrikam/feed", dataset }))

/** Every file under `folder`, as sorted `/` paths; an absent folder has none. */
export const tree = (folder: string): Array<string> =>
  fs.existsSync(folder)
    ? (fs.readdirSync(folder, { recursive: true, withFileTypes: true }) as Array<fs.Dirent>)
        .filter((entry) => entry.isFile())
        .map((entry) => path.relative(folder, path.join(entry.parentPath, entry.name)).split(path.sep).join("/"))
        .sort()
    : []

/** Files a consumer sees in a target folder: neither staging, lock, nor manifests. */
export const dataFiles = (folder: string): Array<string> =>
  tree(folder).filter((file) => !file.startsWith(".ferry-") && !file.startsWith("_ferry/"))

/** The run ids whose manifests are in a target folder. */
export const manifests = (folder: string): Array<string> =>
  tree(folder)
    .filter((file) => file.startsWith("_ferry/manifests/"))
    .map((file) => path.basename(file, ".json"))

/** The data lines (header dropped) of every CSV part in a target folder. */
export const csvLines = (folder: string): Array<string> =>
  dataFiles(folder)
    .filter((file) => file.endsWith(".csv"))
    .flatMap((file) => fs.readFileSync(path.join(folder, file), "utf8").split("\n").slice(1))
    .filter((line) => line !== "")

export interface Spawned {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface Child {
  readonly pid: number
  readonly exited: Promise<Spawned>
  readonly kill: () => void
}

/** `ferry ARGS…` in a child process, from the repository's CLI module. */
export const spawnFerry = (args: ReadonlyArray<string>, env: Record<string, string> = {}): Child => {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(REPOSITORY, "runtime", "cli", "main.ts"), ...args],
    {
      cwd: REPOSITORY,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    }
  )
  let stdout = ""
  let stderr = ""
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
  return {
    pid: child.pid!,
    exited: new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))),
    kill: () => void child.kill("SIGKILL")
  }
}
