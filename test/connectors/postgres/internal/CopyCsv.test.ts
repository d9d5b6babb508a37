/**
 * The rewriter of PostgreSQL's CSV output into Ferry's CSV, on text shaped as COPY
 * writes it (DateStyle ISO, TimeZone UTC): each field kind, the rare forms that take
 * the slow way, values the Arrow path refuses, and the same bytes whatever the chunks.
 * Identity with Ferry's own encoder on a real server: EncodedRead.integration.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import type { CsvDialect, CsvField } from "../../../../connectors/postgres/internal/CopyCsv.js"
import { CopyCsvRewriter, isRewritableDialect } from "../../../../connectors/postgres/internal/CopyCsv.js"
import { CopyDecodeError } from "../../../../connectors/postgres/internal/CopyBinary.js"

const DEFAULT: CsvDialect = { delimiter: ",", quote: '"', null: "" }

/** Feeds `input` in chunks of `size` bytes (all at once when absent) and returns the output. */
const rewrite = (fields: ReadonlyArray<CsvField>, input: string, dialect = DEFAULT, size?: number): string => {
  const rewriter = new CopyCsvRewriter(fields, dialect)
  const bytes = Buffer.from(input, "utf8")
  const out: Array<Uint8Array> = []
  const step = size ?? Math.max(bytes.length, 1)
  for (let at = 0; at < bytes.length; at += step) {
    const rows = rewriter.push(bytes.subarray(at, at + step))
    if (rows !== undefined) out.push(Buffer.from(rows))
  }
  const last = rewriter.end()
  if (last !== undefined) out.push(Buffer.from(last))
  return Buffer.concat(out).toString("utf8")
}

const field = (name: string, kind: CsvField["kind"]): CsvField => ({ name, kind })

const MIXED: ReadonlyArray<CsvField> = [
  field("id", "verbatim"),
  field("score", "float"),
  field("amount", "decimal"),
  field("name", "text"),
  field("ok", "bool"),
  field("day", "date"),
  field("naive", "timestamp"),
  field("zoned", "timestamptz")
]

const MIXED_INPUT = [
  '1,-72.201,-2998952.71,"line one\nline two, ""quoted""",t,2000-01-02,2023-11-14 22:13:21.000003,2023-11-14 22:13:21.000003+00',
  '2,,,"",f,,,',
  "3,1e-07,0.00, leading,t,0044-03-15 BC,0044-03-15 12:00:00 BC,0044-03-15 12:00:00+00 BC",
  "4,1e+15,1.50,trailing\t,f,10000-01-01,10000-01-01 00:00:00,12345-06-07 08:09:10.123+00",
  "5,-0,-0.01,inner space,t,0001-01-01 BC,1969-12-31 23:59:59.999999,1969-12-31 23:59:59.5+00",
  "6,5e-05,12.30,東京都 渋谷区,f,5874897-12-31,294247-01-10 04:00:54.775807,2262-04-11 23:47:16.854775+00",
  "7,NaN,0.00,x,t,2000-01-01,2000-01-01 00:00:00,2000-01-01 00:00:00+00",
  "8,-Infinity,0.00,x,t,2000-01-01,2000-01-01 00:00:00,2000-01-01 00:00:00+00",
  "9,1.2345e+25,0.00,x,t,2000-01-01,2000-01-01 00:00:00,2000-01-01 00:00:00+00",
  "10,2.5e-300,0.00,x,t,2000-01-01,2000-01-01 00:00:00,2000-01-01 00:00:00+00",
  ""
].join("\n")

const MIXED_OUTPUT = [
  '1,-72.201,-2998952.71,"line one\nline two, ""quoted""",true,2000-01-02,2023-11-14T22:13:21.000003,2023-11-14T22:13:21.000003Z',
  '2,,,"",false,,,',
  '3,1e-7,0.00," leading",true,-0043-03-15,-0043-03-15T12:00:00,-0043-03-15T12:00:00Z',
  '4,1000000000000000,1.50,"trailing\t",false,10000-01-01,10000-01-01T00:00:00,12345-06-07T08:09:10.123Z',
  "5,0,-0.01,inner space,true,0000-01-01,1969-12-31T23:59:59.999999,1969-12-31T23:59:59.5Z",
  "6,0.00005,12.30,東京都 渋谷区,false,5874897-12-31,294247-01-10T04:00:54.775807,2262-04-11T23:47:16.854775Z",
  "7,NaN,0.00,x,true,2000-01-01,2000-01-01T00:00:00,2000-01-01T00:00:00Z",
  "8,-Infinity,0.00,x,true,2000-01-01,2000-01-01T00:00:00,2000-01-01T00:00:00Z",
  "9,1.2345e+25,0.00,x,true,2000-01-01,2000-01-01T00:00:00,2000-01-01T00:00:00Z",
  "10,2.5e-300,0.00,x,true,2000-01-01,2000-01-01T00:00:00,2000-01-01T00:00:00Z",
  ""
].join("\n")

const failure = (fields: ReadonlyArray<CsvField>, input: string, dialect = DEFAULT): CopyDecodeError => {
  try {
    rewrite(fields, input, dialect)
  } catch (error) {
    if (error instanceof CopyDecodeError) return error
    throw error
  }
  throw new Error("expected the rewrite to fail")
}

describe("CopyCsvRewriter", () => {
  it("rewrites each kind of field into Ferry's text form", () => {
    expect(rewrite(MIXED, MIXED_INPUT)).toBe(MIXED_OUTPUT)
  })

  it("gives the same bytes whatever the chunks, down to single bytes", () => {
    for (const size of [1, 2, 3, 5, 7, 64, 1000]) expect(rewrite(MIXED, MIXED_INPUT, DEFAULT, size)).toBe(MIXED_OUTPUT)
  })

  it("finds every delimiter, quote and line feed wherever it falls in a four-byte word", () => {
    // Fields of every length from 0 to 8, some quoted around delimiters, quotes and line
    // feeds, so that each special byte comes at each offset of the words read at once.
    let seed = 7
    const next = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
      return seed % n
    }
    const value = () => {
      const text = Array.from({ length: next(9) }, () => 'ab,"\nc'[next(6)]!).join("")
      return /[,"\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
    }
    const fields = [field("a", "verbatim"), field("b", "text"), field("c", "verbatim")]
    const lines = Array.from({ length: 2_000 }, () => `${value()},${value()},${value()}\n`)
    const input = lines.join("")
    for (const size of [undefined, 5, 4096]) expect(rewrite(fields, input, DEFAULT, size)).toBe(input)
  })

  it("counts the rows it rewrote", () => {
    const rewriter = new CopyCsvRewriter(MIXED, DEFAULT)
    rewriter.push(Buffer.from(MIXED_INPUT))
    rewriter.end()
    expect(rewriter.rows).toBe(10)
  })

  it("hands out rows in chunks of about 256 KiB, and the rest at the end", () => {
    const rewriter = new CopyCsvRewriter([field("t", "text")], DEFAULT)
    const line = `${"x".repeat(99)}\n`
    const chunks: Array<number> = []
    for (let i = 0; i < 30_000; i++) {
      const rows = rewriter.push(Buffer.from(line))
      if (rows !== undefined) chunks.push(rows.length)
    }
    const last = rewriter.end()
    expect(chunks.length).toBe(11)
    expect(chunks.every((length) => length >= 256 << 10 && length < (256 << 10) + 100)).toBe(true)
    expect(chunks.reduce((sum, length) => sum + length, 0) + (last?.length ?? 0)).toBe(3_000_000)
  })

  /** Rows of `MIXED_INPUT`, about 5 MiB of them, fed in 64 KiB pieces; `give` decides which chunks come back. */
  const recycling = (give: (chunk: Uint8Array, index: number) => boolean) => {
    const rewriter = new CopyCsvRewriter(MIXED, DEFAULT)
    const input = Buffer.from(MIXED_INPUT.repeat(6 << 10))
    const chunks: Array<{ readonly bytes: Uint8Array; readonly copy: Buffer }> = []
    const take = (chunk: Uint8Array | undefined) => {
      if (chunk === undefined) return
      chunks.push({ bytes: chunk, copy: Buffer.from(chunk) })
      // The chunk before this one is done with, as a writer is once it pulls the next.
      const previous = chunks.length - 2
      if (previous >= 0 && give(chunks[previous]!.bytes, previous)) rewriter.recycle(chunks[previous]!.bytes)
    }
    for (let at = 0; at < input.length; at += 64 << 10) take(rewriter.push(input.subarray(at, at + (64 << 10))))
    take(rewriter.end())
    const expected = Buffer.from(MIXED_OUTPUT.repeat(6 << 10))
    return { rewriter, chunks, expected, slabs: new Set(chunks.map((chunk) => chunk.bytes.buffer)).size }
  }

  it("writes into a slab again once every chunk of it has come back, and nowhere still read", () => {
    const { chunks, expected, slabs } = recycling(() => true)
    expect(Buffer.concat(chunks.map((chunk) => chunk.copy)).equals(expected)).toBe(true)
    // About 20 chunks of 256 KiB over slabs of 1 MiB: a handful go round.
    expect(chunks.length).toBeGreaterThan(15)
    expect(slabs).toBeLessThanOrEqual(4)
    // The chunk still out when each was handed out was not written over.
    const last = chunks.at(-1)!
    expect(Buffer.from(last.bytes).equals(last.copy)).toBe(true)
  })

  it("allocates anew while chunks stay out, and never writes over one that did not come back", () => {
    const { chunks, expected, slabs } = recycling((_, index) => index % 2 === 0)
    expect(Buffer.concat(chunks.map((chunk) => chunk.copy)).equals(expected)).toBe(true)
    for (const [index, chunk] of chunks.entries()) {
      if (index % 2 === 1) expect(Buffer.from(chunk.bytes).equals(chunk.copy)).toBe(true)
    }
    const kept = recycling(() => false)
    expect(kept.slabs).toBeGreaterThan(slabs - 1)
    expect(kept.slabs).toBeGreaterThanOrEqual(6)
    for (const chunk of kept.chunks) expect(Buffer.from(chunk.bytes).equals(chunk.copy)).toBe(true)
  })

  it("ignores chunks it did not hand out", () => {
    const rewriter = new CopyCsvRewriter(MIXED, DEFAULT)
    rewriter.recycle(Buffer.from("not a chunk of this rewriter"))
    expect(rewriter.push(Buffer.from(MIXED_INPUT))).toBeUndefined()
    expect(Buffer.from(rewriter.end()!).toString("utf8")).toBe(MIXED_OUTPUT)
  })

  it("quotes text with a leading or trailing space or tab, and leaves the rest as PostgreSQL wrote it", () => {
    const text = [field("t", "text"), field("u", "text")]
    expect(rewrite(text, ' a,b \n\tc,"d, e"\n,""\n"q""",x\n')).toBe('" a","b "\n"\tc","d, e"\n,""\n"q""",x\n')
  })

  it("unquotes a lone backslash-dot in a one-column file, which PostgreSQL quotes and Ferry does not", () => {
    expect(rewrite([field("t", "text")], '"\\."\n\\.x\n')).toBe("\\.\n\\.x\n")
    expect(rewrite([field("t", "text"), field("u", "text")], '\\.,"\\."\n')).toBe('\\.,"\\."\n')
  })

  it("leaves NULLs as the marker, and quotes a rewritten value equal to the marker", () => {
    const dialect: CsvDialect = { delimiter: ",", quote: '"', null: "true" }
    expect(rewrite([field("b", "bool"), field("t", "text")], 'true,"true"\nt,x\nf,\n', dialect)).toBe(
      'true,"true"\n"true",x\nfalse,\n'
    )
    const marker: CsvDialect = { delimiter: ";", quote: "'", null: "NULL" }
    expect(rewrite([field("b", "bool"), field("d", "float")], "NULL;1e-07\nt;NULL\n", marker)).toBe(
      "NULL;1e-7\ntrue;NULL\n"
    )
    const instant: CsvDialect = { delimiter: ",", quote: '"', null: "2024-01-02T03:04:05Z" }
    expect(
      rewrite(
        [field("at", "timestamptz"), field("local", "timestamp")],
        "2024-01-02 03:04:05+00,2024-01-02 03:04:05\n2024-01-02T03:04:05Z,2024-01-02 03:04:05.5\n",
        instant
      )
    ).toBe('"2024-01-02T03:04:05Z",2024-01-02T03:04:05\n2024-01-02T03:04:05Z,2024-01-02T03:04:05.5\n')
  })

  it("refuses what the Arrow path refuses, naming the column", () => {
    const cases: ReadonlyArray<readonly [CsvField, string, string]> = [
      [field("d", "date"), "infinity", "holds infinity, which a date cannot carry"],
      [field("d", "date"), "-infinity", "holds -infinity, which a date cannot carry"],
      [field("t", "timestamp"), "infinity", "holds infinity, which a timestamp cannot carry"],
      [field("z", "timestamptz"), "-infinity", "holds -infinity, which a timestamp cannot carry"],
      [field("t", "timestamp"), "294247-01-10 04:00:54.775808", "holds an instant after 294247-01-10T04:00:54.775807Z"],
      [
        field("z", "timestamptz"),
        "294276-12-31 23:59:59.999999+00",
        "holds an instant after 294247-01-10T04:00:54.775807Z"
      ],
      [field("n", "decimal"), "NaN", "holds NaN, which a decimal cannot carry"],
      [field("n", "decimal"), "-Infinity", "holds -Infinity, which a decimal cannot carry"]
    ]
    for (const [column, value, message] of cases) {
      const error = failure([column], `${value}\n`)
      expect(error.column).toBe(column.name)
      expect(error.message).toContain(message)
    }
  })

  it("refuses rows of the wrong width and data that ends inside a row", () => {
    expect(failure(MIXED, "1,2\n").message).toBe("a row of 2 fields, where 8 were asked for")
    expect(failure([field("a", "verbatim")], "1,2\n").message).toBe("a row of more than 1 fields")
    expect(failure([field("a", "text")], '"open\n').message).toBe("the COPY data ended inside a row")
  })
})

describe("isRewritableDialect", () => {
  it("takes dialects PostgreSQL can write whose delimiter and quote no number or date contains", () => {
    expect(isRewritableDialect(DEFAULT)).toBe(true)
    expect(isRewritableDialect({ delimiter: "\t", quote: '"', null: "\\N" })).toBe(true)
    expect(isRewritableDialect({ delimiter: ";", quote: "'", null: "NULL" })).toBe(true)
    expect(isRewritableDialect({ delimiter: "|", quote: "`", null: "" })).toBe(true)
  })

  it("refuses the others", () => {
    for (const dialect of [
      { delimiter: ".", quote: '"', null: "" },
      { delimiter: ",", quote: "-", null: "" },
      { delimiter: " ", quote: '"', null: "" },
      { delimiter: ",", quote: ",", null: "" },
      { delimiter: "¦", quote: '"', null: "" },
      { delimiter: ",", quote: '"', null: "a,b" },
      { delimiter: ",", quote: '"', null: 'say "x"' },
      { delimiter: ",", quote: '"', null: "line\nbreak" }
    ]) {
      expect(isRewritableDialect(dialect)).toBe(false)
    }
  })
})
