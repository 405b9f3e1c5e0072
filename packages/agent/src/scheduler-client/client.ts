import { setTimeout as sleep } from 'node:timers/promises'
import { EventEmitter } from 'node:events'
import type { Libp2p, PeerId, Startable } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Bitfield, Digest } from '@shoal/proto'
import { SCHEDULER_RECONNECT_MAX_MS, SCHEDULER_RECONNECT_MIN_MS } from '../constants.ts'
import { silentLogger } from '../logger.ts'
import type { Logger } from '../logger.ts'
import { rendezvousOrder } from '../rendezvous.ts'
import { SchedulerSession } from './session.ts'
import type { MembersMessage, OriginMessage, ParentsMessage, PieceTableMessage, PrefetchCancelMessage, PrefetchOrderMessage, Registration } from './session.ts'

/** A blob this agent holds or is fetching, as announced to its scheduler. */
export interface HeldTask {
  digest: Digest
  size: number
  bitfield: Bitfield
  wantsPieces: boolean
}

export interface SchedulerClientComponents {
  node: Pick<Libp2p, 'dial'>
  logger?: Logger
}

export interface SchedulerClientInit {
  /** `--scheduler` multiaddrs, each ending with /p2p/<peer id> (the key of its rendezvous weight). */
  schedulers: Multiaddr[]
  /** A scheduler in this process (`--embedded-scheduler`), keyed by its peer id like the others. */
  local?: LocalScheduler
  registration: () => Registration
  /** What to announce to a scheduler that (re)connects: its state is soft. */
  heldTasks: () => HeldTask[]
  reconnectMinMs?: number
  reconnectMaxMs?: number
}

export interface SchedulerClientEvents {
  parents: [ParentsMessage]
  origin: [OriginMessage]
  pieceTable: [PieceTableMessage]
  /** A prefetch order, and the session to answer on (the scheduler that runs the job). */
  prefetch: [PrefetchOrderMessage, SchedulerSession]
  prefetchCancel: [PrefetchCancelMessage, SchedulerSession]
  /** The swarm's members as one scheduler (by its key) tells them. */
  members: [MembersMessage, string]
  /** A scheduler's session opened or closed (metrics, logs). */
  connected: [string]
  disconnected: [string]
}

/** A scheduler in the agent's own process: the session comes from it, not from a dial. */
export interface LocalScheduler {
  key: string
  open: (registration: Registration) => Promise<SchedulerSession>
}

/** A scheduler found at run time (`--scheduler dns:`): the peer id its handshake showed, and where. */
export interface FoundScheduler {
  id: PeerId
  addresses: Multiaddr[]
}

interface Slot {
  key: string
  /** What the logs name it by. */
  name: string
  open: (registration: Registration, signal: AbortSignal) => Promise<SchedulerSession>
  session?: SchedulerSession
  /** Found at run time (setFound), not configured: where it answered, updated by each setFound. */
  found?: { addresses: Multiaddr[] }
  /** Ends this slot's loop alone (a found scheduler that is gone). */
  controller?: AbortController
}

/**
 * The agent's only way to its schedulers. One session per configured scheduler, each redialled
 * with backoff while it is away. A blob's scheduler is the first live one in the rendezvous order
 * of its digest; with none live, sessionFor() is undefined and the agent works through the DHT and
 * the origin until one comes back. A scheduler that (re)connects is told the blobs it now owns.
 */
export class SchedulerClient extends EventEmitter<SchedulerClientEvents> implements Startable {
  readonly #node: Pick<Libp2p, 'dial'>
  readonly #init: SchedulerClientInit
  #slots: Slot[]
  #controller?: AbortController
  readonly #log: Logger
  readonly #loops = new Set<Promise<void>>()
  /** Where each held blob was last announced, so that a blob whose scheduler changes is announced to the new one. */
  readonly #announcedTo = new Map<Digest, SchedulerSession>()

  constructor (components: SchedulerClientComponents, init: SchedulerClientInit) {
    super()
    this.#node = components.node
    this.#log = components.logger ?? silentLogger
    this.#init = init
    this.#slots = init.schedulers.map(addr => ({
      key: addr.getComponents().find(c => c.name === 'p2p')?.value ?? addr.toString(),
      name: addr.toString(),
      open: async (registration, signal) => SchedulerSession.open(this.#node, addr, registration, { signal })
    }))
    const local = init.local
    if (local != null) {
      // Listed too (every host given the same --scheduler list): this process is not dialled, it is asked.
      this.#slots = this.#slots.filter(slot => slot.key !== local.key)
      this.#slots.push({ key: local.key, name: 'the embedded scheduler', open: async registration => local.open(registration) })
    }
  }

  start (): void {
    if (this.#controller != null) return
    const controller = new AbortController()
    this.#controller = controller
    for (const slot of this.#slots) this.#startSlot(slot, controller.signal)
  }

  #startSlot (slot: Slot, signal: AbortSignal): void {
    slot.controller = new AbortController()
    const loop = this.#keepConnected(slot, AbortSignal.any([signal, slot.controller.signal]))
    this.#loops.add(loop)
    void loop.finally(() => this.#loops.delete(loop))
  }

  /**
   * The schedulers found behind `--scheduler dns:` now, each keyed by its peer id like a configured
   * one, so every agent ranks a blob's schedulers alike however it learned them. A new one gets a
   * session (and the held blobs it now owns); one no longer found is dropped: its session closes and
   * its blobs go to their next scheduler, as when a scheduler goes away. One also configured, or the
   * embedded one, keeps its own slot.
   */
  setFound (found: FoundScheduler[]): void {
    const next = new Map(found.map(f => [f.id.toString(), f]))
    for (const slot of [...this.#slots]) {
      if (slot.found == null) continue
      const still = next.get(slot.key)
      if (still != null) {
        slot.found.addresses = still.addresses
        continue
      }
      this.#slots = this.#slots.filter(s => s !== slot)
      this.#log.info('scheduler no longer found in DNS; its blobs go to their next scheduler', { scheduler: slot.name })
      slot.controller?.abort()
      slot.session?.close()
      this.#announceMoved()
    }
    for (const [key, f] of next) {
      if (this.#slots.some(slot => slot.key === key)) continue
      const where = { addresses: f.addresses }
      const slot: Slot = {
        key,
        name: key,
        found: where,
        // Dialled with its peer id: a different host now at that address fails the handshake.
        open: async (registration, signal) => SchedulerSession.open(this.#node, where.addresses.map(a => a.encapsulate(`/p2p/${key}`)), registration, { signal })
      }
      this.#slots.push(slot)
      if (this.#controller != null) this.#startSlot(slot, this.#controller.signal)
    }
  }

  async stop (): Promise<void> {
    const controller = this.#controller
    if (controller == null) return
    this.#controller = undefined
    controller.abort()
    for (const slot of this.#slots) slot.session?.close()
    await Promise.allSettled([...this.#loops])
  }

  /** The live session of the blob's scheduler, or undefined when none is reachable. */
  sessionFor (digest: Digest): SchedulerSession | undefined {
    return rendezvousOrder(this.#slots, digest).find(slot => slot.session != null && !slot.session.closed)?.session
  }

  /** Announces a blob to its scheduler; false when no scheduler is reachable. */
  announce (task: HeldTask): boolean {
    const owner = this.sessionFor(task.digest)
    if (owner == null) return false
    owner.announce(task)
    this.#announcedTo.set(task.digest, owner)
    return true
  }

  /** Schedulers with a live session. */
  get connected (): number {
    return this.#slots.filter(slot => slot.session != null && !slot.session.closed).length
  }

  async #keepConnected (slot: Slot, signal: AbortSignal): Promise<void> {
    let backoff = this.#init.reconnectMinMs ?? SCHEDULER_RECONNECT_MIN_MS
    while (!signal.aborted) {
      try {
        const session = await slot.open(this.#init.registration(), signal)
        backoff = this.#init.reconnectMinMs ?? SCHEDULER_RECONNECT_MIN_MS
        const closed = new Promise<Error | undefined>(resolve => session.once('close', resolve))
        session.on('parents', m => this.emit('parents', m))
        session.on('origin', m => this.emit('origin', m))
        session.on('pieceTable', m => this.emit('pieceTable', m))
        session.on('prefetch', m => this.emit('prefetch', m, session))
        session.on('prefetchCancel', m => this.emit('prefetchCancel', m, session))
        session.on('members', m => this.emit('members', m, slot.key))
        slot.session = session
        this.emit('connected', slot.key)
        this.#log.info('scheduler connected', { scheduler: slot.name })
        this.#announceMoved()
        const err = await closed
        slot.session = undefined
        this.#announceMoved()
        this.emit('disconnected', slot.key)
        this.#log.warn('scheduler gone; its blobs go to the next scheduler, or to the DHT and the origin', { scheduler: slot.name, error: err?.message })
      } catch (err) {
        if (signal.aborted) return
        this.#log.info('scheduler unreachable; trying again', { scheduler: slot.name, inMs: backoff, error: (err as Error).message })
      }
      // An abort only cuts the pause short; the loop sees the signal.
      await sleep(backoff, undefined, { signal }).catch(() => {})
      backoff = Math.min(2 * backoff, this.#init.reconnectMaxMs ?? SCHEDULER_RECONNECT_MAX_MS)
    }
  }

  /**
   * After a scheduler comes or goes: every held blob whose scheduler is now another one is
   * announced to it (soft state: the new owner learns what the old one knew from the agents).
   */
  #announceMoved (): void {
    const held = this.#init.heldTasks()
    const digests = new Set(held.map(task => task.digest))
    for (const digest of this.#announcedTo.keys()) if (!digests.has(digest)) this.#announcedTo.delete(digest)
    for (const task of held) {
      const owner = this.sessionFor(task.digest)
      if (owner == null || this.#announcedTo.get(task.digest) === owner) continue
      owner.announce(task)
      this.#announcedTo.set(task.digest, owner)
    }
  }
}
