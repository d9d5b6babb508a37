/**
 * The Azure benchmark's jobs, each side in a child process of its own against the same
 * Azurite, each writing into a fresh output container that is checked, then deleted:
 *
 * - blob copy, server-side: Ferry (`ferry run --full`, two blob stores on one endpoint:
 *   Copy Blob From URL with a read-only SAS, then its atomic publish) against the SDK's
 *   `syncCopyFromURL`, alone and with the same staging and moves as Ferry's publish;
 * - blob copy, streamed: Ferry with the target store named by another origin of the same
 *   Azurite (`localhost` against `127.0.0.1`), which Ferry cannot assume the service
 *   reaches, so every byte passes through it; against the SDK's download piped into
 *   `uploadStream`, alone and with the staging and moves;
 * - PostgreSQL → Parquet: Ferry into a blob store against Ferry into a local folder,
 *   the generated table of the PostgreSQL benchmark (PostgresInputs.ts).
 */
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { stringify } from "yaml"
import type { BenchAzurite, BlobDataset } from "./AzureInputs.js"
import { DEV_ACCOUNT, DEV_KEY, OUTPUT_PREFIX, verifyCopy } from "./AzureInputs.js"
import type { Environment, JobName } from "./Jobs.js"
import { csvDigest, ferryBin, parquetDigest } from "./Jobs.js"
import type { Command } from "./Measure.js"
import { BenchmarkError } from "./Measure.js"
import type { PostgresInput } from "./PostgresInputs.js"

export interface AzureEnvironment extends Environment {
  readonly azurite: BenchAzurite
  /** The PostgreSQL server of the generated table. */
  readonly url: string
}

export interface AzureSide {
  readonly name: string
  readonly isFerry: boolean
  /** Makes what the side writes into (an output container) and returns its command. */
  readonly prepare: (run: string) => Promise<Omit<Command, "log">>
  /**
   * Checks the side's output against the input (failing the run if it differs); says how
   * many bytes passed through its process, or how large the file it wrote is.
   */
  readonly check: (
    run: string,
    logFile: string
  ) => Promise<{ readonly bytesThrough?: number; readonly outputBytes?: number }>
  /** Removes what the side wrote outside its folder. */
  readonly cleanup: (run: string) => Promise<void>
}

export interface AzureJob {
  readonly name: JobName
  readonly title: string
  readonly unit: "rows" | "files"
  readonly count: number
  readonly inputBytes: number
  readonly sides: ReadonlyArray<AzureSide>
}

/** The account key reaches Ferry through the environment, as a config should take it. */
const KEY_VARIABLE = "FERRY_BENCH_AZURE_KEY"
const FERRY_DATASET = "data"
/** The folder of the output container every side writes the copy into. */
const TARGET_FOLDER = "data/"

const blobStore = (account: string, url: string) => ({
  type: "azure_blob",
  account,
  account_url: url,
  account_name: DEV_ACCOUNT,
  account_key: `\${env:${KEY_VARIABLE}}`
})

const ferryConfig = (run: string, stores: object, source: object, mapping: object): string =>
  stringify({
    version: 1,
    state: `sqlite:${path.join(run, "state.db")}`,
    accounts: { provider: {}, consumer: {} },
    stores,
    shares: [
      {
        name: "bench",
        account: "provider",
        kind: "snapshot",
        datasets: [{ name: FERRY_DATASET, source }]
      }
    ],
    subscriptions: [
      {
        name: "bench-copy",
        account: "consumer",
        share: "provider/bench",
        accept_terms: true,
        trigger: "manual",
        mappings: { [FERRY_DATASET]: mapping }
      }
    ]
  })

const ferryCommand = (env: AzureEnvironment, config: string, run: string): Omit<Command, "log"> => ({
  file: process.execPath,
  args: [ferryBin(env), "run", config, "--full"],
  cwd: run,
  env: { ...process.env, [KEY_VARIABLE]: DEV_KEY }
})

/** The output container of a run: named after its folder, made empty. */
const outputOf = (run: string): string =>
  `${OUTPUT_PREFIX}${crypto.createHash("sha256").update(path.basename(run)).digest("hex").slice(0, 16)}`

const makeOutput = async (env: AzureEnvironment, run: string): Promise<string> => {
  const name = outputOf(run)
  await env.azurite.service.getContainerClient(name).create()
  return name
}

const removeOutput = (env: AzureEnvironment) => async (run: string) => {
  await env.azurite.service.getContainerClient(outputOf(run)).deleteIfExists()
}

const copyOrFail = async (env: AzureEnvironment, dataset: BlobDataset, side: string, run: string) => {
  const problem = await verifyCopy(env.azurite, dataset, outputOf(run), TARGET_FOLDER)
  if (problem !== undefined) throw new BenchmarkError({ message: `${side} did not copy the blobs: ${problem}` })
}

/**
 * The bytes of a Ferry run that passed through it, from the manifest it published:
 * files it streamed carry a SHA-256 (which needs the bytes); files the service copied
 * carry only the MD5 the service keeps.
 */
const streamedBytes = async (env: AzureEnvironment, run: string): Promise<number> => {
  const client = env.azurite.service.getContainerClient(outputOf(run))
  let bytes = 0
  let manifests = 0
  for await (const blob of client.listBlobsFlat({ prefix: `${TARGET_FOLDER}_ferry/manifests/` })) {
    const manifest = JSON.parse((await client.getBlobClient(blob.name).downloadToBuffer()).toString("utf8")) as {
      files: ReadonlyArray<{ bytes: number; sha256?: string }>
    }
    manifests += 1
    for (const file of manifest.files) if (file.sha256 !== undefined) bytes += file.bytes
  }
  if (manifests !== 1) throw new BenchmarkError({ message: `${manifests} manifests in ${outputOf(run)}, 1 wanted` })
  return bytes
}

const ferryBlobCopy = (env: AzureEnvironment, dataset: BlobDataset, streamed: boolean): AzureSide => ({
  name: streamed ? "ferry (streamed)" : "ferry (server-side)",
  isFerry: true,
  prepare: async (run) => {
    const output = await makeOutput(env, run)
    const config = path.join(run, "ferry.yaml")
    const stores = {
      lake: blobStore("provider", env.azurite.url),
      inbox: blobStore("consumer", streamed ? env.azurite.aliasUrl : env.azurite.url)
    }
    const source = { store: "lake", container: dataset.input.container, prefix: dataset.prefix }
    fs.writeFileSync(
      config,
      ferryConfig(run, stores, source, { store: "inbox", container: output, path: TARGET_FOLDER })
    )
    return ferryCommand(env, config, run)
  },
  check: async (run, logFile) => {
    await copyOrFail(env, dataset, "ferry", run)
    const bytesThrough = await streamedBytes(env, run)
    const note = /copied inside the store: (\d+) files?, (.+?) through Ferry/.exec(fs.readFileSync(logFile, "utf8"))
    const copiedInside = note === null ? 0 : Number(note[1])
    if (copiedInside !== (streamed ? 0 : dataset.blobs)) {
      throw new BenchmarkError({
        message: `ferry copied ${copiedInside} of ${dataset.blobs} blobs inside the store, ${streamed ? "none" : "all"} expected`
      })
    }
    return { bytesThrough }
  },
  cleanup: removeOutput(env)
})

const sdkCopy = (
  env: AzureEnvironment,
  dataset: BlobDataset,
  mode: string,
  name: string,
  alias: boolean
): AzureSide => ({
  name,
  isFerry: false,
  prepare: async (run) => {
    const output = await makeOutput(env, run)
    return {
      file: process.execPath,
      args: [path.join(env.repository, "benchmarks/internal/azure-copy.mjs"), mode],
      cwd: run,
      env: {
        ...process.env,
        AZ_SOURCE_URL: env.azurite.url,
        AZ_TARGET_URL: alias ? env.azurite.aliasUrl : env.azurite.url,
        AZ_ACCOUNT: DEV_ACCOUNT,
        AZ_KEY: DEV_KEY,
        AZ_SOURCE_CONTAINER: dataset.input.container,
        AZ_SOURCE_PREFIX: dataset.prefix,
        AZ_TARGET_CONTAINER: output,
        AZ_TARGET_PREFIX: TARGET_FOLDER
      }
    }
  },
  check: async (run, logFile) => {
    await copyOrFail(env, dataset, name, run)
    const last = fs.readFileSync(logFile, "utf8").trim().split("\n").at(-1) ?? "{}"
    const reported = JSON.parse(last) as { bytesThrough?: number }
    return reported.bytesThrough === undefined ? {} : { bytesThrough: reported.bytesThrough }
  },
  cleanup: removeOutput(env)
})

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2).replace(/\.?0+$/, "")} GiB`

/** Every blob of the dataset copied by the service, never through the copying process. */
export const blobCopy = (env: AzureEnvironment, dataset: BlobDataset): AzureJob => ({
  name: "blob-copy",
  title: `blob → blob, server-side, ${gib(dataset.bytes)}`,
  unit: "files",
  count: dataset.blobs,
  inputBytes: dataset.bytes,
  sides: [
    ferryBlobCopy(env, dataset, false),
    sdkCopy(env, dataset, "copy", "sdk syncCopyFromURL", false),
    sdkCopy(env, dataset, "copy-staged", "sdk syncCopyFromURL + staged moves", false)
  ]
})

/** Every byte of the dataset read from one endpoint and written to another through the copying process. */
export const blobStream = (env: AzureEnvironment, dataset: BlobDataset): AzureJob => ({
  name: "blob-stream",
  title: `blob → blob, streamed, ${gib(dataset.bytes)}`,
  unit: "files",
  count: dataset.blobs,
  inputBytes: dataset.bytes,
  sides: [
    ferryBlobCopy(env, dataset, true),
    sdkCopy(env, dataset, "stream", "sdk download → uploadStream", true),
    sdkCopy(env, dataset, "stream-staged", "sdk download → uploadStream + staged moves", true)
  ]
})

/** The newest part file of a local folder. */
const localPart = (folder: string): string => {
  const part = fs.readdirSync(folder).find((name) => name.endsWith(".parquet"))
  if (part === undefined) throw new BenchmarkError({ message: `ferry wrote no .parquet file in ${folder}` })
  return path.join(folder, part)
}

/**
 * The generated PostgreSQL table into a Parquet part in a blob container, against the
 * same into a local folder: what the blob sink costs beside the local one. Both outputs
 * are digested by DuckDB against psql's export of the table.
 */
export const postgresToBlob = (env: AzureEnvironment, input: PostgresInput): AzureJob => {
  let expected: Promise<string> | undefined
  const matches = async (side: string, file: string) => {
    expected ??= csvDigest(env)(input.referenceCsv)
    const [want, got] = await Promise.all([expected, parquetDigest(env)(file)])
    if (want !== got) {
      throw new BenchmarkError({
        message: `${side} wrote something else than the table:\n  input  ${want}\n  output ${got}`
      })
    }
  }
  const stores = (output: object) => ({
    db: { type: "postgres", url: env.url, account: "provider" },
    output: { ...output, account: "consumer" }
  })
  const source = { store: "db", table: input.table }
  return {
    name: "pg-to-blob",
    title: "PostgreSQL → Parquet",
    unit: "rows",
    count: input.rows,
    inputBytes: input.csvBytes,
    sides: [
      {
        name: "ferry → blob",
        isFerry: true,
        prepare: async (run) => {
          const output = await makeOutput(env, run)
          const config = path.join(run, "ferry.yaml")
          const mapping = { store: "output", container: output, path: TARGET_FOLDER, format: "parquet" }
          fs.writeFileSync(config, ferryConfig(run, stores(blobStore("consumer", env.azurite.url)), source, mapping))
          return ferryCommand(env, config, run)
        },
        check: async (run) => {
          const client = env.azurite.service.getContainerClient(outputOf(run))
          const parts: Array<string> = []
          for await (const blob of client.listBlobsFlat({ prefix: TARGET_FOLDER })) {
            if (blob.name.endsWith(".parquet") && !blob.name.includes("/_ferry/")) parts.push(blob.name)
          }
          if (parts.length !== 1)
            throw new BenchmarkError({ message: `${parts.length} Parquet parts in the container` })
          const file = path.join(run, "downloaded.parquet")
          await client.getBlobClient(parts[0]!).downloadToFile(file)
          await matches("ferry → blob", file)
          return { outputBytes: fs.statSync(file).size }
        },
        cleanup: removeOutput(env)
      },
      {
        name: "ferry → local",
        isFerry: false,
        prepare: (run) => {
          const config = path.join(run, "ferry.yaml")
          const output = { type: "local", root: path.join(run, "out") }
          const mapping = { store: "output", path: TARGET_FOLDER, format: "parquet" }
          fs.writeFileSync(config, ferryConfig(run, stores(output), source, mapping))
          return Promise.resolve(ferryCommand(env, config, run))
        },
        check: async (run) => {
          const file = localPart(path.join(run, "out", TARGET_FOLDER))
          await matches("ferry → local", file)
          return { outputBytes: fs.statSync(file).size }
        },
        cleanup: () => Promise.resolve()
      }
    ]
  }
}
