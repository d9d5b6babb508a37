// Runs the bundle (dist/bundle/ferry.cjs, made by bin/bundle.js) through a V8 code
// cache beside it: the bytecode of the functions an earlier run of the same command
// compiled, which spares this one compiling 5 MB of JavaScript. One cache per command
// (`ferry.cjs.run.cache`, …), since each holds only what its command ran: `ferry
// --help` first would otherwise leave every later `ferry run` half cached. A command's
// first run, and a run whose Node or V8 flags differ from the cache's (V8 refuses it
// then), writes its cache as it exits or a second after it started, whichever comes
// first: by then it has compiled its start-up, and a longer run would lose that
// bytecode, which V8 drops from functions unused for a few collections. Where the
// folder is read-only, the bundle runs uncached.
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import Module, { createRequire } from "node:module"
import * as path from "node:path"
import { setTimeout } from "node:timers"
import { pathToFileURL } from "node:url"
import * as vm from "node:vm"

/** When a long run writes its cache: after its start-up, before V8 drops the bytecode of code run only then. */
const CACHE_AFTER_MS = 1000

/** The command of a command line (`run`, `validate`, …), as a file name's part. */
export const commandOf = (args) => {
  const command = args.find((arg) => !arg.startsWith("-"))
  return command !== undefined && /^[a-z][a-z-]*$/.test(command) ? command : "default"
}

export const runBundle = (file, args = process.argv.slice(2)) => {
  const cacheFile = `${file}.${commandOf(args)}.cache`
  let cachedData
  try {
    cachedData = readFileSync(cacheFile)
  } catch {
    cachedData = undefined
  }
  // The bundle is ASCII (bin/bundle.js), which latin1 reads byte for byte: a third faster than decoding UTF-8.
  const script = new vm.Script(Module.wrap(readFileSync(file, "latin1")), {
    filename: file,
    cachedData,
    // The bundle imports parquet-wasm, an ES module, with import().
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER
  })
  if (cachedData === undefined || script.cachedDataRejected) {
    // Written after the code ran, the cache holds every function compiled so far, not only the top level.
    let written = false
    const write = () => {
      if (written) return
      written = true
      const temporary = `${cacheFile}.${process.pid}`
      try {
        writeFileSync(temporary, script.createCachedData())
        renameSync(temporary, cacheFile)
      } catch {
        rmSync(temporary, { force: true })
      }
    }
    process.once("exit", write)
    setTimeout(write, CACHE_AFTER_MS).unref()
  }
  const bundle = new Module(file)
  bundle.filename = file
  bundle.paths = Module._nodeModulePaths(path.dirname(file))
  const require = createRequire(pathToFileURL(file))
  script.runInThisContext()(bundle.exports, require, bundle, file, path.dirname(file))
}
