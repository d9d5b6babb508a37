#!/usr/bin/env node
// Ferry is written in TypeScript. `npm ci` compiles it into dist/ and bundles the compiled CLI into dist/bundle/
// (the `prepare` script). This runs the bundle (through its code cache, bin/bundled.js) while it is current and no
// plugin is in play, else the compiled modules while they are current; otherwise (an edited checkout, no build)
// tsx compiles the sources on load.
import { fileURLToPath } from "node:url"
import { BUNDLE_ENTRY, bundleServes, runnable } from "./compiled.js"

const available = runnable(fileURLToPath(new URL("..", import.meta.url)))
if (available === "bundle" && bundleServes(process.argv.slice(2))) {
  const { runBundle } = await import("./bundled.js")
  runBundle(fileURLToPath(new URL(`../${BUNDLE_ENTRY}`, import.meta.url)))
} else if (available !== "sources") {
  await import("../dist/runtime/cli/main.js")
} else {
  const { register } = await import("tsx/esm/api")
  register()
  await import("../runtime/cli/main.ts")
}
