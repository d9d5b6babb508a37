#!/usr/bin/env node
// Ferry is written in TypeScript. `npm ci` compiles it into dist/ and bundles the compiled CLI into dist/bundle/
// (the `prepare` script). This runs the bundle (through its code cache, bin/bundled.js) while it is current and no
// plugin is in play, else the compiled modules while they are current; otherwise (an edited checkout, no build)
// tsx compiles the sources on load.
import { fileURLToPath } from "node:url"
import { setFlagsFromString } from "node:v8"
import { BUNDLE_ENTRY, bundleServes, runnable } from "./compiled.js"

// V8 starts marking for a full collection when the room left in the old generation is
// smaller than the young generation, which Effect's allocation rate keeps at its largest:
// with V8's own heap growing factor, every few hundred milliseconds of a transfer. Room
// for 2.5 times what survived costs less CPU and memory than that; 3 saved more CPU but
// let dead buffers pile up past 300 MiB at the peak (docs/ARCHITECTURE.md). V8 reads the
// factor at each collection, so it may be set once running.
setFlagsFromString("--heap-growing-percent=150")

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
