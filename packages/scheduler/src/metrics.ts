import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { SCHEDULER_TICK_MS } from './constants.ts'
import type { JobState } from './jobs/types.ts'
import type { SchedulerEvents, SchedulerService } from './service.ts'

type EjectionReason = Parameters<NonNullable<SchedulerEvents['onEjected']>>[0]['reason']
const EJECTION_REASONS: EjectionReason[] = ['bad-piece', 'failures', 'bad-table']

/** The scheduler's Prometheus metrics, on a registry of its own, fed by the service's events. */
export class SchedulerMetrics {
  readonly registry = new Registry()
  readonly decisions = new Histogram({ name: 'shoal_scheduler_decision_seconds', help: 'Time one task\'s decision round took (parents, origin pieces, table for its downloaders)', buckets: [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1], registers: [this.registry] })
  readonly rounds = new Histogram({ name: 'shoal_scheduler_round_seconds', help: 'Time one decision round over all tasks took; a round longer than its period delays the next', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [this.registry] })
  readonly roundPeriod = new Gauge({ name: 'shoal_scheduler_round_period_seconds', help: 'How often a decision round starts', registers: [this.registry] })
  readonly originAssignments = new Counter({ name: 'shoal_scheduler_origin_assignments_total', help: 'Origin assignments of cold tasks, by kind (first, reassigned)', labelNames: ['kind'], registers: [this.registry] })
  readonly ejections = new Counter({ name: 'shoal_scheduler_ejected_parents_total', help: 'Parents ejected, by reason (bad-piece, failures, bad-table)', labelNames: ['reason'], registers: [this.registry] })
  readonly pieces = new Counter({ name: 'shoal_scheduler_reported_pieces_total', help: 'Pieces agents reported finished, by source (peer, origin)', labelNames: ['source'], registers: [this.registry] })
  readonly bytes = new Counter({ name: 'shoal_scheduler_reported_bytes_total', help: 'Bytes agents reported receiving, by source (peer, origin)', labelNames: ['source'], registers: [this.registry] })
  readonly agents: Gauge
  readonly tasks: Gauge
  readonly jobs: Gauge

  /**
   * `jobStates`: the state of every prefetch job known (none without a job runner); `roundPeriodMs`:
   * the server's tick (SCHEDULER_TICK_MS unless it was given another).
   */
  constructor (service: () => SchedulerService | undefined, jobStates: () => Iterable<JobState> = () => [], roundPeriodMs = SCHEDULER_TICK_MS) {
    collectDefaultMetrics({ register: this.registry })
    this.roundPeriod.set(roundPeriodMs / 1000)
    // Known reasons start at 0, so that rate() and increase() see the first ejection.
    for (const reason of EJECTION_REASONS) this.ejections.inc({ reason }, 0)
    this.agents = new Gauge({ name: 'shoal_scheduler_agents', help: 'Agents with a live stream', registers: [this.registry], collect: () => { this.agents.set(service()?.agentCount ?? 0) } })
    this.tasks = new Gauge({ name: 'shoal_scheduler_tasks', help: 'Tasks (blobs) known', registers: [this.registry], collect: () => { this.tasks.set(service()?.registry.taskCount ?? 0) } })
    this.jobs = new Gauge({
      name: 'shoal_scheduler_prefetch_jobs',
      help: 'Prefetch jobs known, by state (resolving, running, done, failed, cancelled)',
      labelNames: ['state'],
      registers: [this.registry],
      collect: () => {
        const counts: Record<JobState, number> = { resolving: 0, running: 0, done: 0, failed: 0, cancelled: 0 }
        for (const state of jobStates()) counts[state]++
        for (const [state, count] of Object.entries(counts)) this.jobs.set({ state }, count)
      }
    })
  }

  readonly events: SchedulerEvents = {
    onDecision: e => { this.decisions.observe(e.seconds) },
    onRound: e => { this.rounds.observe(e.seconds) },
    onOriginAssigned: e => { this.originAssignments.inc({ kind: e.reassigned ? 'reassigned' : 'first' }) },
    onEjected: e => { this.ejections.inc({ reason: e.reason }) },
    onPiecesReported: e => {
      this.pieces.inc({ source: e.source }, e.pieces)
      this.bytes.inc({ source: e.source }, e.bytes)
    }
  }
}
