/**
 * The Parquet writer (parquet-wasm) on a worker thread of its own, so that encoding a
 * row group runs on a second core while the main thread decodes the next batches.
 *
 * Batches cross as Arrow IPC streams whose buffers are transferred, not copied; the
 * file's bytes come back the same way. At most `BATCHES_IN_FLIGHT` batches wait for
 * the writer and `CHUNKS_AHEAD` chunks of output wait for the sink, so memory stays
 * bounded whichever side is slower. Once the writer has copied a batch into
 * WebAssembly memory, its buffer goes back to the main thread, which writes the next
 * batch into it: a buffer per batch would wait for a garbage collection in the
 * worker, whose isolate allocates too little to run one often (40 MiB of dead
 * buffers in a 2M-row file). The worker is plain JavaScript evaluated from a string:
 * it needs nothing but parquet-wasm, and no TypeScript loader.
 */
import { createRequire } from "node:module"
import { Worker } from "node:worker_threads"

/** What the writer is built with, as plain data that crosses to the worker. */
export interface WorkerWriterOptions {
  /** parquet-wasm's Compression value. */
  readonly compression: number
  readonly rowGroupRows: number
  readonly dictionaryPageBytes: number
  readonly metadata: ReadonlyArray<readonly [string, string]>
}

/** The next thing the worker produced: bytes of the file, its end, or why it stopped. */
export type WorkerOutput =
  | { readonly kind: "bytes"; readonly bytes: Uint8Array }
  | { readonly kind: "end" }
  | { readonly kind: "failed"; readonly message: string }
  | { readonly kind: "aborted" }

const BATCHES_IN_FLIGHT = 1
const CHUNKS_AHEAD = 2

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads")
const P = require(workerData.parquetWasm)
const waiting = []
let ended = false
let wake
parentPort.on("message", (message) => {
  if (message.type === "batch") waiting.push(message.ipc)
  else ended = true
  if (wake !== undefined) {
    const resume = wake
    wake = undefined
    resume()
  }
})
const next = () => new Promise((resolve) => (waiting.length > 0 || ended ? resolve() : (wake = resolve)))
const input = new ReadableStream(
  {
    async pull(controller) {
      await next()
      if (waiting.length === 0) return controller.close()
      const ipc = waiting.shift()
      const table = P.Table.fromIPCStream(ipc)
      parentPort.postMessage({ type: "pulled", spare: ipc }, [ipc.buffer])
      try {
        for (const batch of table.recordBatches()) controller.enqueue(batch)
      } finally {
        table.free()
      }
    }
  },
  { highWaterMark: 0 }
)
const options = workerData.options
let properties = new P.WriterPropertiesBuilder()
  .setCompression(options.compression)
  .setMaxRowGroupSize(options.rowGroupRows)
  .setDictionaryPageSizeLimit(options.dictionaryPageBytes)
  .setCreatedBy("ferry")
if (options.metadata.length > 0) properties = properties.setKeyValueMetadata(new Map(options.metadata))
;(async () => {
  try {
    const reader = (await P.transformParquetStream(input, properties.build())).getReader()
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      const bytes = value.byteOffset === 0 && value.byteLength === value.buffer.byteLength ? value : value.slice()
      parentPort.postMessage({ type: "bytes", bytes }, [bytes.buffer])
    }
    parentPort.postMessage({ type: "end" })
  } catch (error) {
    parentPort.postMessage({ type: "failed", message: error instanceof Error ? error.message : String(error) })
  }
})()
`

const parquetWasmPath = createRequire(import.meta.url).resolve("parquet-wasm")

/**
 * An Arrow IPC stream given as the writer's chunks, joined into `spare` when it has room,
 * else into a new buffer an eighth larger than needed, so that the next batches, of
 * about the same size, fit in it too.
 */
export const joinChunks = (chunks: ReadonlyArray<Uint8Array>, spare: ArrayBuffer | undefined): Uint8Array => {
  let size = 0
  for (const chunk of chunks) size += chunk.byteLength
  const buffer = spare !== undefined && spare.byteLength >= size ? spare : new ArrayBuffer(size + (size >> 3))
  const joined = new Uint8Array(buffer, 0, size)
  let at = 0
  for (const chunk of chunks) {
    joined.set(chunk, at)
    at += chunk.byteLength
  }
  return joined
}

type WorkerMessage =
  | { readonly type: "pulled"; readonly spare: Uint8Array }
  | { readonly type: "bytes"; readonly bytes: Uint8Array }
  | { readonly type: "end" }
  | { readonly type: "failed"; readonly message: string }

/** One Parquet file written on a worker thread. */
export class ParquetWorker {
  private readonly worker: Worker
  private inFlight = 0
  private readonly outputs: Array<WorkerOutput> = []
  private finished = false
  private sendWaiter: (() => void) | undefined
  private outputWaiter: (() => void) | undefined
  /** The buffer of a batch the writer has taken in, for the next batch. */
  private spare: ArrayBuffer | undefined

  constructor(options: WorkerWriterOptions) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { parquetWasm: parquetWasmPath, options } })
    this.worker.on("message", (message: WorkerMessage) => this.receive(message))
    this.worker.on("error", (error) => this.stop({ kind: "failed", message: error.message }))
    this.worker.on("exit", () => this.stop({ kind: "failed", message: "the Parquet writer's thread ended early" }))
  }

  private receive(message: WorkerMessage): void {
    switch (message.type) {
      case "pulled":
        this.inFlight--
        this.spare = message.spare.buffer as ArrayBuffer
        break
      case "bytes":
        this.outputs.push({ kind: "bytes", bytes: message.bytes })
        break
      case "end":
        this.stop({ kind: "end" })
        break
      case "failed":
        this.stop({ kind: "failed", message: message.message })
        break
    }
    this.notify()
  }

  private stop(output: WorkerOutput): void {
    if (this.finished) return
    this.finished = true
    this.outputs.push(output)
    this.notify()
  }

  private notify(): void {
    const send = this.sendWaiter
    const output = this.outputWaiter
    this.sendWaiter = undefined
    this.outputWaiter = undefined
    send?.()
    output?.()
  }

  private canSend(): boolean {
    return this.finished || (this.inFlight < BATCHES_IN_FLIGHT && this.outputs.length < CHUNKS_AHEAD)
  }

  /**
   * Hands a batch to the writer once it has room: an Arrow IPC stream as the chunks
   * its writer made, joined into a buffer that then moves to the worker.
   */
  async send(chunks: ReadonlyArray<Uint8Array>): Promise<void> {
    while (!this.canSend()) await new Promise<void>((resolve) => (this.sendWaiter = resolve))
    if (this.finished) return
    this.inFlight++
    const ipc = joinChunks(chunks, this.spare)
    this.spare = undefined
    this.worker.postMessage({ type: "batch", ipc }, [ipc.buffer as ArrayBuffer])
  }

  /** No more batches: the writer finishes the file. */
  end(): void {
    if (!this.finished) this.worker.postMessage({ type: "end" })
  }

  /** Stops the writer without a file (the batches failed). */
  abort(): void {
    this.stop({ kind: "aborted" })
  }

  /** The next output, waiting for it. */
  async next(): Promise<WorkerOutput> {
    while (this.outputs.length === 0) await new Promise<void>((resolve) => (this.outputWaiter = resolve))
    const output = this.outputs.shift()!
    // The end stays for later calls; bytes make room for more batches.
    if (output.kind !== "bytes") this.outputs.unshift(output)
    else this.notify()
    return output
  }

  async close(): Promise<void> {
    this.finished = true
    this.notify()
    await this.worker.terminate()
  }
}
