/**
 * Secrets handed out once (API tokens, invitations' accept tokens) and what is kept of
 * them: the SHA-256, in hex. A secret is 32 random bytes, base64url, after a prefix that
 * says what it is (`ferry_` for an API token), so that a leaked one is recognisable.
 */
import { createHash, randomBytes } from "node:crypto"

/** The prefix of API tokens. */
export const TOKEN_PREFIX = "ferry_"
/** The prefix of invitations' single-use accept tokens. */
export const INVITATION_PREFIX = "ferry_inv_"

/** `prefix` followed by 32 random bytes in base64url (43 characters). */
export const makeSecret = (prefix: string = TOKEN_PREFIX): string => `${prefix}${randomBytes(32).toString("base64url")}`

/** What the stores keep of a secret: its SHA-256, as 64 hex digits. */
export const hashSecret = (secret: string): string => createHash("sha256").update(secret, "utf8").digest("hex")
