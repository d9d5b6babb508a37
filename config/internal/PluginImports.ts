/**
 * What a plugin's import needs. Plugins may be TypeScript and may import Ferry's own
 * modules. Run from its sources (tsx, vitest), Ferry loads both already. Run compiled
 * (bin/ferry.js over dist/), it registers tsx and the hook of CompiledModules.ts before
 * the first plugin loads, and only then: every import made while a loader hook is
 * registered costs a round trip to Node's loader thread, which runs without plugins
 * need not pay. Run bundled (dist/bundle/), it cannot load plugins at all: a plugin
 * would get second copies of effect, apache-arrow and Ferry's modules, so bin/ferry.js
 * runs the bundle only for a command whose files name no plugins.
 */
import { register } from "node:module"
import * as Effect from "effect/Effect"
import { PluginError } from "../../core/Errors.js"

let prepared = false

const bundled = import.meta.url.includes("/dist/bundle/")

/** Makes TypeScript plugins loadable, once, when Ferry runs compiled. */
export const preparePluginImports = (plugin: string): Effect.Effect<void, PluginError> =>
  bundled
    ? new PluginError({
        plugin,
        message:
          "this Ferry runs bundled (dist/bundle/), which cannot load plugins; run it with FERRY_BUNDLE=0 in the environment"
      })
    : Effect.promise(async () => {
        if (prepared || !import.meta.url.endsWith(".js")) return
        prepared = true
        const tsx = await import("tsx/esm/api")
        tsx.register()
        register("./CompiledModules.js", import.meta.url)
      })
