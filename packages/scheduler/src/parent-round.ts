import type { SchedulerMessage } from '@shoal/proto'
import type { TaskAvailabilityView } from './availability.ts'
import { SCHEDULER_CHILDREN_PER_ROUND, SCHEDULER_PARENTS_PER_CHILD, SCHEDULER_PARENTS_REFRESH_MS } from './constants.ts'
import { parentEntry, parentsMessage } from './frames.ts'
import type { ParentEntry } from './frames.ts'
import type { ParentHealth } from './parent-health.ts'
import { ParentPool } from './parent-pool.ts'
import type { ParentState } from './parent-selection.ts'
import type { SentParents, TaskState } from './task-state.ts'
import type { PeerInfo, PeerKey } from './types.ts'

/** What a parent is named by to its children. */
export interface ParentAgent {
  info: PeerInfo
  peerIdBytes: Uint8Array<ArrayBuffer>
  addresses: Array<Uint8Array<ArrayBuffer>>
  /** parentIdentityFields of its peer id and addresses, made once for every entry that names it. */
  identityFields: Uint8Array
}

export interface ParentRoundsComponents {
  /** A registered agent, or undefined. */
  agent: (peer: PeerKey) => ParentAgent | undefined
  /** Sends a message to a registered agent. */
  send: (peer: PeerKey, message: Partial<SchedulerMessage>) => void
  health: ParentHealth
}

export interface ParentRoundsInit {
  parentsPerChild?: number
  /** How often a downloader hears of its parents' new pieces when the list itself did not change. */
  parentsRefreshMs?: number
  /** Downloaders of one task whose parents are decided in one round. */
  childrenPerRound?: number
}

/**
 * The parents side of a decision round, for one task at a time: which downloaders are decided
 * this round, their parents (ParentPool, over the task's LocalityGroups), and a Parents message to
 * those whose list changed or whose parents hold more after the refresh interval.
 *
 * The loads the candidates carry are those before the round (TaskState.uploads): the lists decided
 * in a round are recorded after it. Each parent's entry of the Parents message (its id, addresses
 * and bitfield bytes) is made, and encoded (parentsMessage), once per task and round and shared by
 * every message that names it.
 *
 * Cost per task and round: O(downloaders) to pick the children, then per child decided O(its
 * site, zone or task's peers x P / 8) to select and O(parents) to send.
 */
export class ParentRounds {
  readonly #components: ParentRoundsComponents
  readonly #parentsPerChild: number
  readonly #parentsRefreshMs: number
  readonly #childrenPerRound: number

  constructor (components: ParentRoundsComponents, init: ParentRoundsInit = {}) {
    this.#components = components
    this.#parentsPerChild = init.parentsPerChild ?? SCHEDULER_PARENTS_PER_CHILD
    this.#parentsRefreshMs = init.parentsRefreshMs ?? SCHEDULER_PARENTS_REFRESH_MS
    this.#childrenPerRound = init.childrenPerRound ?? SCHEDULER_CHILDREN_PER_ROUND
  }

  /**
   * Decides the parents of this round's downloaders of `task`: those never told first, then, of
   * those told before, at most `knownBudget` in turn.
   */
  decide (task: TaskState, availability: TaskAvailabilityView, now: number, knownBudget = Infinity): void {
    const children = this.#childrenThisRound(task, knownBudget)
    if (children.length === 0) return
    const { agent: agentOf, health } = this.#components
    const candidates = {
      // The pool gives the info of the task's locality groups: those of registered agents, as agentOf's.
      get: (peer: PeerKey, known?: PeerInfo): ParentState | undefined => {
        const info = known ?? agentOf(peer)?.info
        if (info == null) return undefined
        return { info, uploads: task.uploads.get(peer) ?? 0, recentFailures: health.recentFailures(peer, now), ejected: health.isEjected(peer, now) }
      }
    }
    const pool = new ParentPool({ availability, candidates, groups: task.locality })
    const entries = new Map<PeerKey, ParentEntry | null>()
    const entryOf = (peer: PeerKey): ParentEntry | null => {
      let entry = entries.get(peer)
      if (entry === undefined) {
        const parent = agentOf(peer)
        const bits = availability.bitfield(peer)
        entry = parent == null || bits == null ? null : parentEntry({ peerId: parent.peerIdBytes, addresses: parent.addresses, bitfield: bits.toBytes() }, parent.identityFields)
        entries.set(peer, entry)
      }
      return entry
    }
    const decided: Array<[PeerKey, readonly PeerKey[]]> = []
    for (const child of children) {
      const agent = agentOf(child)
      const bitfield = availability.bitfield(child)
      if (agent == null || bitfield == null) continue
      const choices = pool.select({ info: agent.info, bitfield }, this.#parentsPerChild)
      const parents = choices.map(c => c.id)
      decided.push([child, parents])
      const counts = choices.map(c => c.heldPieces)
      if (!this.#parentsNews(task.parentsSent.get(child), parents, counts, now)) continue
      task.parentsSent.set(child, { parents, counts, at: now })
      this.#components.send(child, parentsMessage(task.digest, parents.flatMap(p => entryOf(p) ?? [])))
    }
    for (const [child, parents] of decided) task.setParents(child, parents)
  }

  /** How many downloaders of `task` never told their parents this round decides. */
  freshThisRound (task: TaskState): number {
    return Math.min(this.#childrenPerRound, task.wanting.size - task.parentsSent.size)
  }

  /**
   * The downloaders whose parents are decided this round: those never told first, then the others
   * in turn, at most CHILDREN_PER_ROUND in all and `knownBudget` of those told before, so that one
   * huge task, or all the tasks of a busy round together, do not hold a round (the rest keep asking
   * their parents themselves, and get their turn in the next rounds; the task stays dirty).
   */
  #childrenThisRound (task: TaskState, knownBudget: number): PeerKey[] {
    const fresh: PeerKey[] = []
    const known: PeerKey[] = []
    for (const child of task.wanting) (task.parentsSent.has(child) ? known : fresh).push(child)
    if (fresh.length + known.length <= this.#childrenPerRound && known.length <= knownBudget) return [...fresh, ...known]
    const start = known.length === 0 ? 0 : task.parentsCursor % known.length
    const taken = Math.max(0, Math.min(known.length, knownBudget, this.#childrenPerRound - fresh.length))
    const turn = start + taken <= known.length ? known.slice(start, start + taken) : [...known.slice(start), ...known.slice(0, start + taken - known.length)]
    task.parentsCursor = start + taken
    task.dirty = true
    return [...fresh.slice(0, this.#childrenPerRound), ...turn]
  }

  /**
   * Whether a downloader should hear of its parents again: the list changed, or the parents hold
   * more and the last message is older than the refresh interval. Between those, the agent asks
   * its parents for their bitfields itself, so a big swarm's rounds do not resend every list.
   */
  #parentsNews (sent: SentParents | undefined, parents: readonly PeerKey[], counts: readonly number[], now: number): boolean {
    if (sent == null || sent.parents.length !== parents.length) return true
    for (let i = 0; i < parents.length; i++) if (sent.parents[i] !== parents[i]) return true
    if (now - sent.at < this.#parentsRefreshMs) return false
    for (let i = 0; i < counts.length; i++) if (sent.counts[i] !== counts[i]) return true
    return false
  }
}
