/**
 * Parquet logical types for JSON and UUID columns, which the Rust writer does not
 * annotate (it keeps them only in the embedded Arrow schema, which other readers
 * ignore). Written files get them in the footer, so that DuckDB, Spark or pyarrow read
 * `JSON` and `UUID` columns; files written by others are read with them, so that a
 * UUID column written by DuckDB is a Ferry uuid and not 16 anonymous bytes.
 *
 * Only schema elements change: column chunks and page indexes sit before the footer,
 * so their offsets stay right.
 */
import * as Arrow from "apache-arrow"
import type { LogicalType } from "../../../core/Types.js"
import { EXTENSION_NAME_KEY, JSON_EXTENSION, UUID_EXTENSION } from "../../../core/Types.js"
import type { ThriftList, ThriftStruct } from "./ThriftCompact.js"
import {
  decodeStruct,
  emptyStruct,
  encodeStruct,
  field,
  setField,
  ThriftDecodeError,
  ThriftType
} from "./ThriftCompact.js"

/** What the footer says about a column beyond its physical type. */
export type Annotation = { readonly kind: "json" | "uuid" } | { readonly kind: "list"; readonly element: Annotation }

const MAGIC = [0x50, 0x41, 0x52, 0x31] // "PAR1"
const FILE_METADATA_SCHEMA = 2
const SCHEMA_NAME = 4
const SCHEMA_NUM_CHILDREN = 5
const SCHEMA_CONVERTED_TYPE = 6
const SCHEMA_LOGICAL_TYPE = 10
const LOGICAL_JSON = 12
const LOGICAL_UUID = 14
const CONVERTED_JSON = 19n

interface SchemaNode {
  readonly element: ThriftStruct
  readonly name: string
  readonly children: ReadonlyArray<SchemaNode>
}

const decoder = new TextDecoder()

/** Rebuilds the tree the footer stores depth-first, each group followed by its children. */
const schemaTree = (metadata: ThriftStruct): ReadonlyArray<SchemaNode> => {
  const elements = (field(metadata, FILE_METADATA_SCHEMA) as ThriftList | undefined)?.items ?? []
  let next = 0
  const node = (): SchemaNode => {
    const element = elements[next++] as ThriftStruct | undefined
    if (element === undefined) throw new ThriftDecodeError("the footer's schema ends early")
    const count = Number((field(element, SCHEMA_NUM_CHILDREN) as bigint | undefined) ?? 0n)
    const children: Array<SchemaNode> = []
    for (let i = 0; i < count; i++) children.push(node())
    const name = field(element, SCHEMA_NAME)
    return { element, name: name instanceof Uint8Array ? decoder.decode(name) : "", children }
  }
  return elements.length === 0 ? [] : node().children
}

/** The footer's bytes within `tail`, the end of a file, when all of it is there. */
const footerRange = (tail: Uint8Array): { start: number; end: number } | undefined => {
  if (tail.length < 8 || MAGIC.some((byte, i) => tail[tail.length - 4 + i] !== byte)) return undefined
  const length = new DataView(tail.buffer, tail.byteOffset + tail.length - 8, 4).getUint32(0, true)
  const end = tail.length - 8
  return length > end ? undefined : { start: end - length, end }
}

const logicalOf = (element: ThriftStruct): number | undefined =>
  (field(element, SCHEMA_LOGICAL_TYPE) as ThriftStruct | undefined)?.fields[0]?.id

/** The list element of the standard three-level LIST layout. */
const listElement = (node: SchemaNode): SchemaNode | undefined => node.children[0]?.children[0] ?? node.children[0]

const annotationOf = (node: SchemaNode): Annotation | undefined => {
  if (node.children.length === 0) {
    const logical = logicalOf(node.element)
    if (logical === LOGICAL_UUID) return { kind: "uuid" }
    const converted = field(node.element, SCHEMA_CONVERTED_TYPE)
    if (logical === LOGICAL_JSON || converted === CONVERTED_JSON) return { kind: "json" }
    return undefined
  }
  const element = listElement(node)
  const inner = element === undefined ? undefined : annotationOf(element)
  return inner === undefined ? undefined : { kind: "list", element: inner }
}

/** Annotations of the top-level columns of a file, from the bytes that end it (the footer and its length). */
export const readAnnotations = (tail: Uint8Array): ReadonlyMap<string, Annotation> => {
  const range = footerRange(tail)
  if (range === undefined) return new Map()
  const annotations = new Map<string, Annotation>()
  for (const node of schemaTree(decodeStruct(tail.subarray(range.start, range.end)))) {
    const annotation = annotationOf(node)
    if (annotation !== undefined) annotations.set(node.name, annotation)
  }
  return annotations
}

const needsAnnotation = (type: LogicalType): boolean =>
  type.kind === "json" || type.kind === "uuid" || (type.kind === "list" && needsAnnotation(type.element))

const annotate = (node: SchemaNode, type: LogicalType): boolean => {
  if (type.kind === "list") {
    const element = listElement(node)
    return element !== undefined && annotate(element, type.element)
  }
  if (node.children.length > 0 || (type.kind !== "json" && type.kind !== "uuid")) return false
  const logical = emptyStruct()
  setField(logical, type.kind === "json" ? LOGICAL_JSON : LOGICAL_UUID, ThriftType.Struct, emptyStruct())
  setField(node.element, SCHEMA_LOGICAL_TYPE, ThriftType.Struct, logical)
  if (type.kind === "json") setField(node.element, SCHEMA_CONVERTED_TYPE, ThriftType.I32, CONVERTED_JSON)
  return true
}

/**
 * The end of a file with JSON and UUID columns annotated in its footer. `tail` is the
 * writer's last chunk; it comes back unchanged when it holds no whole footer or when no
 * column needs annotating.
 */
export const annotateFooter = (
  tail: Uint8Array,
  columns: ReadonlyArray<{ readonly name: string; readonly type: LogicalType }>
): Uint8Array => {
  const range = columns.some((column) => needsAnnotation(column.type)) ? footerRange(tail) : undefined
  if (range === undefined) return tail
  const metadata = decodeStruct(tail.subarray(range.start, range.end))
  const nodes = new Map(schemaTree(metadata).map((node) => [node.name, node]))
  let changed = false
  for (const column of columns) {
    const node = nodes.get(column.name)
    if (node !== undefined && annotate(node, column.type)) changed = true
  }
  if (!changed) return tail
  const footer = encodeStruct(metadata)
  const result = new Uint8Array(range.start + footer.length + 8)
  result.set(tail.subarray(0, range.start))
  result.set(footer, range.start)
  new DataView(result.buffer).setUint32(range.start + footer.length, footer.length, true)
  result.set(MAGIC, range.start + footer.length + 4)
  return result
}

/** The Arrow field a reader returned, with the extension name the footer's logical type implies. */
export const annotateField = (arrowField: Arrow.Field, annotation: Annotation | undefined): Arrow.Field => {
  if (annotation === undefined || arrowField.metadata.has(EXTENSION_NAME_KEY)) return arrowField
  const type = arrowField.type as Arrow.DataType
  const extension = (name: string) =>
    arrowField.clone({ metadata: new Map([...arrowField.metadata, [EXTENSION_NAME_KEY, name]]) })
  if (annotation.kind === "json" && Arrow.DataType.isUtf8(type)) return extension(JSON_EXTENSION)
  if (annotation.kind === "uuid" && Arrow.DataType.isFixedSizeBinary(type) && type.byteWidth === 16) {
    return extension(UUID_EXTENSION)
  }
  if (annotation.kind === "list" && Arrow.DataType.isList(type) && type.children[0] !== undefined) {
    return arrowField.clone({ type: new Arrow.List(annotateField(type.children[0], annotation.element)) })
  }
  return arrowField
}
