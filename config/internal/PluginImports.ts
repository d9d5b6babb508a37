/**
 * What a plugin's import needs. Plugins may be TypeScript and may import Ferry's own
 * modules. Run from its sources (tsx, vitest), Ferry loads both already. Run compiled
 * (bin/ferry.js over dist/), it registers tsx and the hook of CompiledModules.ts before
 * the first plugin loads, and only then: every import made while a loader hook is
 * registered costs a round trip to Node's loader thread, which runs without plugins
 * need not pay.
 */
import { register } from "node:module"
import * as Effect from "effect/Effect"

let prepared = false

/** Makes TypeScript plugins loadable, once, when Ferry runs compiled. */
export const preparePluginImports: Effect.Effect<void> = Effect.promise(async () => {
  if (prepared || !import.meta.url.endsWith(".js")) return
  prepared = true
  const tsx = await import("tsx/esm/api")
  tsx.register()
  register("./CompiledModules.js", import.meta.url)
})
