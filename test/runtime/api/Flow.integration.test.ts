/**
 * The service end to end, through the HTTP server on a free port and the typed client,
 * once over the SQLite state store and once over PostgreSQL (a schema of its own), with
 * the same steps: the operator makes the accounts and their tokens; contoso shares a CSV
 * table from its local store and invites ops@fabrikam.example, whose mail (read from an
 * in-process SMTP server) carries the accept token; fabrikam accepts, maps the dataset
 * as Parquet and synchronizes (the Parquet files read back with DuckDB); contoso appends
 * rows and an incremental run brings only those; contoso follows the subscription and
 * its deliveries across consumers; revokes while a run is going (it ends canceled and
 * delivers nothing), reinstates, and the held-back rows arrive. Each side's audit log
 * has its entries and not the other's private ones.
 */
import { DuckDBInstance } from "@duckdb/node-api"
import { expect, layer } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import type { Client } from "../../../runtime/api/Client.js"
import { gateCounts, openGate } from "../../fixtures/plugins/gate-plugin.js"
import type { StateKind } from "./Harness.js"
import { ended, failure, layer as harness, Service } from "./Harness.js"

const HEADER = "id,name,amount,updated_at\n"
const FIRST_ROWS = [
  [1, "Ada", 12.5, "2026-01-01T00:00:01Z"],
  [2, "Grace", 7.25, "2026-01-01T00:00:02Z"],
  [3, "Edsger", 100, "2026-01-01T00:00:03Z"]
] as const
const APPENDED = [
  [4, "Barbara", 3.5, "2026-01-02T00:00:01Z"],
  [5, "Donald", 0.75, "2026-01-02T00:00:02Z"]
] as const
const HELD_BACK = [[6, "Frances", 42, "2026-01-03T00:00:01Z"]] as const

type Row = readonly [number, string, number, string]

const csv = (rows: ReadonlyArray<Row>) => rows.map((row) => `${row.join(",")}\n`).join("")

/** The rows as DuckDB reads them back from Parquet: timestamps as ISO text. */
const expected = (rows: ReadonlyArray<Row>) =>
  rows.map(([id, name, amount, at]) => ({ id, name, amount, updated_at: at.replace("Z", "") }))

const DESCRIPTION = "Retail customers of Contoso, refreshed daily."
const TERMS = "Use for demand forecasting only; do not resell."

/** Waits until `check` holds, for at most 30 seconds. */
const eventually = (what: string, check: () => boolean) =>
  Effect.gen(function* () {
    while (!check()) yield* Effect.sleep("10 millis")
  }).pipe(
    Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error(`timed out: ${what}`) }),
    Effect.orDie
  )

/** The data files of a folder, by name (run ids are UUID v7: names sort in run order). */
const dataFiles = (folder: string) =>
  fs.existsSync(folder)
    ? fs
        .readdirSync(folder)
        .filter((name) => name.startsWith("part-"))
        .sort()
    : []

/** A Parquet file's rows, read by DuckDB, in id order. */
const parquetRows = (file: string) =>
  Effect.promise(async () => {
    const instance = await DuckDBInstance.create(":memory:")
    const duck = await instance.connect()
    try {
      await duck.run("SET TimeZone = 'UTC'")
      const reader = await duck.runAndReadAll(
        `SELECT id::INTEGER AS id, name, amount::DOUBLE AS amount, strftime(updated_at, '%Y-%m-%dT%H:%M:%S') AS updated_at
         FROM read_parquet('${file.replaceAll("'", "''")}') ORDER BY id`
      )
      return reader.getRowObjectsJson()
    } finally {
      duck.closeSync()
      instance.closeSync()
    }
  })

/** The fields of the invitation mail's text, as `Label: value` lines. */
const mailField = (text: string, label: string) => {
  const match = new RegExp(`^${label}:\\s*(.+)$`, "m").exec(text)
  if (match?.[1] === undefined) throw new Error(`the mail has no ${label}`)
  return match[1].trim()
}

const story = (state: StateKind) =>
  layer(harness({ state, mail: true }), { excludeTestServices: true, timeout: Duration.seconds(60) })(
    `the whole story, state in ${state === "sqlite" ? "SQLite" : "PostgreSQL"}`,
    (it) => {
      const gate = `flow-${state}-${randomUUID()}`
      const tokens = { contoso: "", fabrikam: "", northwind: "" }
      const ids = { invitation: "", full: "", incremental: "", canceled: "", reinstated: "", northwindRun: "" }
      let mailedToken = ""
      let acceptedAt = new Date(0)

      const clients = Effect.gen(function* () {
        const service = yield* Service
        return {
          service,
          operator: yield* service.client(service.operatorToken),
          contoso: yield* service.client(tokens.contoso),
          fabrikam: yield* service.client(tokens.fabrikam),
          northwind: yield* service.client(tokens.northwind)
        }
      })

      it.effect("the operator makes the accounts and a token for each", () =>
        Effect.gen(function* () {
          const { operator } = yield* clients
          yield* operator.accounts.put({ path: { name: "contoso" }, payload: { email: "data@contoso.example" } })
          yield* operator.accounts.put({
            path: { name: "fabrikam" },
            payload: { email: "ops@fabrikam.example", description: "Fabrikam analytics" }
          })
          yield* operator.accounts.put({ path: { name: "northwind" }, payload: {} })
          for (const name of ["contoso", "fabrikam", "northwind"] as const) {
            const made = yield* operator.accounts.createToken({ path: { name }, payload: { description: "flow" } })
            expect(made).toMatchObject({ account: name, description: "flow" })
            expect(made.token).toMatch(/^ferry_[A-Za-z0-9_-]{43}$/)
            tokens[name] = made.token
          }
          const accounts = yield* operator.accounts.list({ urlParams: {} })
          expect(accounts.items.map((account) => account.name)).toEqual(["contoso", "fabrikam", "northwind"])
        })
      )

      it.effect("contoso: a local store, a share, a CSV table with an incremental cursor and key", () =>
        Effect.gen(function* () {
          const { contoso, service } = yield* clients
          service.space.write("customers.csv", HEADER + csv(FIRST_ROWS))
          const store = yield* contoso.stores.put({ path: { store: "src" }, payload: { type: "local", root: "./src" } })
          expect(store).toMatchObject({ name: "src", type: "local", settings: { root: "./src" } })
          const share = yield* contoso.shares.create({
            payload: { name: "retail", description: DESCRIPTION, terms: TERMS }
          })
          expect(share).toMatchObject({ name: "retail", kind: "snapshot", dataset_count: 0 })
          const dataset = yield* contoso.datasets.put({
            path: { share: "retail", dataset: "customers" },
            payload: {
              source: { store: "src", table: "customers.csv" },
              incremental: { cursor: "updated_at", key: ["id"] }
            }
          })
          expect(dataset).toMatchObject({
            name: "customers",
            source: { store: "src", table: "customers.csv" },
            incremental: { cursor: "updated_at", key: ["id"] }
          })
          expect((yield* contoso.shares.get({ path: { share: "retail" } })).dataset_count).toBe(1)
        })
      )

      it.effect(
        "contoso invites ops@fabrikam.example: the mail names the share, its terms, and carries the token",
        () =>
          Effect.gen(function* () {
            const { contoso, service } = yield* clients
            const smtp = service.smtp!
            const invitation = yield* contoso.invitations.create({
              path: { share: "retail" },
              payload: { to: "ops@fabrikam.example", expires: "2999-01-31" }
            })
            expect(invitation).toMatchObject({ share: "retail", to: "ops@fabrikam.example", status: "Pending" })
            expect(invitation.accept_token).toBeUndefined()
            expect(invitation.sent_at).toBeInstanceOf(Date)
            ids.invitation = invitation.id

            expect(smtp.recipients).toEqual([["ops@fabrikam.example"]])
            const mail = smtp.mails[0]!
            expect(mail.subject).toBe("contoso invites you to the share retail on Ferry")
            const text = mail.text ?? ""
            expect(mailField(text, "Share")).toBe("contoso/retail")
            expect(mailField(text, "Description")).toBe(DESCRIPTION)
            expect(mailField(text, "Datasets")).toBe("1 dataset")
            expect(mailField(text, "Invitation")).toBe(invitation.id)
            expect(text).toContain(`Terms of use:\n${TERMS}\n`)
            mailedToken = mailField(text, "Accept token \\(single use\\)")
            expect(mailedToken).toMatch(/^ferry_inv_/)
            // The token went by mail only.
            expect(service.bodies.some((body) => body.includes(mailedToken))).toBe(false)
          })
      )

      it.effect("fabrikam lists its received invitation and accepts its terms with the mail's token", () =>
        Effect.gen(function* () {
          const { fabrikam, northwind } = yield* clients
          const received = yield* fabrikam.receivedInvitations.list({ urlParams: {} })
          expect(received.items).toEqual([
            expect.objectContaining({
              id: ids.invitation,
              provider: "contoso",
              share: "retail",
              description: DESCRIPTION,
              terms: TERMS,
              dataset_count: 1,
              to: "ops@fabrikam.example",
              status: "Pending"
            })
          ])
          expect((yield* northwind.receivedInvitations.list({ urlParams: {} })).items).toEqual([])
          const before = Date.now()
          const subscription = yield* fabrikam.receivedInvitations.accept({
            path: { id: ids.invitation },
            payload: { accept_terms: true, subscription: "feed", token: mailedToken }
          })
          expect(subscription).toMatchObject({
            name: "feed",
            provider: "contoso",
            share: "retail",
            status: "Active",
            trigger: "manual",
            invitation_id: ids.invitation
          })
          acceptedAt = subscription.created_at
          expect(acceptedAt.getTime()).toBeGreaterThanOrEqual(before - 1000)
          const after = yield* fabrikam.receivedInvitations.list({ urlParams: {} })
          expect(after.items.map((item) => item.status)).toEqual(["Accepted"])
          // The token is spent: accepting again says so.
          const again = yield* failure(
            fabrikam.receivedInvitations.accept({
              path: { id: ids.invitation },
              payload: { accept_terms: true, subscription: "feed-2", token: mailedToken }
            })
          )
          expect(again).toMatchObject({ tag: "Conflict", code: "conflict" })
          expect(again.message).toContain("accepted")
        })
      )

      it.effect("fabrikam makes its local store and maps the dataset as Parquet", () =>
        Effect.gen(function* () {
          const { fabrikam } = yield* clients
          yield* fabrikam.stores.put({ path: { store: "out" }, payload: { type: "local", root: "./out" } })
          const datasets = yield* fabrikam.subscriptions.datasets({ path: { subscription: "feed" }, urlParams: {} })
          expect(datasets.items).toEqual([{ name: "customers", kind: "table" }])
          const mapping = yield* fabrikam.mappings.put({
            path: { subscription: "feed", dataset: "customers" },
            payload: { store: "out", path: "customers/", format: "parquet" }
          })
          expect(mapping).toMatchObject({ dataset: "customers", store: "out", path: "customers/", format: "parquet" })
        })
      )

      it.effect("synchronize Full: 202 Queued, then Succeeded; rows, bytes and files match the Parquet on disk", () =>
        Effect.gen(function* () {
          const { fabrikam, service } = yield* clients
          const queued = yield* fabrikam.runs.synchronize({ path: { subscription: "feed" }, payload: { mode: "Full" } })
          expect(queued.status).toBe("Queued")
          ids.full = queued.run_id
          const run = yield* ended(fabrikam, "feed", queued.run_id)
          expect(run).toMatchObject({ run_id: queued.run_id, subscription: "feed", mode: "Full", status: "Succeeded" })
          expect(run.datasets).toHaveLength(1)
          const [dataset] = run.datasets
          expect(dataset).toMatchObject({ dataset: "customers", status: "Succeeded", rows: 3, files: 1 })
          const folder = service.space.out("customers")
          expect(dataFiles(folder)).toEqual([`part-00000-${queued.run_id}.parquet`])
          const file = path.join(folder, `part-00000-${queued.run_id}.parquet`)
          expect(dataset!.bytes).toBe(fs.statSync(file).size)
          expect(yield* parquetRows(file)).toEqual(expected(FIRST_ROWS))
        })
      )

      it.effect("contoso appends rows: Incremental brings only those, in a part of their own", () =>
        Effect.gen(function* () {
          const { fabrikam, service } = yield* clients
          fs.appendFileSync(service.space.src("customers.csv"), csv(APPENDED))
          const queued = yield* fabrikam.runs.synchronize({
            path: { subscription: "feed" },
            payload: { mode: "Incremental" }
          })
          ids.incremental = queued.run_id
          const run = yield* ended(fabrikam, "feed", queued.run_id)
          expect(run).toMatchObject({ mode: "Incremental", status: "Succeeded" })
          expect(run.datasets).toEqual([
            expect.objectContaining({ dataset: "customers", status: "Succeeded", rows: 2, files: 1 })
          ])
          const folder = service.space.out("customers")
          const files = dataFiles(folder)
          expect(files).toEqual([`part-00000-${ids.full}.parquet`, `part-00000-${queued.run_id}.parquet`])
          const part = path.join(folder, files[1]!)
          expect(run.datasets[0]!.bytes).toBe(fs.statSync(part).size)
          expect(yield* parquetRows(part)).toEqual(expected(APPENDED))
          // The first part is as it was.
          expect(yield* parquetRows(path.join(folder, files[0]!))).toEqual(expected(FIRST_ROWS))
          const runs = yield* fabrikam.runs.list({ path: { subscription: "feed" }, urlParams: {} })
          expect(runs.items.map((item) => [item.run_id, item.status])).toEqual([
            [ids.incremental, "Succeeded"],
            [ids.full, "Succeeded"]
          ])
        })
      )

      it.effect("a second consumer: northwind, invited by account name, receives the share as CSV", () =>
        Effect.gen(function* () {
          const { contoso, northwind, service } = yield* clients
          const invitation = yield* contoso.invitations.create({
            path: { share: "retail" },
            payload: { to: "northwind" }
          })
          // northwind has no e-mail address: no mail, the token comes back to the provider.
          expect(invitation.accept_token).toMatch(/^ferry_inv_/)
          expect(service.smtp!.mails).toHaveLength(1)
          yield* northwind.receivedInvitations.accept({
            path: { id: invitation.id },
            payload: { accept_terms: true, subscription: "contoso-retail" }
          })
          yield* northwind.stores.put({ path: { store: "landing" }, payload: { type: "local", root: "./northwind" } })
          yield* northwind.mappings.put({
            path: { subscription: "contoso-retail", dataset: "customers" },
            payload: { store: "landing", path: "customers/", format: "csv" }
          })
          const queued = yield* northwind.runs.synchronize({
            path: { subscription: "contoso-retail" },
            payload: { mode: "Full" }
          })
          ids.northwindRun = queued.run_id
          const run = yield* ended(northwind, "contoso-retail", queued.run_id)
          expect(run.datasets).toEqual([expect.objectContaining({ status: "Succeeded", rows: 5, files: 1 })])
          const folder = path.join(service.space.dir, "northwind", "customers")
          const text = fs.readFileSync(path.join(folder, `part-00000-${queued.run_id}.csv`), "utf8")
          expect(text.trim().split("\n")).toHaveLength(1 + FIRST_ROWS.length + APPENDED.length)
        })
      )

      it.effect("contoso sees the subscriptions (consumer, since, Active) and the deliveries across consumers", () =>
        Effect.gen(function* () {
          const { contoso, fabrikam } = yield* clients
          const subscriptions = yield* contoso.shareSubscriptions.list({ path: { share: "retail" }, urlParams: {} })
          const byConsumer = Object.fromEntries(subscriptions.items.map((item) => [item.consumer, item]))
          expect(Object.keys(byConsumer).sort()).toEqual(["fabrikam", "northwind"])
          expect(byConsumer["fabrikam"]).toMatchObject({ subscription: "feed", share: "retail", status: "Active" })
          expect(byConsumer["fabrikam"]!.since.getTime()).toBe(acceptedAt.getTime())
          expect(byConsumer["northwind"]).toMatchObject({ subscription: "contoso-retail", status: "Active" })

          const deliveries = yield* contoso.deliveries.list({ urlParams: {} })
          expect(
            deliveries.items.map((item) => [item.run_id, item.consumer, item.subscription, item.mode, item.rows])
          ).toEqual([
            [ids.northwindRun, "northwind", "contoso-retail", "Full", 5],
            [ids.incremental, "fabrikam", "feed", "Incremental", 2],
            [ids.full, "fabrikam", "feed", "Full", 3]
          ])
          for (const item of deliveries.items) {
            expect(item).toMatchObject({ share: "retail", status: "Succeeded", files: 1 })
            expect(item.bytes).toBeGreaterThan(0)
          }
          // A consumer has no deliveries of its own, and no view of the provider's side.
          expect((yield* fabrikam.deliveries.list({ urlParams: {} })).items).toEqual([])
          expect(
            yield* failure(fabrikam.shareSubscriptions.list({ path: { share: "retail" }, urlParams: {} }))
          ).toMatchObject({ tag: "NotFound" })
        })
      )

      it.effect("revoked while a run is going: the run ends Canceled, synchronize answers 403, nothing arrives", () =>
        Effect.gen(function* () {
          const { contoso, fabrikam, service } = yield* clients
          // A dataset whose reads wait at a gate keeps the next run going.
          yield* contoso.stores.put({
            path: { store: "live" },
            payload: {
              type: "gated_memory",
              gate,
              tables: {
                events: {
                  columns: { id: "int64", kind: "utf8" },
                  rows: [
                    [1, "open"],
                    [2, "close"]
                  ]
                }
              }
            }
          })
          yield* contoso.datasets.put({
            path: { share: "retail", dataset: "events" },
            payload: { source: { store: "live", table: "events" } }
          })
          yield* fabrikam.mappings.put({
            path: { subscription: "feed", dataset: "events" },
            payload: { store: "out", path: "events/", format: "jsonl" }
          })
          const customersBefore = dataFiles(service.space.out("customers"))
          const queued = yield* fabrikam.runs.synchronize({
            path: { subscription: "feed" },
            payload: { mode: "Incremental" }
          })
          ids.canceled = queued.run_id
          yield* eventually("the run at the gate", () => gateCounts(gate).waiting === 1)
          expect((yield* fabrikam.runs.get({ path: { subscription: "feed", run_id: queued.run_id } })).status).toBe(
            "InProgress"
          )

          const revoked = yield* contoso.shareSubscriptions.revoke({
            path: { share: "retail", consumer: "fabrikam", subscription: "feed" }
          })
          expect(revoked).toMatchObject({ consumer: "fabrikam", subscription: "feed", status: "Revoked" })
          expect(revoked.revoked_at).toBeInstanceOf(Date)
          const run = yield* ended(fabrikam, "feed", queued.run_id)
          expect(run.status).toBe("Canceled")
          expect(run.datasets.find((dataset) => dataset.dataset === "events")).toMatchObject({
            status: "Canceled",
            rows: 0,
            files: 0
          })
          expect(gateCounts(gate).waiting).toBe(0)

          const refused = yield* failure(
            fabrikam.runs.synchronize({ path: { subscription: "feed" }, payload: { mode: "Incremental" } })
          )
          expect(refused).toMatchObject({ tag: "Forbidden", code: "revoked" })
          const raw = yield* service.fetch("/api/v1/subscriptions/feed/synchronize", {
            method: "POST",
            headers: { Authorization: `Bearer ${tokens.fabrikam}`, "content-type": "application/json" },
            body: JSON.stringify({ mode: "Full" })
          })
          expect(raw.status).toBe(403)
          expect(JSON.parse(raw.body)).toMatchObject({ error: { code: "revoked" } })
          expect((yield* fabrikam.subscriptions.get({ path: { subscription: "feed" } })).status).toBe("Revoked")

          // The provider goes on; the gate opens: the canceled run delivers nothing after all.
          fs.appendFileSync(service.space.src("customers.csv"), csv(HELD_BACK))
          yield* openGate(gate)
          yield* Effect.sleep("300 millis")
          expect(dataFiles(service.space.out("events"))).toEqual([])
          expect(dataFiles(service.space.out("customers"))).toEqual(customersBefore)
          expect((yield* fabrikam.runs.get({ path: { subscription: "feed", run_id: queued.run_id } })).status).toBe(
            "Canceled"
          )
          const subscriptions = yield* contoso.shareSubscriptions.list({ path: { share: "retail" }, urlParams: {} })
          expect(subscriptions.items.find((item) => item.consumer === "fabrikam")?.status).toBe("Revoked")
        })
      )

      it.effect("reinstated: synchronize works again and brings what was held back", () =>
        Effect.gen(function* () {
          const { contoso, fabrikam, service } = yield* clients
          const reinstated = yield* contoso.shareSubscriptions.reinstate({
            path: { share: "retail", consumer: "fabrikam", subscription: "feed" }
          })
          expect(reinstated.status).toBe("Active")
          const queued = yield* fabrikam.runs.synchronize({
            path: { subscription: "feed" },
            payload: { mode: "Incremental" }
          })
          ids.reinstated = queued.run_id
          const run = yield* ended(fabrikam, "feed", queued.run_id)
          expect(run.status).toBe("Succeeded")
          const byName = Object.fromEntries(run.datasets.map((dataset) => [dataset.dataset, dataset]))
          expect(byName["customers"]).toMatchObject({ status: "Succeeded", rows: HELD_BACK.length, files: 1 })
          expect(byName["events"]).toMatchObject({ status: "Succeeded", rows: 2, files: 1 })
          const folder = service.space.out("customers")
          expect(yield* parquetRows(path.join(folder, `part-00000-${queued.run_id}.parquet`))).toEqual(
            expected(HELD_BACK)
          )
          const events = fs.readFileSync(service.space.out("events", `part-00000-${queued.run_id}.jsonl`), "utf8")
          expect(
            events
              .trim()
              .split("\n")
              .map((line) => JSON.parse(line) as unknown)
          ).toEqual([
            { id: 1, kind: "open" },
            { id: 2, kind: "close" }
          ])
        })
      )

      it.effect("audit: each side reads its own entries and the shared ones, never the other's private ones", () =>
        Effect.gen(function* () {
          const { contoso, fabrikam, northwind, operator } = yield* clients
          const read = (client: Client) =>
            Effect.map(client.audit.list({ urlParams: { limit: 1000 } }), (page) => page.items)
          const provider = yield* read(contoso)
          const consumer = yield* read(fabrikam)
          const other = yield* read(northwind)
          const actions = (entries: typeof provider) => new Set(entries.map((entry) => entry.action))
          const resources = (entries: typeof provider) => entries.map((entry) => entry.resource)

          expect([...actions(provider)]).toEqual(
            expect.arrayContaining([
              "store.create",
              "share.create",
              "dataset.create",
              "invitation.create",
              "invitation.accept",
              "subscription.create",
              "subscription.revoke",
              "subscription.reinstate",
              "run.request",
              "run.start",
              "run.succeed",
              "run.cancel"
            ])
          )
          expect([...actions(consumer)]).toEqual(
            expect.arrayContaining([
              "store.create",
              "mapping.create",
              "invitation.accept",
              "subscription.create",
              "subscription.revoke",
              "subscription.reinstate",
              "run.request",
              "run.start",
              "run.succeed",
              "run.cancel"
            ])
          )
          for (const [account, entries] of [
            ["contoso", provider],
            ["fabrikam", consumer],
            ["northwind", other]
          ] as const) {
            expect(entries.every((entry) => entry.accounts.includes(account))).toBe(true)
          }
          // Both sides see the canceled run, start to end.
          for (const entries of [provider, consumer]) {
            const run = entries.filter((entry) => entry.resource === `run:${ids.canceled}`).map((e) => e.action)
            expect(run.reverse()).toEqual(["run.request", "run.start", "run.cancel"])
          }
          // The provider's stores, share and datasets are its own; the consumer's stores and mappings too.
          expect(resources(consumer).filter((r) => /^(store:contoso|share:|dataset:)/.test(r))).toEqual([])
          expect(actions(consumer).has("share.create")).toBe(false)
          expect(actions(consumer).has("dataset.create")).toBe(false)
          expect(resources(provider).filter((r) => /^(store:fabrikam|store:northwind|mapping:)/.test(r))).toEqual([])
          expect(actions(provider).has("mapping.create")).toBe(false)
          // One consumer does not see the other's subscription or runs.
          expect(resources(consumer).some((r) => r.includes("northwind"))).toBe(false)
          expect(resources(other).some((r) => r.includes("fabrikam"))).toBe(false)
          expect(resources(other)).not.toContain(`run:${ids.full}`)
          // The operator reads them all.
          const all = yield* read(operator)
          expect(all.length).toBeGreaterThan(provider.length)
          expect(all.length).toBeGreaterThan(consumer.length)
          expect(all.some((entry) => entry.accounts.length === 0 || entry.actor === "operator")).toBe(true)
        })
      )
    }
  )

story("sqlite")
story("postgres")
