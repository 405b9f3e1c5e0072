import { setTimeout as sleep } from 'node:timers/promises'
import type { Digest } from '@shoal/proto'

/** Where seeded pieces go: the blob's partial file (written, recorded, and so offered to peers). */
export interface SeedStore {
  has: (index: number) => boolean
  write: (index: number, bytes: Uint8Array, digest: Digest) => Promise<void>
  read: (index: number) => Promise<Uint8Array>
}

export interface OriginSeederInit {
  /** The pieces the scheduler assigned this agent to read from the origin (may change). */
  assigned: () => ReadonlySet<number>
  /** An assigned piece from the origin, checked, with its digest (shared with the in-order path, so a piece is read once). */
  fetch: (index: number, signal: AbortSignal) => Promise<{ bytes: Uint8Array, digest: Digest }>
  store: SeedStore
  /** Pieces read at once for this blob. */
  workers: number
  /** How often an assignment that is used up is looked at again (a scheduler may hand more). */
  idleMs?: number
  onError?: (index: number, err: Error) => void
}

/**
 * Reads the pieces the scheduler assigned to this agent from the origin ahead of its own client,
 * lowest first, and stores them at once, so that the swarm has every piece of a cold blob as soon
 * as the origin link allows, instead of when the slowest client's stream reaches it (everyone would
 * then move in lockstep at the pace of pieces entering the swarm one window at a time).
 */
export class OriginSeeder {
  readonly #init: OriginSeederInit
  readonly #seeded = new Map<number, Digest>()
  /** Pieces being read and stored: the stream that reaches one takes these bytes instead of reading it again. */
  readonly #underWay = new Map<number, Promise<{ bytes: Uint8Array, digest: Digest }>>()
  readonly #taken = new Set<number>()
  readonly #controller = new AbortController()
  #running?: Promise<void>

  constructor (init: OriginSeederInit) {
    this.#init = init
  }

  start (): void {
    this.#running ??= Promise.all(Array.from({ length: Math.max(1, this.#init.workers) }, async () => { await this.#work() })).then(() => {})
  }

  async stop (): Promise<void> {
    this.#controller.abort()
    await this.#running
  }

  /**
   * A piece this seeder read: its bytes and digest, from memory while it is being stored, then
   * from the store; undefined for a piece it has not started.
   */
  take (index: number): Promise<{ bytes: Uint8Array, digest: Digest }> | undefined {
    const underWay = this.#underWay.get(index)
    if (underWay != null) return underWay
    const digest = this.#seeded.get(index)
    if (digest == null) return undefined
    return this.#init.store.read(index).then(bytes => ({ bytes, digest }))
  }

  async #work (): Promise<void> {
    const signal = this.#controller.signal
    while (!signal.aborted) {
      const next = this.#next()
      if (next == null) {
        await sleep(this.#init.idleMs ?? 250, undefined, { signal }).catch(() => {})
        continue
      }
      this.#taken.add(next)
      const job = (async () => {
        const piece = await this.#init.fetch(next, signal)
        await this.#init.store.write(next, piece.bytes, piece.digest)
        return piece
      })()
      this.#underWay.set(next, job)
      try {
        const { digest } = await job
        this.#seeded.set(next, digest)
      } catch (err) {
        if (signal.aborted) return
        // The in-order path reads it when it gets there; the seeder moves on.
        this.#init.onError?.(next, err as Error)
      } finally {
        this.#underWay.delete(next)
      }
    }
  }

  #next (): number | undefined {
    let best: number | undefined
    for (const index of this.#init.assigned()) {
      if (this.#taken.has(index) || this.#init.store.has(index)) continue
      if (best == null || index < best) best = index
    }
    return best
  }
}
