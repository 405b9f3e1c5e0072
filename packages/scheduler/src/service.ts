import { mergePieceTables, peerIdText } from '@shoal/proto'
import type { Digest, ParsedAgentMessage, PieceTable, SchedulerMessage } from '@shoal/proto'
import { AvailabilityRegistry } from './availability.ts'
import type { TaskAvailabilityView } from './availability.ts'
import { SCHEDULER_CHILDREN_PER_TICK, SCHEDULER_ORIGIN_PACE_MAX_GAP_MS, SCHEDULER_REPORT_INTERVAL_MS } from './constants.ts'
import { OriginRounds } from './origin-round.ts'
import type { OriginAssignedEvent } from './origin-round.ts'
import { ParentHealth } from './parent-health.ts'
import { ParentRounds } from './parent-round.ts'
import type { ParentAgent } from './parent-round.ts'
import { parentIdentityFields } from './frames.ts'
import { TaskState } from './task-state.ts'
import { parsePeerKey } from './types.ts'
import type { PeerInfo, PeerKey } from './types.ts'

/** How the service reaches one agent: the server encodes and writes what it is given. */
export interface AgentLink {
  send: (message: SchedulerMessage) => void
}

export interface AgentRegistration {
  info: PeerInfo
  /** The peer id's wire form (a multihash), as parents are named to other agents. */
  peerIdBytes: Uint8Array<ArrayBuffer>
  addresses: Array<Uint8Array<ArrayBuffer>>
  hostName: string
}

export interface SchedulerServiceInit {
  now?: () => number
  parentsPerChild?: number
  readersPerPiece?: number
  /** Agents that read one task's pieces from the origin at once (SCHEDULER_ORIGIN_READERS). */
  originReaders?: number
  reportIntervalMs?: number
  /** An origin assignee that finishes no piece for this long has its pieces handed to others. */
  assigneeStallMs?: number
  /** How often a downloader hears of its parents' new pieces when the list itself did not change. */
  parentsRefreshMs?: number
  /** Downloaders of one task whose parents are decided in one round. */
  childrenPerRound?: number
  /** Downloaders told before whose parents are decided again in one round, over all tasks. */
  childrenPerTick?: number
  events?: SchedulerEvents
}

/** Hooks for metrics; called synchronously, must not throw. */
export interface SchedulerEvents {
  onDecision?: (event: { digest: Digest, children: number, seconds: number }) => void
  /** One decision round (tick) over every task: how many it decided and how long it took in all. */
  onRound?: (event: { tasks: number, seconds: number }) => void
  onOriginAssigned?: (event: OriginAssignedEvent) => void
  onEjected?: (event: { peer: PeerKey, reason: 'bad-piece' | 'failures' | 'bad-table' }) => void
  onPiecesReported?: (event: { source: 'peer' | 'origin', pieces: number, bytes: number }) => void
}

interface Agent {
  registration: AgentRegistration
  link: AgentLink
  /** How parent rounds name it to its children. */
  parent: ParentAgent
}

/** What a prefetch job runner hears of the agents: who comes and goes, and their prefetch answers. */
export interface AgentObserver {
  connected: (peer: PeerKey, registration: AgentRegistration) => void
  disconnected: (peer: PeerKey) => void
  prefetch: (peer: PeerKey, message: ParsedAgentMessage & { kind: 'prefetchResolved' | 'prefetchProgress' }) => void
}

/**
 * The scheduler's decisions, apart from any transport: agents connect and send what they parsed;
 * the service keeps who holds what, and on each decision round (tick) tells every downloader of a
 * changed task its parents, its origin pieces and what it lacks of the piece table. A cold task's
 * pieces are split among the downloaders there at the first round after it appeared; a downloader
 * that leaves or stalls has its pieces handed to the others.
 */
export class SchedulerService {
  readonly registry = new AvailabilityRegistry()
  readonly health: ParentHealth
  readonly #agents = new Map<PeerKey, Agent>()
  readonly #tasks = new Map<Digest, TaskState>()
  /** When each agent last reported origin progress (a piece, or bytes of one), for any task (see OriginRoundsComponents). */
  readonly #originProgressAt = new Map<PeerKey, number>()
  /** When each agent last reported origin pieces finished: its pace is measured between those. */
  readonly #originPieceAt = new Map<PeerKey, number>()
  /** Each agent's time per origin piece lately: the mean of its last gap and the mean before (#originProgressed). */
  readonly #originPaceMs = new Map<PeerKey, number>()
  readonly #now: () => number
  readonly #reportIntervalMs: number
  readonly #origin: OriginRounds
  readonly #parents: ParentRounds
  readonly #childrenPerTick: number
  readonly #events: SchedulerEvents
  #observer?: AgentObserver

  constructor (init: SchedulerServiceInit = {}) {
    this.#now = init.now ?? Date.now
    this.#reportIntervalMs = init.reportIntervalMs ?? SCHEDULER_REPORT_INTERVAL_MS
    this.#childrenPerTick = init.childrenPerTick ?? SCHEDULER_CHILDREN_PER_TICK
    this.#events = init.events ?? {}
    this.health = new ParentHealth()
    this.#origin = new OriginRounds({
      now: this.#now,
      availability: digest => this.registry.task(digest),
      send: (peer, message) => { this.send(peer, message) },
      onOriginAssigned: event => { this.#events.onOriginAssigned?.(event) },
      originLoads: () => this.#originLoads(),
      originProgressAt: peer => this.#originProgressAt.get(peer),
      originPaceMs: peer => this.#originPaceMs.get(peer)
    }, { readersPerPiece: init.readersPerPiece, originReaders: init.originReaders, assigneeStallMs: init.assigneeStallMs })
    this.#parents = new ParentRounds({
      agent: peer => this.#agents.get(peer)?.parent,
      send: (peer, message) => { this.send(peer, message) },
      health: this.health
    }, { parentsPerChild: init.parentsPerChild, parentsRefreshMs: init.parentsRefreshMs, childrenPerRound: init.childrenPerRound })
  }

  get agentCount (): number {
    return this.#agents.size
  }

  tasks (): IterableIterator<TaskState> {
    return this.#tasks.values()
  }

  /** What the admin view shows of each agent. */
  agents (): Array<{ id: PeerKey, hostName: string, site?: string, zone?: string, uploadSlots: number }> {
    return [...this.#agents].map(([id, a]) => ({ id, hostName: a.registration.hostName, site: a.registration.info.site, zone: a.registration.info.zone, uploadSlots: a.registration.info.uploadSlots }))
  }

  /** The one observer of agents' comings, goings and prefetch answers (the prefetch jobs). */
  observeAgents (observer: AgentObserver): void {
    this.#observer = observer
  }

  /** A registered agent's registration, or undefined. */
  registrationOf (peer: PeerKey): AgentRegistration | undefined {
    return this.#agents.get(peer)?.registration
  }

  /** Sends a message to a registered agent (prefetch orders); false when it is not connected. */
  send (peer: PeerKey, message: Partial<SchedulerMessage>): boolean {
    const agent = this.#agents.get(peer)
    if (agent == null) return false
    agent.link.send(message as SchedulerMessage)
    return true
  }

  /** An agent registered (again): it is told the report interval; what it held before is forgotten until it announces. */
  connect (peer: PeerKey, registration: AgentRegistration, link: AgentLink): void {
    if (this.#agents.has(peer)) this.disconnect(peer)
    const { info, peerIdBytes, addresses } = registration
    const parent = { info, peerIdBytes, addresses, identityFields: parentIdentityFields({ peerId: peerIdBytes, addresses }) }
    this.#agents.set(peer, { registration, link, parent })
    link.send({ registered: { reportIntervalMs: this.#reportIntervalMs } })
    this.#observer?.connected(peer, registration)
  }

  /** The agent's stream ended: it leaves every task. */
  disconnect (peer: PeerKey): void {
    if (!this.#agents.delete(peer)) return
    this.#originProgressAt.delete(peer)
    this.#originPieceAt.delete(peer)
    this.#originPaceMs.delete(peer)
    this.#observer?.disconnected(peer)
    for (const digest of this.registry.removePeer(peer)) this.#leave(peer, digest, false)
    for (const task of this.#tasks.values()) if (task.wanting.has(peer)) this.#leave(peer, task.digest, false)
  }

  /** One message from a registered agent. Unknown agents' messages are ignored (the server only passes registered ones). */
  handle (peer: PeerKey, message: ParsedAgentMessage): void {
    if (!this.#agents.has(peer)) return
    const now = this.#now()
    switch (message.kind) {
      case 'register':
        return
      case 'announceTask': {
        const task = this.#task(message.digest, message.size)
        this.registry.announce(peer, { digest: message.digest, size: message.size }, message.bitfield)
        task.locality.add(this.#agents.get(peer)!.registration.info)
        if (message.wantsPieces && !message.bitfield.full()) {
          task.wanting.add(peer)
        } else {
          task.forget(peer)
          this.#origin.reassignFrom(task, peer)
        }
        task.dirty = true
        return
      }
      case 'piecesFinished': {
        const task = this.#tasks.get(message.digest)
        if (task == null || this.registry.task(message.digest)?.has(peer) !== true) return
        for (const index of message.indexes) if (index < task.size) this.registry.pieceFinished(peer, message.digest, index)
        if (message.source === 'origin') {
          task.originReported(peer, { bytes: message.originBytes ?? 0, reading: message.reading ?? [] }, now)
          this.#originProgressed(peer, message.indexes.length, now)
        }
        this.#events.onPiecesReported?.({ source: message.source, pieces: message.indexes.length, bytes: message.bytes })
        task.dirty = true
        return
      }
      case 'pieceFailed': {
        const task = this.#tasks.get(message.digest)
        const parent = message.parent == null ? undefined : keyOf(message.parent)
        const reason = message.reason
        if (reason === 'bad-table') {
          if (task?.tableFrom != null) this.#eject(task.tableFrom, 'bad-table', now)
          if (task != null) task.table = undefined
        } else if (reason === 'bad-piece') {
          if (parent != null) this.#eject(parent, 'bad-piece', now)
        } else if (parent != null && this.health.recordFailure(parent, reason, now)) {
          this.#events.onEjected?.({ peer: parent, reason: 'failures' })
        }
        if (task != null) task.dirty = true
        return
      }
      case 'pieceTable': {
        const task = this.#tasks.get(message.table.digest)
        if (task == null || task.size !== message.table.size) return
        this.#learnTable(task, message.table, peer)
        return
      }
      case 'leaveTask':
        this.registry.leave(peer, message.digest)
        this.#leave(peer, message.digest, true)
        return
      case 'prefetchResolved':
      case 'prefetchProgress':
        this.#observer?.prefetch(peer, message)
    }
  }

  /**
   * A decision round: every changed task's downloaders get what changed for them. New downloaders
   * (never told their parents) are all decided, up to CHILDREN_PER_ROUND per task; downloaders
   * told before share what is left of CHILDREN_PER_TICK after them, dealt over the changed tasks in
   * proportion to how many each has, so that a busy round (a rollout's surge of new downloaders
   * included) keeps its period and every downloader waits about as long for its turn; those not
   * decided keep their parents until then. Returns the tasks decided.
   */
  tick (): number {
    const roundStarted = performance.now()
    const now = this.#now()
    const changed: Array<[TaskState, TaskAvailabilityView]> = []
    let told = 0
    let fresh = 0
    for (const task of this.#tasks.values()) {
      const availability = this.registry.task(task.digest)
      if (availability == null) {
        if (task.wanting.size === 0) this.#tasks.delete(task.digest)
        continue
      }
      this.#origin.replaceStalledAssignees(task, availability, now)
      if (!task.dirty) {
        // Only the origin side: its parents have not changed.
        if (task.spreadWaiting) {
          this.#origin.spreadOrigin(task, availability, now)
          this.#origin.sendOrigin(task, availability)
        }
        continue
      }
      changed.push([task, availability])
      told += task.parentsSent.size
      fresh += this.#parents.freshThisRound(task)
    }
    const budget = Math.max(0, this.#childrenPerTick - fresh)
    let dealt = 0
    for (const [task, availability] of changed) {
      task.dirty = false
      const started = performance.now()
      this.#origin.assignColdPieces(task, availability, now)
      this.#origin.spreadOrigin(task, availability, now)
      this.#origin.sendOrigin(task, availability)
      const share = told <= budget ? Infinity : Math.floor(budget * (dealt + task.parentsSent.size) / told) - Math.floor(budget * dealt / told)
      dealt += task.parentsSent.size
      this.#parents.decide(task, availability, now, share)
      this.#sendTable(task)
      this.#events.onDecision?.({ digest: task.digest, children: task.wanting.size, seconds: (performance.now() - started) / 1000 })
    }
    this.#events.onRound?.({ tasks: changed.length, seconds: (performance.now() - roundStarted) / 1000 })
    return changed.length
  }

  #task (digest: Digest, size: number): TaskState {
    let task = this.#tasks.get(digest)
    if (task == null) {
      task = new TaskState(digest, size)
      this.#tasks.set(digest, task)
    }
    return task
  }

  /**
   * An agent reported origin progress: `pieces` finished, or none (bytes of a piece under way: it
   * reads on). Its pace is the time since its last report of pieces over the pieces; a gap past
   * SCHEDULER_ORIGIN_PACE_MAX_GAP_MS was a pause (no origin work), not its pace, and is not counted.
   */
  #originProgressed (peer: PeerKey, pieces: number, now: number): void {
    this.#originProgressAt.set(peer, now)
    if (pieces === 0) return
    const last = this.#originPieceAt.get(peer)
    this.#originPieceAt.set(peer, now)
    if (last == null || now - last > SCHEDULER_ORIGIN_PACE_MAX_GAP_MS) return
    const gap = (now - last) / pieces
    const before = this.#originPaceMs.get(peer)
    this.#originPaceMs.set(peer, before == null ? gap : (before + gap) / 2)
  }

  /** How many tasks each peer reads from the origin now (an assignee of, while pieces are unheld). O(tasks x readers). */
  #originLoads (): Map<PeerKey, number> {
    const loads = new Map<PeerKey, number>()
    for (const task of this.#tasks.values()) {
      if (task.assignment == null || (this.registry.task(task.digest)?.unheldCount() ?? 0) === 0) continue
      for (const peer of task.assignment.assignees) loads.set(peer, (loads.get(peer) ?? 0) + 1)
    }
    return loads
  }

  #leave (peer: PeerKey, digest: Digest, stillConnected: boolean): void {
    const task = this.#tasks.get(digest)
    if (task == null) return
    task.forget(peer)
    task.locality.remove(peer)
    this.#origin.reassignFrom(task, peer)
    if (!stillConnected && task.tableFrom === peer) task.tableFrom = undefined
  }

  /** The table to each downloader that has not had all its known entries; the message is made once per round and shared. */
  #sendTable (task: TaskState): void {
    const table = task.table
    if (table == null) return
    const known = task.tableKnown
    let message: Partial<SchedulerMessage> | undefined
    for (const peer of task.wanting) {
      if ((task.tableSent.get(peer) ?? 0) >= known) continue
      task.tableSent.set(peer, known)
      message ??= { pieceTable: { digest: table.digest, size: BigInt(table.size), pieceSize: table.pieceSize, pieces: table.pieces.map(cid => cid == null ? new Uint8Array() : cid.bytes.slice()) } }
      this.send(peer, message)
    }
  }

  /** The first table is taken as it is; later ones only fill its holes. A table that contradicts it is dropped. */
  #learnTable (task: TaskState, table: PieceTable, from: PeerKey): void {
    if (task.table == null) {
      task.table = { ...table, pieces: [...table.pieces] }
      task.tableFrom = from
      task.dirty = true
      return
    }
    // A complete table learns nothing more (and a contradiction would be dropped): skip the merge, which compares every CID.
    if (task.tableKnown === task.table.pieces.length) return
    try {
      if (mergePieceTables(task.table, table) > 0) task.dirty = true
    } catch {
      // Two agents disagree on a piece: the blob's digest will tell which, and its reporter says so.
    }
  }

  #eject (peer: PeerKey, reason: 'bad-piece' | 'bad-table', now: number): void {
    this.health.recordBadPiece(peer, now)
    this.#events.onEjected?.({ peer, reason })
    for (const task of this.#tasks.values()) if (task.parentsOf.size > 0) task.dirty = true
  }

}

/** The key of a peer named on the wire; undefined for bytes that are not a peer id. */
function keyOf (peerIdBytes: Uint8Array): PeerKey | undefined {
  try {
    return parsePeerKey(peerIdText(peerIdBytes))
  } catch {
    return undefined
  }
}
