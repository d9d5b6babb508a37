/**
 * A `COPY … FROM STDIN` on one connection, as Effects: `write` hands a chunk to the
 * connection and resumes once the socket has taken it (so a slow server slows the
 * writer), `finish` ends the COPY and resumes when the server has applied it. An error
 * from the server is kept as it arrives and fails the next call.
 */
import * as Effect from "effect/Effect"
import type pg from "pg"
import type { CopyStreamQuery } from "pg-copy-streams"
import { from as copyFrom } from "pg-copy-streams"

export interface CopyIn {
  readonly write: (chunk: Uint8Array) => Effect.Effect<void, unknown>
  /** Ends the data; succeeds with the rows the server counted. */
  readonly finish: Effect.Effect<number, unknown>
}

const CLOSED = new Error("the COPY ended before its data was sent")

/** Starts the COPY statement `sql` on `client`. */
export const startCopyIn = (client: pg.ClientBase, sql: string): CopyIn => {
  const stream: CopyStreamQuery = client.query(copyFrom(sql))
  let failure: unknown
  let closed = false
  // Without a listener an 'error' would be thrown out of the event loop.
  stream.on("error", (error) => {
    failure ??= error
  })
  stream.on("close", () => {
    closed = true
  })

  /** Resumes on `done`, or on the stream failing or closing first. */
  const settle = (start: (done: (error?: unknown) => void) => void): Effect.Effect<void, unknown> =>
    Effect.async<void, unknown>((resume) => {
      let settled = false
      const finish = (error?: unknown) => {
        if (settled) return
        settled = true
        stream.off("error", onError)
        stream.off("close", onClose)
        resume(error === undefined || error === null ? Effect.void : Effect.fail(error))
      }
      const onError = (error: unknown) => finish(error)
      const onClose = () => finish(failure ?? CLOSED)
      if (failure !== undefined) return finish(failure)
      stream.on("error", onError)
      stream.on("close", onClose)
      start(finish)
      return Effect.sync(() => {
        settled = true
        stream.off("error", onError)
        stream.off("close", onClose)
      })
    })

  return {
    write: (chunk) =>
      Effect.suspend(() =>
        closed
          ? Effect.fail(failure ?? CLOSED)
          : settle((done) => {
              stream.write(chunk, (error) => done(error))
            })
      ),
    finish: Effect.suspend(() =>
      closed
        ? Effect.fail(failure ?? CLOSED)
        : settle((done) => {
            stream.once("finish", () => done())
            stream.end()
          }).pipe(Effect.map(() => stream.rowCount))
    )
  }
}
