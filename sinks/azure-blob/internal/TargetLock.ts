/**
 * One writer at a time per blob target: a lease on the target's `_ferry/lock` blob, taken
 * for a minute and renewed every twenty seconds while the writer lives, released when it
 * ends. A process that dies leaves a lease that expires within a minute; one left by a
 * writer of this machine that no longer runs (this process's own, or a process that has
 * exited) is broken at once, the way the local sink takes over a lock file. The lock
 * blob's metadata names its holder: a random id, the run, the host and the process.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import * as os from "node:os"
import type { BlobAccount, BlobPlace } from "../../../connectors/azure-blob/AzureBlobStore.js"
import { AzureBlobError, codeOf, statusOf } from "../../../connectors/azure-blob/AzureBlobStore.js"
import { isAlive } from "../../internal/Processes.js"

const LEASE_SECONDS = 60
const RENEW_EVERY = Duration.seconds(20)

/** The holders of locks this process has and still uses. */
const liveHolders = new Set<string>()

export interface TargetLock {
  /** Renews the lease now, failing when it was lost: the commit is decided only while it holds. */
  readonly ensureHeld: Effect.Effect<void, AzureBlobError>
}

export type LockOutcome = { readonly held: TargetLock } | { readonly busy: string }

interface Holder {
  readonly id?: string
  readonly run?: string
  readonly host?: string
  readonly pid?: number
}

/** True when the holder is a writer of this machine that is gone. */
const isStale = (holder: Holder): boolean => {
  if (holder.host !== os.hostname() || holder.pid === undefined || holder.id === undefined) return false
  return holder.pid === process.pid ? !liveHolders.has(holder.id) : !isAlive(holder.pid)
}

const describeHolder = (holder: Holder): string =>
  holder.run === undefined
    ? "the target is being written by another run; its lease on _ferry/lock expires within a minute if that run is gone"
    : `the target is being written by run ${holder.run} (process ${holder.pid ?? "?"} on ${holder.host ?? "?"}); its lease on _ferry/lock expires within a minute if that process is gone`

/**
 * Takes the lock of the target whose lock blob is `place`, for the life of the scope, or
 * says why the target is busy (and then holds nothing).
 */
export const tryLock = (
  account: BlobAccount,
  place: Required<BlobPlace>,
  runId: string
): Effect.Effect<LockOutcome, AzureBlobError, Scope.Scope> =>
  Effect.gen(function* () {
    const blob = account.service.getContainerClient(place.container).getBlockBlobClient(place.blob)
    const call = <A>(action: string, run: () => Promise<A>) =>
      Effect.tryPromise({ try: run, catch: (error) => account.fail(error, action, place) })

    // The lock blob is made once; a lock blob already there (and perhaps leased) is fine.
    yield* Effect.tryPromise({
      try: () => blob.upload("", 0, { conditions: { ifNoneMatch: "*" } }),
      catch: (error) => error
    }).pipe(
      Effect.catchAll((error) =>
        statusOf(error) === 409 || statusOf(error) === 412
          ? Effect.void
          : Effect.fail(account.fail(error, "writing", place))
      )
    )

    const holder = randomUUID()
    const leaseId = randomUUID()
    const lease = blob.getBlobLeaseClient(leaseId)
    const acquire = Effect.tryPromise({ try: () => lease.acquireLease(LEASE_SECONDS), catch: (error) => error }).pipe(
      Effect.as(true),
      Effect.catchAll((error) =>
        codeOf(error) === "LeaseAlreadyPresent" || statusOf(error) === 409
          ? Effect.succeed(false)
          : Effect.fail(account.fail(error, "locking", place))
      )
    )

    let acquired = yield* acquire
    if (!acquired) {
      const properties = yield* call("locking", () => blob.getProperties())
      const metadata = properties.metadata ?? {}
      const pid = Number(metadata["ferry_pid"])
      const current: Holder = {
        ...(metadata["ferry_holder"] === undefined ? {} : { id: metadata["ferry_holder"] }),
        ...(metadata["ferry_run_id"] === undefined ? {} : { run: metadata["ferry_run_id"] }),
        ...(metadata["ferry_host"] === undefined ? {} : { host: metadata["ferry_host"] }),
        ...(Number.isInteger(pid) ? { pid } : {})
      }
      if (!isStale(current)) return { busy: describeHolder(current) }
      yield* call("locking", () => blob.getBlobLeaseClient().breakLease(0))
      acquired = yield* acquire
      if (!acquired) return { busy: describeHolder({}) }
    }

    liveHolders.add(holder)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => liveHolders.delete(holder)).pipe(
        Effect.zipRight(Effect.promise(() => lease.releaseLease().catch(() => undefined)))
      )
    )
    yield* call("locking", () =>
      blob.setMetadata(
        { ferry_holder: holder, ferry_run_id: runId, ferry_host: os.hostname(), ferry_pid: String(process.pid) },
        { conditions: { leaseId } }
      )
    )
    const renew = call("locking", () => lease.renewLease())
    // Renewed in the background; a renewal that fails leaves the lease to expire, and the commit's own renewal fails.
    yield* Effect.forkScoped(Effect.repeat(Effect.ignore(renew), Schedule.spaced(RENEW_EVERY)))
    const ensureHeld = renew.pipe(
      Effect.asVoid,
      Effect.mapError(
        (error) =>
          new AzureBlobError({
            store: account.store,
            message: `the target's lock was lost (another writer broke its lease, or it expired while the service could not be reached): ${error.message}`
          })
      )
    )
    return { held: { ensureHeld } }
  })
