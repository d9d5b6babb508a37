/**
 * The control plane's tables (runtime/control/ControlStore.ts): accounts and their
 * tokens, stores, shares and their datasets, invitations, subscriptions and their
 * mappings, run requests, schedule ticks and the audit log. Portable DDL like 0001:
 * times are ISO-8601 UTC text, config entries are JSON text.
 *
 * `origin` says who wrote a resource last as a whole: 'config' (a config file applied)
 * or 'api'; `ferry apply --prune` removes only what a config wrote. A dataset's source
 * store and a mapping's store are copied out of their JSON so that a store in use can
 * be found without parsing JSON in SQL. Tokens and invitations keep the SHA-256 of
 * their secret, never the secret. Subscriptions have no foreign key to their share: a
 * deleted share leaves its subscriptions revoked, for their history.
 *
 * The audit log's ids come from the one row of `control_sequence`, which every control
 * write locks first: ids follow commit order on both databases, and control writes are
 * serialized (they are few, and the checks they make then need no further locking).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE control_sequence (
      name TEXT NOT NULL PRIMARY KEY,
      last_id BIGINT NOT NULL
    )`
  yield* sql`INSERT INTO control_sequence (name, last_id) VALUES ('audit', 0)`
  yield* sql`
    CREATE TABLE accounts (
      name TEXT NOT NULL PRIMARY KEY,
      email TEXT,
      description TEXT,
      origin TEXT NOT NULL CHECK (origin IN ('config', 'api')),
      created_at TEXT NOT NULL
    )`
  yield* sql`
    CREATE TABLE tokens (
      id TEXT NOT NULL PRIMARY KEY,
      account TEXT REFERENCES accounts (name) ON DELETE CASCADE,
      description TEXT,
      secret_hash TEXT NOT NULL UNIQUE,
      created_at TEXT NOT NULL,
      last_used_at TEXT
    )`
  yield* sql`CREATE INDEX tokens_by_account ON tokens (account, id)`
  yield* sql`
    CREATE TABLE stores (
      account TEXT NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
      name TEXT NOT NULL,
      type TEXT NOT NULL,
      settings TEXT NOT NULL,
      origin TEXT NOT NULL CHECK (origin IN ('config', 'api')),
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL,
      PRIMARY KEY (account, name)
    )`
  yield* sql`
    CREATE TABLE shares (
      account TEXT NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
      name TEXT NOT NULL,
      description TEXT,
      terms TEXT,
      kind TEXT NOT NULL CHECK (kind IN ('snapshot', 'in_place')),
      schedule TEXT,
      origin TEXT NOT NULL CHECK (origin IN ('config', 'api')),
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL,
      PRIMARY KEY (account, name)
    )`
  yield* sql`
    CREATE TABLE datasets (
      account TEXT NOT NULL,
      share TEXT NOT NULL,
      name TEXT NOT NULL,
      position BIGINT NOT NULL,
      store TEXT,
      spec TEXT NOT NULL,
      origin TEXT NOT NULL CHECK (origin IN ('config', 'api')),
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL,
      PRIMARY KEY (account, share, name),
      FOREIGN KEY (account, share) REFERENCES shares (account, name) ON DELETE CASCADE
    )`
  yield* sql`CREATE INDEX datasets_by_position ON datasets (account, share, position)`
  yield* sql`CREATE INDEX datasets_by_store ON datasets (account, store)`
  yield* sql`
    CREATE TABLE invitations (
      id TEXT NOT NULL PRIMARY KEY,
      account TEXT NOT NULL,
      share TEXT NOT NULL,
      recipient TEXT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('Pending', 'Accepted', 'Rejected', 'Withdrawn')),
      token_hash TEXT NOT NULL UNIQUE,
      token_spent_at TEXT,
      expires_at TEXT,
      origin TEXT NOT NULL CHECK (origin IN ('config', 'api')),
      created_at TEXT NOT NULL,
      sent_at TEXT,
      responded_at TEXT,
      responded_by TEXT,
      subscription TEXT,
      FOREIGN KEY (account, share) REFERENCES shares (account, name) ON DELETE CASCADE
    )`
  yield* sql`CREATE INDEX invitations_by_share ON invitations (account, share, created_at, id)`
  yield* sql`CREATE INDEX invitations_by_recipient ON invitations (recipient, created_at, id)`
  yield* sql`
    CREATE TABLE subscriptions (
      account TEXT NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
      name TEXT NOT NULL,
      provider TEXT NOT NULL,
      share TEXT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('Active', 'Revoked')),
      trigger_kind TEXT NOT NULL CHECK (trigger_kind IN ('manual', 'schedule')),
      origin TEXT NOT NULL CHECK (origin IN ('config', 'api')),
      created_at TEXT NOT NULL,
      revoked_at TEXT,
      invitation_id TEXT,
      PRIMARY KEY (account, name)
    )`
  yield* sql`CREATE INDEX subscriptions_by_share ON subscriptions (provider, share, account, name)`
  yield* sql`
    CREATE TABLE mappings (
      account TEXT NOT NULL,
      subscription TEXT NOT NULL,
      dataset TEXT NOT NULL,
      store TEXT,
      spec TEXT NOT NULL,
      origin TEXT NOT NULL CHECK (origin IN ('config', 'api')),
      updated_at TEXT NOT NULL,
      PRIMARY KEY (account, subscription, dataset),
      FOREIGN KEY (account, subscription) REFERENCES subscriptions (account, name) ON DELETE CASCADE
    )`
  yield* sql`CREATE INDEX mappings_by_store ON mappings (account, store)`
  yield* sql`
    CREATE TABLE run_requests (
      run_id TEXT NOT NULL PRIMARY KEY,
      account TEXT NOT NULL,
      subscription TEXT NOT NULL,
      mode TEXT NOT NULL CHECK (mode IN ('full', 'incremental')),
      requested_at TEXT NOT NULL,
      requested_by TEXT NOT NULL,
      UNIQUE (account, subscription),
      FOREIGN KEY (account, subscription) REFERENCES subscriptions (account, name) ON DELETE CASCADE
    )`
  yield* sql`CREATE INDEX run_requests_by_time ON run_requests (requested_at, run_id)`
  yield* sql`
    CREATE TABLE schedule_ticks (
      provider TEXT NOT NULL,
      share TEXT NOT NULL,
      tick TEXT NOT NULL,
      PRIMARY KEY (provider, share),
      FOREIGN KEY (provider, share) REFERENCES shares (account, name) ON DELETE CASCADE
    )`
  yield* sql`
    CREATE TABLE audit_log (
      id BIGINT NOT NULL PRIMARY KEY,
      at TEXT NOT NULL,
      actor TEXT NOT NULL,
      action TEXT NOT NULL,
      resource TEXT NOT NULL,
      detail TEXT
    )`
  yield* sql`CREATE INDEX audit_log_by_resource ON audit_log (resource, id)`
  yield* sql`
    CREATE TABLE audit_accounts (
      audit_id BIGINT NOT NULL REFERENCES audit_log (id) ON DELETE CASCADE,
      account TEXT NOT NULL,
      PRIMARY KEY (account, audit_id)
    )`
})
