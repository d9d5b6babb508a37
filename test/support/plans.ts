/** Read plans for tests of sources. */
import * as Option from "effect/Option"
import type { ReadPlan } from "../../core/Source.js"

/** A full read of every column and row of `dataset`, changed by `overrides`. */
export const readPlan = <W>(dataset: string, overrides: Partial<ReadPlan<W>> = {}): ReadPlan<W> => ({
  dataset,
  mode: "full",
  after: Option.none(),
  columns: Option.none(),
  filter: Option.none(),
  incremental: Option.none(),
  ...overrides
})
