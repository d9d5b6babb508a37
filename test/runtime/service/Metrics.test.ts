import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { layer, Metrics } from "../../../runtime/service/Metrics.js"

describe("Metrics", () => {
  it.effect("counts runs, deliveries, load and scheduler lag in the Prometheus text format", () =>
    Effect.gen(function* () {
      const metrics = yield* Metrics
      yield* metrics.runEnded({ status: "succeeded", seconds: 2 })
      yield* metrics.runEnded({ status: "failed", seconds: 0.2 })
      yield* metrics.delivered({ share: "contoso/retail", subscription: "fabrikam/feed", rows: 3, bytes: 100 })
      yield* metrics.delivered({ share: "contoso/retail", subscription: "fabrikam/feed", rows: 2, bytes: 50 })
      yield* metrics.runsInFlight({ running: 1, queued: 2 })
      yield* metrics.schedulerLag(0.3)
      const text = yield* metrics.exposition
      expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/)
      const lines = text.split("\n")
      expect(lines).toContain('ferry_runs_total{status="succeeded"} 1')
      expect(lines).toContain('ferry_runs_total{status="failed"} 1')
      expect(lines).toContain('ferry_runs_total{status="canceled"} 0')
      expect(lines).toContain('ferry_run_duration_seconds_count{status="succeeded"} 1')
      expect(lines).toContain('ferry_delivered_rows_total{share="contoso/retail",subscription="fabrikam/feed"} 5')
      expect(lines).toContain('ferry_delivered_bytes_total{share="contoso/retail",subscription="fabrikam/feed"} 150')
      expect(lines).toContain("ferry_runs_running 1")
      expect(lines).toContain("ferry_runs_queued 2")
      expect(lines).toContain('ferry_scheduler_lag_seconds_bucket{le="0.5"} 1')
      expect(lines).toContain('ferry_scheduler_lag_seconds_bucket{le="0.1"} 0')
    }).pipe(Effect.provide(layer))
  )

  it.effect("keeps each layer's counts apart", () =>
    Effect.gen(function* () {
      const first = yield* Effect.provide(Metrics, layer)
      const second = yield* Effect.provide(Metrics, layer)
      yield* first.runEnded({ status: "canceled", seconds: 1 })
      expect(yield* first.exposition).toContain('ferry_runs_total{status="canceled"} 1')
      expect(yield* second.exposition).toContain('ferry_runs_total{status="canceled"} 0')
    })
  )
})
