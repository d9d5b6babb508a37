import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { formatConfigError } from "../../config/ConfigError.js"
import { issuesOf, loaded, loadText, variant } from "./support.js"

const SECRET = "hunter2-Xy9"

describe("${env:NAME}", () => {
  it.effect("replaces a whole value and a part of a longer one", () =>
    Effect.gen(function* () {
      const config = yield* loaded(
        variant(
          ["table: customers }", 'table: "${env:TABLE}" }'],
          ["  - name: retail\n", "  - name: retail\n    description: Shared by the ${env:TEAM} team, ${env:TEAM}!\n"]
        ),
        { env: { TABLE: "customers", TEAM: "data" } }
      )
      const share = config.shares[0]!
      expect(share.description).toEqual(Option.some("Shared by the data team, data!"))
      expect(share.datasets[0]!.source.config).toEqual({ table: "customers", batch_rows: 1024 })
    })
  )

  it.effect("keeps $${env:NAME} as the literal text ${env:NAME}", () =>
    Effect.gen(function* () {
      const config = yield* loaded(
        variant(["  - name: retail\n", "  - name: retail\n    terms: Write $${env:HOME} to mean your home folder.\n"]),
        { env: {} }
      )
      expect(config.shares[0]!.terms).toEqual(Option.some("Write ${env:HOME} to mean your home folder."))
    })
  )

  it.effect("reports a missing variable at the reference, one per reference", () =>
    Effect.gen(function* () {
      expect(
        yield* issuesOf(
          variant(
            ["table: customers }", 'table: "${env:TABLE}" }'],
            ["  - name: retail\n", "  - name: retail\n    description: by ${env:TEAM} and ${env:OTHER}\n"]
          ),
          { env: { OTHER: "x" } }
        )
      ).toEqual([
        "13:21 shares[0].description: environment variable TEAM is not set",
        "17:48 shares[0].datasets[0].source.table: environment variable TABLE is not set"
      ])
    })
  )

  it.effect("rejects a reference whose name is not a variable name", () =>
    Effect.gen(function* () {
      expect(
        yield* issuesOf(variant(["  - name: retail\n", "  - name: retail\n    description: ${env:1X}\n"]))
      ).toEqual([
        '13:18 shares[0].description: "${env:1X}" is not a variable reference: a name is letters, digits and _'
      ])
    })
  )

  it.effect("never prints a value that came from the environment", () =>
    Effect.gen(function* () {
      const text = variant(
        ["    account: contoso\n    datasets:", '    account: contoso\n    kind: "${env:SECRET}"\n    datasets:'],
        ['updated_at: "timestamp(us, UTC)" }', 'updated_at: "${env:SECRET}" }'],
        [
          "        source: { store: provider-mem, table: customers }",
          '        source: { store: provider-mem, table: customers }\n        filter: "a = ${env:SECRET}"'
        ]
      )
      const result = yield* loadText(text, { env: { SECRET } })
      if (Either.isRight(result)) throw new Error("expected the config to fail")
      const printed = formatConfigError(result.left)
      expect(printed).not.toContain(SECRET)
      expect(printed).not.toContain("hunter2")
      const lines = printed.split("\n")
      // Schema messages about the values say <redacted> where the value would be.
      expect(lines).toContainEqual(
        expect.stringMatching(/stores\.provider-mem\.tables\.customers\.columns\.updated_at: unknown type "<redacted>"/)
      )
      expect(lines).toContainEqual(
        expect.stringMatching(/shares\[0\]\.kind: expected one of "snapshot" \| "in_place", got <redacted>$/)
      )
      // A filter that came from the environment is pointed at as a whole.
      expect(lines).toContainEqual(expect.stringMatching(/:18:17: shares\[0\]\.datasets\[0\]\.filter: invalid filter/))
    })
  )
})
