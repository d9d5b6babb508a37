/**
 * Watermarks: how far a (subscription, dataset) has been delivered. They are stored as
 * JSON after the sink commits, and decoded with the source's watermark Schema when
 * the next incremental run plans its read.
 */
import * as Schema from "effect/Schema"

/**
 * The last delivered row of a table read by cursor: its cursor value and key values,
 * each in the text form of its column's type (core/Values), so that a watermark
 * compares exactly whatever the type (bigint, decimal, timestamp with microseconds).
 */
export const CursorWatermark = Schema.Struct({
  cursor: Schema.String,
  key: Schema.Array(Schema.String)
}).annotations({ identifier: "CursorWatermark" })
export type CursorWatermark = typeof CursorWatermark.Type

/**
 * The last delivered file of a file dataset: files are ordered by (last_modified, path),
 * and a run copies those after this pair and modified no later than the run's start.
 */
export const FileWatermark = Schema.Struct({
  last_modified: Schema.String,
  path: Schema.String
}).annotations({ identifier: "FileWatermark" })
export type FileWatermark = typeof FileWatermark.Type
