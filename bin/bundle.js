// Bundles the compiled CLI (dist/runtime/cli/main.js) into one CommonJS file,
// dist/bundle/ferry.cjs, instead of about 900 modules, most of them Effect's, which
// Node would resolve, read and compile one by one at every start. bin/bundled.js runs
// it through a V8 code cache, which ES modules cannot have on Node 20: together, half
// the start-up time and 25 MiB of memory. `npm run build` runs this after tsc.
//
// bin/ferry.js runs the bundle only where no plugin is loaded (bin/compiled.js,
// `bundleServes`): a plugin imports effect, apache-arrow and Ferry's own modules from
// node_modules and dist/, and must share their instances with Ferry's code.
import { readFileSync, rmSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"

const root = fileURLToPath(new URL("..", import.meta.url))

const outdir = path.join(root, "dist/bundle")

/**
 * pg's lib/stream.js picks its socket at load by asking whether it runs in a Cloudflare
 * Worker; on Node 20, which has no `navigator`, it asks by constructing a `Response`,
 * which makes Node load undici, its fetch implementation: 30 to 50 ms of every start,
 * for a module Ferry never uses. The bundle runs only on Node, so it gets the Node
 * half of that module. The build fails if pg's module no longer has the shape
 * this replaces, rather than bundle a stale copy.
 */
const PG_STREAM_SHAPE = ["function isCloudflareRuntime()", "function getNodejsStreamFuncs()", "getSecureStream,"]
const nodeOnlyPgStream = {
  name: "pg-stream-node-only",
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/ }, (args) => {
      const original = readFileSync(args.path, "utf8")
      for (const expected of PG_STREAM_SHAPE) {
        if (!original.includes(expected)) {
          throw new Error(
            `${args.path} has changed (no "${expected}"): review the pg-stream-node-only plugin in bin/bundle.js`
          )
        }
      }
      return {
        loader: "js",
        contents: [
          'const net = require("net")',
          'const tls = require("tls")',
          "module.exports = {",
          "  getStream: () => new net.Socket(),",
          "  getSecureStream: (options) => tls.connect(options)",
          "}"
        ].join("\n")
      }
    })
  }
}
// An earlier build's files (and its code cache, which V8 would refuse anyway) go.
rmSync(outdir, { recursive: true, force: true })

await build({
  entryPoints: [path.join(root, "dist/runtime/cli/main.js")],
  outfile: path.join(outdir, "ferry.cjs"),
  bundle: true,
  // One script, which vm.Script can compile with a code cache. Modules imported with
  // import() (`ferry serve`, the Azure SDKs) are still evaluated only when imported.
  format: "cjs",
  // Non-ASCII characters escaped, so that bin/bundled.js may read the file as latin1.
  charset: "ascii",
  platform: "node",
  target: "node20",
  // No keepNames: it wraps every function in a call that redefines its `name`, at load
  // (7,800 of them) and each time a closure is made (0.05 to 0.14 s of a 2M-row run's
  // main thread in two profiles, in the closures Effect makes as it runs). Without
  // it, only the 240 functions and classes esbuild renames where two modules' top-level
  // names collide (`delay2`) show other names, in stack traces. Ferry's errors and
  // Effect's tagged errors name themselves by `_tag`, the Azure SDK's by `this.name`.
  // Less to read and parse at every start, and 4 MiB less memory; FERRY_BUNDLE=0 runs the readable modules.
  minifyWhitespace: true,
  minifySyntax: true,
  external: [
    // A native addon, found by its own path.
    "better-sqlite3",
    // An ES module, imported where it is used and loaded by file path in the Parquet writer's worker thread.
    "parquet-wasm",
    // pg's optional native binding, not installed.
    "pg-native",
    // Loaded for plugins only, which the bundle never loads.
    "tsx",
    "tsx/*"
  ],
  // The modules' own URL (resolving packages, telling bundled from compiled): the bundle's file.
  define: { "import.meta.url": "ferryBundleUrl" },
  banner: { js: "const ferryBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  plugins: [nodeOnlyPgStream],
  logLevel: "warning"
})
