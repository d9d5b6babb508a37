#!/usr/bin/env node
// Ferry ships as TypeScript: tsx compiles it on load, and also lets plugins be written in TypeScript.
import { register } from "tsx/esm/api"

register()
await import("../runtime/cli/main.ts")
