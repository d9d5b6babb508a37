/**
 * The options of each format as a share config writes them, under `csv:`,
 * `parquet:` or `jsonl:` beside `format:` in a dataset source or a mapping.
 */
import * as Schema from "effect/Schema"

const SingleCharacter = Schema.String.pipe(Schema.length(1, { message: () => "a single character" }))

export const CsvOptions = Schema.Struct({
  delimiter: Schema.optionalWith(SingleCharacter, { default: () => "," }).annotations({
    description: "Field delimiter.",
    examples: [",", ";", "\t", "|"]
  }),
  quote: Schema.optionalWith(SingleCharacter, { default: () => '"' }).annotations({
    description: "Quote character; a quote inside a quoted field is doubled."
  }),
  header: Schema.optionalWith(Schema.Boolean, { default: () => true }).annotations({
    description: "Whether the first line names the columns. Without one, columns are column_1, column_2, …"
  }),
  null: Schema.optionalWith(Schema.String, { default: () => "" }).annotations({
    description:
      'The text that stands for NULL. With the default, an empty unquoted field is NULL and a quoted empty field ("") is an empty string.',
    examples: ["", "NULL", "\\N"]
  })
}).annotations({ identifier: "CsvOptions", description: "CSV (RFC 4180) reading and writing options." })
export type CsvOptions = typeof CsvOptions.Type

export const ParquetOptions = Schema.Struct({
  compression: Schema.optionalWith(Schema.Literal("snappy", "zstd", "none"), { default: () => "snappy" }).annotations({
    description: "Compression codec of written files."
  }),
  row_group_rows: Schema.optionalWith(Schema.Int.pipe(Schema.between(1_000, 10_000_000)), {
    default: () => 131_072
  }).annotations({ description: "Rows per row group in written files." })
}).annotations({ identifier: "ParquetOptions", description: "Parquet writing options." })
export type ParquetOptions = typeof ParquetOptions.Type

export const JsonlOptions = Schema.Struct({}).annotations({
  identifier: "JsonlOptions",
  description: "JSON Lines has no options: one JSON object per line, UTF-8."
})
export type JsonlOptions = typeof JsonlOptions.Type
