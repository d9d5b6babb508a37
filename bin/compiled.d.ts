/** The folders compiled into dist/ (tsconfig.build.json). */
export declare const SOURCE_FOLDERS: ReadonlyArray<string>
/** True when ROOT/dist holds a compiled file, no older than its source, for every source file of ROOT. */
export declare const compiledIsCurrent: (root: string) => boolean
/** The bundle's entry, relative to the project's root. */
export declare const BUNDLE_ENTRY: string
/** What in ROOT is current and may run: the bundle, the compiled modules, or only the sources. */
export declare const runnable: (root: string) => "bundle" | "compiled" | "sources"
/** Whether the bundle can run the command ARGS: not `serve`, not with FERRY_BUNDLE=0, no config naming plugins. */
export declare const bundleServes: (args: ReadonlyArray<string>, env?: Record<string, string | undefined>) => boolean
