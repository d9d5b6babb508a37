import { describe, expect, it } from "vitest"
import { joinChunks } from "../../../../sinks/formats/internal/ParquetWorker.js"

describe("joinChunks", () => {
  const chunks = [Uint8Array.of(1, 2, 3), Uint8Array.of(), Uint8Array.of(4, 5)]

  it("joins the chunks into a new buffer with an eighth more room when there is no spare", () => {
    const joined = joinChunks([new Uint8Array(64), ...chunks], undefined)
    expect(joined.byteLength).toBe(69)
    expect(joined.byteOffset).toBe(0)
    expect(joined.buffer.byteLength).toBe(69 + 8)
    expect([...joined.subarray(64)]).toEqual([1, 2, 3, 4, 5])
  })

  it("writes into the spare buffer when it fits, over what it held", () => {
    const spare = new Uint8Array(16).fill(9).buffer
    const joined = joinChunks(chunks, spare)
    expect(joined.buffer).toBe(spare)
    expect([...joined]).toEqual([1, 2, 3, 4, 5])
  })

  it("leaves a spare that is too small and takes a new buffer", () => {
    const spare = new ArrayBuffer(4)
    const joined = joinChunks(chunks, spare)
    expect(joined.buffer).not.toBe(spare)
    expect([...joined]).toEqual([1, 2, 3, 4, 5])
  })
})
