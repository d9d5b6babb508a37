/**
 * `COPY … TO STDOUT` as a stream of the COPY data's bytes, without the framing of the
 * wire protocol. pg-copy-streams takes the connection over for the copy and hands it
 * back after; its parser cuts each CopyData message (one per row) into a buffer of
 * its own and joins them again, which costs more than decoding the rows. This one
 * drops the five-byte message headers in place instead, moving each payload down
 * over them inside the chunk the socket gave, and pushes the chunk once.
 *
 * The server sends its rows in pieces of 8 KiB, and every chunk costs its way through
 * the stream, the async iteration and the reader's pipeline (about 40 µs each, a
 * second per 2M rows): payloads are gathered here and pushed as lists of at least
 * 256 KiB, or at the end of the copy. A list holds views of the socket's chunks, not
 * a copy joined from them: each copy of a table's bytes is as many again of buffers
 * for the garbage collector, whose full collections follow the external memory.
 *
 * It keeps pg-copy-streams' attach and detach (taking the connection's `data`
 * listener, giving back the bytes after the copy, letting pg handle an
 * ErrorResponse), so only the parsing of the copy-out messages is ours.
 */
import type { ReadableOptions } from "node:stream"
import type { CopyToStreamQuery } from "pg-copy-streams"
import { to as copyTo } from "pg-copy-streams"

const ERROR_RESPONSE = 0x45
const COPY_OUT_RESPONSE = 0x48
const COPY_DATA = 0x64
const NOTICE_RESPONSE = 0x4e
const PARAMETER_STATUS = 0x53
const NOTIFICATION_RESPONSE = 0x41

/** The least a pushed chunk holds, but the last. */
const GATHER_BYTES = 256 << 10

/** Messages that may come during copy-out; any other ends it (CopyDone, or what follows). */
const continuesCopy = (code: number): boolean =>
  code === COPY_DATA ||
  code === COPY_OUT_RESPONSE ||
  code === NOTICE_RESPONSE ||
  code === PARAMETER_STATUS ||
  code === NOTIFICATION_RESPONSE

/** The parts of pg-copy-streams' CopyToStreamQuery (7.0) this subclass relies on. */
interface CopyToInternals {
  readonly _buffer: { push(buffer: Buffer): void }
  _detach(): void
  _cleanup(): void
}

const CopyToStream = Object.getPrototypeOf(copyTo("")).constructor as new (
  text: string,
  options: ReadableOptions
) => CopyToStreamQuery

class UnframedCopyOut extends CopyToStream {
  /** The start of a message header cut by the end of a chunk. */
  private partialHeader: Buffer | undefined
  private messageCode = 0
  /** Bytes of the current message's content still to come. */
  private remaining = 0
  /** Payloads not pushed yet, and their total size. */
  private gathered: Array<Buffer> = []
  private gatheredBytes = 0

  /** Pushes what was gathered; returns whether to keep reading. */
  private pushGathered(): boolean {
    if (this.gatheredBytes === 0) return true
    const pieces: CopyPieces = this.gathered
    this.gathered = []
    this.gatheredBytes = 0
    return this.push(pieces)
  }

  private gather(payload: Buffer): boolean {
    this.gathered.push(payload)
    this.gatheredBytes += payload.length
    return this.gatheredBytes >= GATHER_BYTES ? this.pushGathered() : true
  }

  /** Called by the base class with each chunk of the connection; returns whether to keep reading. */
  _parse(chunk: Buffer): boolean | undefined {
    const internals = this as unknown as CopyToInternals
    let data = chunk
    if (this.partialHeader !== undefined) {
      data = Buffer.concat([this.partialHeader, chunk])
      this.partialHeader = undefined
    }
    const end = data.length
    let at = 0
    let written = 0
    let done = false
    while (at < end) {
      if (this.remaining > 0) {
        const count = Math.min(this.remaining, end - at)
        if (this.messageCode === COPY_DATA) {
          if (written !== at) data.copyWithin(written, at, at + count)
          written += count
        }
        at += count
        this.remaining -= count
        if (this.remaining === 0 && !continuesCopy(this.messageCode)) {
          done = true
          break
        }
        continue
      }
      if (end - at < 5) {
        this.partialHeader = data.subarray(at)
        break
      }
      const code = data[at]!
      if (code === ERROR_RESPONSE) {
        // pg reads the error and fails the query, which reports it through handleError.
        if (written > 0) this.gather(data.subarray(0, written))
        this.pushGathered()
        internals._buffer.push(data.subarray(at))
        internals._detach()
        return undefined
      }
      this.messageCode = code
      this.remaining = data.readUInt32BE(at + 1) - 4
      at += 5
      if (this.remaining === 0 && !continuesCopy(code)) {
        done = true
        break
      }
    }
    let drained = written > 0 ? this.gather(data.subarray(0, written)) : true
    if (done) {
      drained = this.pushGathered()
      internals._buffer.push(data.subarray(at))
      internals._detach()
      this.push(null)
      internals._cleanup()
    }
    return drained
  }
}

/** Consecutive pieces of the COPY data, together at least 256 KiB but at the end. */
export type CopyPieces = ReadonlyArray<Buffer>

/** A readable of the COPY data in lists of pieces (`CopyPieces`), one list read ahead. */
export type CopyOutQuery = CopyToStreamQuery & AsyncIterable<CopyPieces>

/** A query to submit to a pg client: `client.query(copyOut(sql))` is a readable of the COPY data. */
export const copyOut = (sql: string): CopyOutQuery =>
  new UnframedCopyOut(sql, { objectMode: true, highWaterMark: 1 }) as CopyOutQuery
