import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { readdirSync } from "node:fs"
import * as path from "node:path"
import { formatConfigError } from "../../config/ConfigError.js"
import { loadConfig } from "../../config/LoadConfig.js"
import { builtins } from "../../runtime/Builtins.js"

const examples = path.resolve(import.meta.dirname, "../../examples")
const configs = readdirSync(examples).filter((file) => /\.ya?ml$/.test(file))

describe("examples", () => {
  it("has configs to check", () => {
    expect(configs).toContain("quickstart.yaml")
  })

  it.each(configs)("%s validates", async (file) => {
    const result = await Effect.runPromise(Effect.either(loadConfig(path.join(examples, file), { builtins })))
    if (result._tag === "Left") expect.fail(formatConfigError(result.left))
    expect(result.right.subscriptions.length + result.right.shares.length).toBeGreaterThan(0)
  })
})
