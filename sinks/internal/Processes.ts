/**
 * Whether a process of this machine still runs, for the sinks' locks: a lock whose
 * holder is a process of this machine that has exited is taken over at once.
 */

/** True while the process runs (one of another user, which may not be signalled, counts as running). */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}
