/** The folders compiled into dist/ (tsconfig.build.json). */
export declare const SOURCE_FOLDERS: ReadonlyArray<string>
/** True when ROOT/dist holds a compiled file, no older than its source, for every source file of ROOT. */
export declare const compiledIsCurrent: (root: string) => boolean
