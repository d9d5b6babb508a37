// Bundles the compiled CLI (dist/runtime/cli/main.js) into dist/bundle/: a handful of
// files instead of about 900 modules, most of them Effect's, which Node would resolve,
// read and compile one by one at every start. Half the start-up time and 25 MiB of
// memory go with them. `npm run build` runs this after tsc.
//
// bin/ferry.js runs the bundle only where no plugin is loaded (bin/compiled.js,
// `bundleServes`): a plugin imports effect, apache-arrow and Ferry's own modules from
// node_modules and dist/, and must share their instances with Ferry's code.
import { rmSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"

const root = fileURLToPath(new URL("..", import.meta.url))

const outdir = path.join(root, "dist/bundle")
// Chunk names carry a hash of their content: an earlier build's chunks would stay beside the new ones.
rmSync(outdir, { recursive: true, force: true })

await build({
  entryPoints: [path.join(root, "dist/runtime/cli/main.js")],
  outdir,
  bundle: true,
  // `ferry serve`'s modules and the Azure SDKs stay in chunks of their own, loaded when used.
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // Class names show in errors and logs; without this, esbuild renames classes whose names collide.
  keepNames: true,
  // Less to read and parse at every start, and 4 MiB less memory; FERRY_BUNDLE=0 runs the readable modules.
  minifyWhitespace: true,
  minifySyntax: true,
  external: [
    // A native addon, found by its own path.
    "better-sqlite3",
    // Loaded by file path in the Parquet writer's worker thread.
    "parquet-wasm",
    // pg's optional native binding, not installed.
    "pg-native",
    // Loaded for plugins only, which the bundle never loads.
    "tsx",
    "tsx/*"
  ],
  // CommonJS dependencies call require() for Node's built-ins; an ES module has none of its own.
  banner: {
    js: "import { createRequire as ferryCreateRequire } from 'node:module'; const require = ferryCreateRequire(import.meta.url);"
  },
  logLevel: "warning"
})
