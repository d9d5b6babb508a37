/**
 * The YAML side of config validation: parsing with positions, finding the node a
 * config path names, and mapping an offset inside a scalar's value back to the file.
 */
import type { Document, Node, Pair } from "yaml"
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, Scalar } from "yaml"

export type PathSegment = string | number
export type Path = ReadonlyArray<PathSegment>

export interface Position {
  readonly line: number
  readonly column: number
}

export interface YamlFile {
  readonly text: string
  readonly doc: Document.Parsed
  readonly lineCounter: LineCounter
}

export interface YamlSyntaxError {
  readonly position: Position
  readonly message: string
}

export const parseYaml = (
  text: string
): { readonly file: YamlFile; readonly errors: ReadonlyArray<YamlSyntaxError> } => {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, version: "1.2" })
  const file: YamlFile = { text, doc, lineCounter }
  const errors = doc.errors.map((error) => {
    const [start, end] = error.pos
    const message =
      error.code === "DUPLICATE_KEY"
        ? `duplicate key ${JSON.stringify(keyAt(text, start) ?? text.slice(start, end))}`
        : error.message.charAt(0).toLowerCase() + error.message.slice(1)
    return { position: positionAt(file, start), message }
  })
  return { file, errors }
}

const KEY = /^(?:"((?:[^"\\]|\\.)*)"|'((?:[^']|'')*)'|([^:#\n]*?))\s*:(?:\s|$)/

/** The text of the map key that starts at `offset`. */
const keyAt = (text: string, offset: number): string | undefined => {
  const match = KEY.exec(text.slice(offset).split("\n")[0] ?? "")
  return match === null ? undefined : (match[1] ?? match[2]?.replace(/''/g, "'") ?? match[3])
}

export const positionAt = (file: YamlFile, offset: number): Position => {
  const { col, line } = file.lineCounter.linePos(offset)
  return { line, column: col }
}

const keyText = (key: unknown): string | undefined =>
  isScalar(key) ? String(key.value) : typeof key === "string" ? key : undefined

const start = (node: unknown): number | undefined =>
  isScalar(node) || isMap(node) || isSeq(node) || isAlias(node) ? node.range?.[0] : undefined

export interface Located {
  /** The deepest node found along the path. */
  readonly node: Node | null
  /** True when the whole path was found. */
  readonly complete: boolean
  /** The pair holding the last segment, when it is a map key. */
  readonly pair: Pair | undefined
}

/** Follows a config path through maps, sequences and aliases. */
export const findNode = (file: YamlFile, path: Path): Located => {
  let node: unknown = file.doc.contents
  let pair: Pair | undefined
  for (const segment of path) {
    if (isAlias(node)) node = node.resolve(file.doc)
    if (isMap(node)) {
      const found = node.items.find((item) => keyText(item.key) === String(segment))
      if (found === undefined) return { node: node as Node, complete: false, pair: undefined }
      pair = found
      // An empty value (`key:`) has no node: the key stands for it.
      node = found.value ?? found.key
    } else if (isSeq(node) && typeof segment === "number" && node.items[segment] !== undefined) {
      pair = undefined
      node = node.items[segment]
    } else {
      return { node: (node ?? null) as Node | null, complete: false, pair: undefined }
    }
  }
  return { node: (node ?? null) as Node | null, complete: true, pair }
}

/**
 * Where a problem at `path` is shown: the value, or for `key` the key of the pair
 * (an unknown key is pointed at, not its value). A path that runs past the file
 * (a default value) points at the deepest node that exists.
 */
export const locate = (file: YamlFile, path: Path, anchor: "value" | "key" = "value"): Position => {
  const located = findNode(file, path)
  const offset =
    (anchor === "key" && located.complete && located.pair !== undefined ? start(located.pair.key) : undefined) ??
    start(located.node) ??
    0
  return positionAt(file, offset)
}

/** The scalar at `path`, if the path ends at one. */
export const scalarAt = (file: YamlFile, path: Path): Scalar | undefined => {
  const located = findNode(file, path)
  return located.complete && isScalar(located.node) ? located.node : undefined
}

const SIMPLE_ESCAPES: Record<string, string> = {
  "0": "\0",
  a: "\x07",
  b: "\b",
  t: "\t",
  "\t": "\t",
  n: "\n",
  v: "\v",
  f: "\f",
  r: "\r",
  e: "\x1b",
  " ": " ",
  '"': '"',
  "/": "/",
  "\\": "\\",
  N: "\u0085",
  _: "\u00a0",
  L: "\u2028",
  P: "\u2029"
}

const HEX_ESCAPE_LENGTH: Record<string, number> = { x: 2, u: 4, U: 8 }

/**
 * Source offsets of each UTF-16 unit of a one-line flow scalar's value and of its end, or undefined
 * when the value is not what the source spells (multi-line, block, or rewritten).
 */
const valueOffsets = (file: YamlFile, scalar: Scalar): ReadonlyArray<number> | undefined => {
  const range = scalar.range
  if (range === undefined || range === null || typeof scalar.value !== "string") return undefined
  const source = file.text.slice(range[0], range[1])
  if (source.includes("\n")) return undefined
  const offsets: Array<number> = []
  let decoded = ""
  if (scalar.type === Scalar.PLAIN) {
    for (let i = 0; i < source.length; i++) offsets.push(range[0] + i)
    decoded = source
  } else if (scalar.type === Scalar.QUOTE_SINGLE) {
    for (let i = 1; i < source.length - 1; i++) {
      offsets.push(range[0] + i)
      decoded += source[i]
      if (source[i] === "'") i++
    }
  } else if (scalar.type === Scalar.QUOTE_DOUBLE) {
    for (let i = 1; i < source.length - 1; i++) {
      const char = source[i]!
      if (char !== "\\") {
        offsets.push(range[0] + i)
        decoded += char
        continue
      }
      const code = source[i + 1] ?? ""
      const hexLength = HEX_ESCAPE_LENGTH[code]
      const text =
        hexLength === undefined
          ? SIMPLE_ESCAPES[code]
          : String.fromCodePoint(parseInt(source.slice(i + 2, i + 2 + hexLength), 16))
      if (text === undefined) return undefined
      for (let unit = 0; unit < text.length; unit++) offsets.push(range[0] + i)
      decoded += text
      i += 1 + (hexLength ?? 0)
    }
  } else {
    return undefined
  }
  // The end of the value, for a problem found after its last character.
  offsets.push(scalar.type === Scalar.PLAIN ? range[1] : range[1] - 1)
  return decoded === scalar.value ? offsets : undefined
}

/**
 * The file position of character `offset` of a scalar's value: exact for a one-line
 * plain or quoted scalar, else the scalar's start.
 */
export const positionInScalar = (file: YamlFile, scalar: Scalar, offset: number): Position => {
  const offsets = valueOffsets(file, scalar)
  const at = offsets?.[Math.max(0, Math.min(offset, offsets.length - 1))]
  return positionAt(file, at ?? scalar.range?.[0] ?? 0)
}
