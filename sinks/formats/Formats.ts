/** The table formats Ferry reads and writes, by name. */
import { Csv } from "./Csv.js"
import type { FormatName, TableFormat } from "./Format.js"
import { Jsonl } from "./Jsonl.js"
import { Parquet } from "./Parquet.js"

export const FORMATS: ReadonlyArray<TableFormat<unknown>> = [
  Csv as TableFormat<unknown>,
  Parquet as TableFormat<unknown>,
  Jsonl as TableFormat<unknown>
]

export const formatNamed = (name: FormatName): TableFormat<unknown> => FORMATS.find((format) => format.name === name)!
