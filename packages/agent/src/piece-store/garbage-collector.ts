import { GC_INTERVAL_MS } from '../constants.ts'
import type { StorageConfig } from '../config/index.ts'
import type { BlobRecord } from './blob-record.ts'
import { planEviction } from './gc-plan.ts'
import type { PieceStore } from './store.ts'

export interface GcEvents {
  onEvict?: (record: BlobRecord, reason: 'lru' | 'age') => void
  onUsage?: (usage: { usedBytes: number, capacityBytes: number }) => void
  onError?: (err: Error) => void
}

/**
 * Keeps the store under its high watermark (of the quota, or of the disk when no quota is set),
 * least recently used first down to the low watermark, and drops blobs past the age limit.
 * Runs on an interval and whenever a blob completes.
 */
export class GarbageCollector {
  private readonly store: PieceStore
  private readonly config: StorageConfig
  private readonly events: GcEvents
  private readonly now: () => number
  private timer?: NodeJS.Timeout
  private running?: Promise<void>
  private passes: Promise<void> = Promise.resolve()

  constructor (components: { store: PieceStore }, init: { storage: StorageConfig, now?: () => number }, events: GcEvents = {}) {
    this.store = components.store
    this.config = init.storage
    this.events = events
    this.now = init.now ?? Date.now
  }

  start (): void {
    this.timer = setInterval(() => { this.trigger() }, GC_INTERVAL_MS)
    this.timer.unref()
    this.trigger()
  }

  async stop (): Promise<void> {
    clearInterval(this.timer)
    this.timer = undefined
    await this.running
  }

  /** Starts a pass unless one is running. */
  trigger (): void {
    this.running ??= this.runOnce()
      .then(() => {}, err => this.events.onError?.(err as Error))
      .finally(() => { this.running = undefined })
  }

  /** Runs a pass after the one in progress, if any: passes never overlap. */
  async runOnce (): Promise<BlobRecord[]> {
    const pass = this.passes.then(async () => this.pass())
    this.passes = pass.then(() => {}, () => {})
    return pass
  }

  private async pass (): Promise<BlobRecord[]> {
    const usage = await this.usage()
    const plan = planEviction(this.store.list(), {
      ...usage,
      highWatermark: this.config.highWatermark,
      lowWatermark: this.config.lowWatermark,
      maxAgeMs: this.config.maxAgeMs,
      now: this.now(),
      isPinned: d => this.store.isPinned(d)
    })
    const evicted: BlobRecord[] = []
    for (const record of plan) {
      if (await this.store.evict(record.digest)) {
        evicted.push(record)
        this.events.onEvict?.(record, this.now() - record.lastAccessAt > this.config.maxAgeMs ? 'age' : 'lru')
      }
    }
    await this.store.flushAccessTimes()
    this.events.onUsage?.(await this.usage())
    return evicted
  }

  private async usage (): Promise<{ usedBytes: number, capacityBytes: number }> {
    if (this.config.quotaBytes != null) return { usedBytes: this.store.usedBytes(), capacityBytes: this.config.quotaBytes }
    const disk = await this.store.diskSpace()
    return { usedBytes: disk.usedBytes, capacityBytes: disk.totalBytes }
  }
}

