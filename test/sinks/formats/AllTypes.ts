/**
 * One column of every logical type, with the values at its edges, for the round trips
 * of the table formats: write a batch, read it back, compare value by value.
 */
import * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { Batch } from "../../../core/Batch.js"
import { allTypeColumns, allTypeRows, batchOf, collect } from "../../conformance/Tables.js"

export { allTypeColumns, allTypeRows, collect, rowsOf } from "../../conformance/Tables.js"

export const allTypesBatch = (): Batch => batchOf(allTypeColumns, allTypeRows())

/** A fresh temporary folder, removed when the test file ends. */
export const tempDir = (prefix: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  return {
    dir,
    file: (name: string) => path.join(dir, name),
    write: (name: string, content: string | Uint8Array) => {
      const file = path.join(dir, name)
      fs.writeFileSync(file, content)
      return file
    },
    remove: () => fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** Writes an encoded byte stream to a file. */
export const writeStream = <E>(file: string, bytes: Stream.Stream<Uint8Array, E>) =>
  Effect.gen(function* () {
    const chunks = yield* collect(bytes)
    fs.writeFileSync(file, Buffer.concat(chunks.map((chunk) => Buffer.from(chunk))))
  })
