/**
 * Row filters. A share config writes a filter as an expression over columns,
 * `region = 'EU' and amount >= 100`; it is parsed once into this tree, which SQL
 * sources turn into a parameterised WHERE clause (never text pasted into SQL) and
 * other sources evaluate on Arrow batches.
 */

/** A literal as written; it takes its type from the column it is compared with. */
export type Literal =
  | { readonly kind: "string"; readonly text: string }
  | { readonly kind: "number"; readonly text: string }
  | { readonly kind: "boolean"; readonly value: boolean }

export type ComparisonOperator = "=" | "!=" | "<" | "<=" | ">" | ">="

export type Filter =
  | { readonly kind: "compare"; readonly column: string; readonly op: ComparisonOperator; readonly value: Literal }
  | { readonly kind: "in"; readonly column: string; readonly values: ReadonlyArray<Literal>; readonly negated: boolean }
  | {
      readonly kind: "between"
      readonly column: string
      readonly low: Literal
      readonly high: Literal
      readonly negated: boolean
    }
  | { readonly kind: "like"; readonly column: string; readonly pattern: string; readonly negated: boolean }
  | { readonly kind: "is_null"; readonly column: string; readonly negated: boolean }
  | { readonly kind: "and" | "or"; readonly left: Filter; readonly right: Filter }
  | { readonly kind: "not"; readonly operand: Filter }
