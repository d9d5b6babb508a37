/**
 * The errors connectors, sinks and the transfer core fail with. Each carries what a
 * user needs to find the problem (store, dataset, file, line) and never a secret.
 */
import * as Schema from "effect/Schema"

/** A source could not be opened or read. */
export class SourceError extends Schema.TaggedError<SourceError>()("SourceError", {
  store: Schema.String,
  dataset: Schema.optional(Schema.String),
  file: Schema.optional(Schema.String),
  line: Schema.optional(Schema.Number),
  column: Schema.optional(Schema.String),
  message: Schema.String
}) {}

/** A sink could not be opened, written or committed. */
export class SinkError extends Schema.TaggedError<SinkError>()("SinkError", {
  store: Schema.String,
  target: Schema.optional(Schema.String),
  message: Schema.String
}) {}

/**
 * Bytes that are not what their format promises: a CSV row with too many fields, a
 * truncated Parquet footer, a value that does not parse as its column's type.
 */
export class FormatError extends Schema.TaggedError<FormatError>()("FormatError", {
  format: Schema.String,
  file: Schema.optional(Schema.String),
  line: Schema.optional(Schema.Number),
  column: Schema.optional(Schema.String),
  message: Schema.String
}) {}

/** A value that cannot be carried into the requested type without loss. */
export class CastError extends Schema.TaggedError<CastError>()("CastError", {
  column: Schema.String,
  message: Schema.String
}) {}

/** A plugin module that cannot be loaded or does not match the plugin schema. */
export class PluginError extends Schema.TaggedError<PluginError>()("PluginError", {
  plugin: Schema.String,
  message: Schema.String
}) {}

/** Where a message about a file points: `file:line` when the line is known. */
export const location = (file: string | undefined, line: number | undefined): string =>
  file === undefined ? "" : line === undefined ? file : `${file}:${line}`

/** A format error as a source error of the dataset being read. */
export const formatToSourceError = (store: string, dataset: string, error: FormatError): SourceError =>
  new SourceError({
    store,
    dataset,
    ...(error.file === undefined ? {} : { file: error.file }),
    ...(error.line === undefined ? {} : { line: error.line }),
    ...(error.column === undefined ? {} : { column: error.column }),
    message: error.message
  })
