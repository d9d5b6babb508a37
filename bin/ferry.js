#!/usr/bin/env node
// Ferry is written in TypeScript. `npm ci` compiles it into dist/ (the `prepare` script), and this runs the
// compiled modules while they are current; otherwise (an edited checkout, no build) tsx compiles the sources on load.
import { fileURLToPath } from "node:url"
import { compiledIsCurrent } from "./compiled.js"

if (compiledIsCurrent(fileURLToPath(new URL("..", import.meta.url)))) {
  await import("../dist/runtime/cli/main.js")
} else {
  const { register } = await import("tsx/esm/api")
  register()
  await import("../runtime/cli/main.ts")
}
