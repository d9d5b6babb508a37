/**
 * The Azure benchmark compares Ferry's blob copies with a minimal script on the Azure
 * SDK (benchmarks/internal/azure-copy.mjs); the comparison holds only if the script
 * makes the same copy, and only if the benchmark's check would catch one that differs.
 * On a small input made as the benchmark makes its gibibyte, each of the script's modes
 * must leave the target as the benchmark's check wants it and report the bytes that
 * passed through it; a blob changed, missing or left staged must fail the check.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as path from "node:path"
import type { BlobInput } from "../../benchmarks/internal/AzureInputs.js"
import { blobInput, firstQuarter, verifyCopy, wholeInput } from "../../benchmarks/internal/AzureInputs.js"
import { REPOSITORY } from "../runtime/RunSupport.js"
import type { Azurite } from "../support/azurite.js"
import { DEV_ACCOUNT, DEV_KEY, startAzurite } from "../support/azurite.js"

let azurite: Azurite
let input: BlobInput
beforeAll(async () => {
  azurite = await startAzurite()
  input = await blobInput(azurite, 8, 8 * 40_000, () => undefined)
})
afterAll(async () => {
  await azurite?.stop()
})

const SCRIPT = path.join(REPOSITORY, "benchmarks", "internal", "azure-copy.mjs")

/** Runs the script in MODE from the input's folder `prefix` into `target/data/`; its report, or its error output. */
const runPeer = (mode: string, prefix: string, target: string, targetUrl = azurite.url) =>
  new Promise<{ code: number | null; report: Record<string, unknown> | undefined; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [SCRIPT, mode], {
      env: {
        ...process.env,
        AZ_SOURCE_URL: azurite.url,
        AZ_TARGET_URL: targetUrl,
        AZ_ACCOUNT: DEV_ACCOUNT,
        AZ_KEY: DEV_KEY,
        AZ_SOURCE_CONTAINER: input.container,
        AZ_SOURCE_PREFIX: prefix,
        AZ_TARGET_CONTAINER: target,
        AZ_TARGET_PREFIX: "data/"
      },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.on("close", (code) => {
      const last = stdout.trim().split("\n").at(-1)
      resolve({ code, report: last === undefined ? undefined : (JSON.parse(last) as Record<string, unknown>), stderr })
    })
  })

const withContainer = async <A>(use: (name: string) => Promise<A>): Promise<A> => {
  const name = `bench-out-${randomBytes(6).toString("hex")}`
  const client = azurite.service.getContainerClient(name)
  await client.create()
  try {
    return await use(name)
  } finally {
    await client.deleteIfExists()
  }
}

describe("the Azure benchmark's SDK peer", () => {
  it("makes the input as four equal folders of blobs with their MD5s", () => {
    expect(input.blobs).toBe(8)
    expect(input.bytes).toBe(320_000)
    const quarter = firstQuarter(input)
    expect([quarter.prefix, quarter.blobs, quarter.bytes]).toEqual(["docs/q1/", 2, 80_000])
    for (const [name, blob] of input.listing) {
      expect(name).toMatch(/^docs\/q[1-4]\/\d{4}\.bin$/)
      expect(blob.bytes).toBeGreaterThanOrEqual(20_000)
      expect(blob.bytes).toBeLessThanOrEqual(60_000)
      expect(Buffer.from(blob.md5, "base64")).toHaveLength(16)
    }
  })

  for (const mode of ["copy", "copy-staged", "stream", "stream-staged"]) {
    it(`copies every blob in mode ${mode}, as the benchmark's check wants, and says what passed through it`, () =>
      withContainer(async (target) => {
        // Streams go to the same emulator by another name, as the benchmark's streamed job does.
        const streamed = mode.startsWith("stream")
        const targetUrl = streamed ? azurite.url.replace("127.0.0.1", "localhost") : azurite.url
        const ran = await runPeer(mode, input.prefix, target, targetUrl)
        expect(ran.stderr).toBe("")
        expect(ran.code).toBe(0)
        expect(ran.report).toMatchObject({ mode, blobs: 8, bytesThrough: streamed ? input.bytes : 0 })
        expect(await verifyCopy(azurite, wholeInput(input), target, "data/")).toBeUndefined()
      }))
  }

  it("fails the check when a blob differs, is missing, or is left staged", () =>
    withContainer(async (target) => {
      expect((await runPeer("copy", "docs/q1/", target)).code).toBe(0)
      const quarter = firstQuarter(input)
      expect(await verifyCopy(azurite, quarter, target, "data/")).toBeUndefined()
      // A copy of the first quarter is not a copy of the whole input.
      expect(await verifyCopy(azurite, wholeInput(input), target, "data/")).toBe(`2 blobs in ${target}/data/, 8 wanted`)

      const client = azurite.service.getContainerClient(target)
      const [first] = [...input.listing.keys()].filter((name) => name.startsWith("docs/q1/"))
      const copied = `data/${first!.slice("docs/q1/".length)}`
      const size = input.listing.get(first!)!.bytes
      await client.getBlockBlobClient(`data/_staging/${copied.slice(5)}`).uploadData(Buffer.alloc(size, 1))
      expect(await verifyCopy(azurite, quarter, target, "data/")).toBe(`3 blobs in ${target}/data/, 2 wanted`)

      await client.deleteBlob(`data/_staging/${copied.slice(5)}`)
      await client.getBlockBlobClient(copied).uploadData(Buffer.alloc(size, 1))
      expect(await verifyCopy(azurite, quarter, target, "data/")).toBe(`${copied}: its bytes differ from the source's`)

      await client.getBlockBlobClient(copied).uploadData(Buffer.alloc(size - 1, 1))
      expect(await verifyCopy(azurite, quarter, target, "data/")).toBe(`${copied}: ${size - 1} bytes, ${size} wanted`)

      await client.deleteBlob(copied)
      expect(await verifyCopy(azurite, quarter, target, "data/")).toBe(`1 blobs in ${target}/data/, 2 wanted`)
    }))
})
