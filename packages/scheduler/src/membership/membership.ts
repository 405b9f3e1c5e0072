import { EventEmitter } from 'node:events'
import { NotAdmittedError, UnknownMemberError } from '../errors.ts'
import { parsePeerKey } from '../types.ts'
import type { PeerKey } from '../types.ts'
import type { JoinTokens } from './join-tokens.ts'
import type { MemberRecord, MemberStore } from './member-store.ts'

export interface MembershipComponents {
  tokens: JoinTokens
  store: MemberStore
}

export interface MembershipEvents {
  /** Members admitted or removed: every connected agent is told the delta. */
  change: [{ added: PeerKey[], removed: PeerKey[] }]
}

/** A member as the admin API lists it. */
export type MemberView = MemberRecord

/**
 * Who belongs to the swarm (docs/membership.md). An agent is admitted when its registration
 * presents a valid join token, or when its peer id was admitted before (a restart of either side
 * needs no token that may since have been revoked); it is recorded on disk before it is told
 * anything. The operator removes a member through the admin API: the removal is recorded too, so
 * that peer id cannot join again, even with a valid token (the host rejoins with a new identity
 * and a token). Every change is emitted for the server to push to the agents.
 */
export class Membership extends EventEmitter<MembershipEvents> {
  readonly #tokens: JoinTokens
  readonly #store: MemberStore
  readonly #records = new Map<PeerKey, MemberRecord>()
  readonly #now: () => Date

  constructor (components: MembershipComponents, init: { now?: () => Date } = {}) {
    super()
    this.#tokens = components.tokens
    this.#store = components.store
    this.#now = init.now ?? (() => new Date())
  }

  async start (): Promise<void> {
    await this.#tokens.load()
    await this.#store.open()
    for (const record of await this.#store.all()) this.#records.set(parsePeerKey(record.peer), record)
  }

  async stop (): Promise<void> {
    await this.#store.close()
  }

  /** Current members (not removed). */
  members (): PeerKey[] {
    return [...this.#records].filter(([, r]) => r.removedAt == null).map(([peer]) => peer)
  }

  isMember (peer: PeerKey): boolean {
    const record = this.#records.get(peer)
    return record != null && record.removedAt == null
  }

  /** Every record, removed ones too (the admin API). */
  list (): MemberView[] {
    return [...this.#records.values()]
  }

  /** Admits a registering agent, or throws NotAdmittedError saying why. */
  async admit (peer: PeerKey, token: string | undefined, hostName: string): Promise<void> {
    const record = this.#records.get(peer)
    if (record?.removedAt != null) throw new NotAdmittedError(`peer ${peer} was removed from the swarm at ${record.removedAt}; a host rejoins with a new identity (a new peer.key) and a join token`)
    if (record != null) return
    const label = await this.#tokens.check(token)
    if (label == null) {
      throw new NotAdmittedError(token == null
        ? `peer ${peer} presented no join token: start the agent with --join-token FILE (a token from ${this.#tokens.path})`
        : `peer ${peer} presented a join token that is not (or no longer) valid`)
    }
    const admitted: MemberRecord = { peer, hostName, token: label, admittedAt: this.#now().toISOString() }
    await this.#store.put(admitted)
    this.#records.set(peer, admitted)
    this.emit('change', { added: [peer], removed: [] })
  }

  /** Removes a member at once; UnknownMemberError when the peer is not one. */
  async remove (peer: PeerKey): Promise<MemberRecord> {
    const record = this.#records.get(peer)
    if (record == null || record.removedAt != null) throw new UnknownMemberError(`${peer} is not a member`)
    const removed = { ...record, removedAt: this.#now().toISOString() }
    await this.#store.put(removed)
    this.#records.set(peer, removed)
    this.emit('change', { added: [], removed: [peer] })
    return removed
  }
}
