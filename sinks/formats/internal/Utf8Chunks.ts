/**
 * Writes text straight into UTF-8 byte chunks. Text formats write millions of short
 * pieces; concatenating them into a JS string first builds a rope that the garbage
 * collector then spends more time on than the formatting itself (60% of encoding
 * time on 1M rows), so pieces go into a byte buffer as they come.
 */

const encoder = new TextEncoder()

export class Utf8Chunks {
  private buffer: Uint8Array
  private position = 0
  /** Where the bytes not yet handed over start in `buffer`. */
  private start = 0
  private chunks: Array<Uint8Array> = []

  constructor(private readonly chunkBytes = 1 << 20) {
    this.buffer = new Uint8Array(chunkBytes)
  }

  private reserve(bytes: number): void {
    if (this.position + bytes <= this.buffer.length) return
    if (this.position > this.start) this.chunks.push(this.buffer.subarray(this.start, this.position))
    this.buffer = new Uint8Array(Math.max(this.chunkBytes, bytes))
    this.position = 0
    this.start = 0
  }

  /** Appends a character code below 0x80. */
  ascii(code: number): void {
    this.reserve(1)
    this.buffer[this.position++] = code
  }

  text(text: string): void {
    const length = text.length
    // UTF-8 takes at most three bytes per UTF-16 code unit.
    this.reserve(length * 3)
    const buffer = this.buffer
    const start = this.position
    let position = start
    for (let i = 0; i < length; i++) {
      const code = text.charCodeAt(i)
      if (code >= 0x80) {
        position = start + encoder.encodeInto(text, buffer.subarray(start)).written
        break
      }
      buffer[position++] = code
    }
    this.position = position
  }

  /** The chunks written since the last call; later text goes after them in the same buffer. */
  take(): Array<Uint8Array> {
    if (this.position > this.start) {
      this.chunks.push(this.buffer.subarray(this.start, this.position))
      this.start = this.position
    }
    const chunks = this.chunks
    this.chunks = []
    return chunks
  }
}
