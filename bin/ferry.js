#!/usr/bin/env node
// Ferry is written in TypeScript. `npm ci` compiles it into dist/ and bundles the compiled CLI into dist/bundle/
// (the `prepare` script). This runs the bundle (through its code cache, bin/bundled.js) while it is current and no
// plugin is in play, else the compiled modules while they are current; otherwise (an edited checkout, no build)
// tsx compiles the sources on load.
import { fileURLToPath } from "node:url"
import { setFlagsFromString } from "node:v8"
import { BUNDLE_ENTRY, bundleServes, runnable } from "./compiled.js"

// After each full collection V8 lets the old generation grow by a factor it derives from
// the collector's speed, about two here, and starts the next one early when the room
// left is small next to the young generation, which Effect's allocation rate grows to
// its largest. A transfer then runs a full collection every few hundred milliseconds:
// 14 for a 2M-row table to CSV, 105 for 10M rows to Parquet (5 of its 33 CPU seconds).
// With room for three times what survived: 10 and 29, for 10 to 15 MiB more at the
// peak. V8 reads the factor at each collection, so it may be set once running.
setFlagsFromString("--heap-growing-percent=200")

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
