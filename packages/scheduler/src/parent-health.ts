import {
  PARENT_BAD_PIECE_EJECTION_MS, PARENT_EJECTION_FAILURES, PARENT_FAILURE_EJECTION_MS, PARENT_FAILURE_WINDOW_MS
} from './constants.ts'
import type { PeerKey } from './types.ts'

/**
 * Parent health: the failures and bad pieces that children report against each parent, and the
 * ejections that follow. Pure: the clock comes in as `now` (milliseconds, from any monotonic
 * source) and nothing runs on its own; `prune(now)` drops what no longer matters.
 *
 * - A bad piece (wrong length or hash) ejects the parent at once for badPieceEjectionMs.
 * - A failure (timeout, refused, unavailable) counts for failureWindowMs; the ejectionFailures-th
 *   failure within the window ejects the parent for failureEjectionMs and clears its count, so it
 *   comes back with a clean record.
 * - Failures reported while a parent is ejected are not counted (transfers that were in flight
 *   when it was ejected); a bad piece then still extends the ejection.
 *
 * Costs: O(ejectionFailures) per call, memory O(peers with recent failures or ejections).
 */

export type FailureReason = 'timeout' | 'refused' | 'unavailable'
export type EjectionReason = 'bad-piece' | 'failures'

export interface Ejection {
  reason: EjectionReason
  /** The `now` from which the parent may be handed out again. */
  until: number
}

export interface ParentHealthInit {
  /** Default PARENT_FAILURE_WINDOW_MS. */
  failureWindowMs?: number
  /** Default PARENT_EJECTION_FAILURES. */
  ejectionFailures?: number
  /** Default PARENT_FAILURE_EJECTION_MS. */
  failureEjectionMs?: number
  /** Default PARENT_BAD_PIECE_EJECTION_MS. */
  badPieceEjectionMs?: number
}

interface Failure {
  at: number
  reason: FailureReason
}

export class ParentHealth {
  readonly failureWindowMs: number
  readonly ejectionFailures: number
  readonly failureEjectionMs: number
  readonly badPieceEjectionMs: number
  readonly #failures = new Map<PeerKey, Failure[]>()
  readonly #ejections = new Map<PeerKey, Ejection>()

  constructor (init: ParentHealthInit = {}) {
    this.failureWindowMs = init.failureWindowMs ?? PARENT_FAILURE_WINDOW_MS
    this.ejectionFailures = Math.max(1, init.ejectionFailures ?? PARENT_EJECTION_FAILURES)
    this.failureEjectionMs = init.failureEjectionMs ?? PARENT_FAILURE_EJECTION_MS
    this.badPieceEjectionMs = init.badPieceEjectionMs ?? PARENT_BAD_PIECE_EJECTION_MS
  }

  /** A child could not get a piece from `peer`. Returns true if this failure ejected it. */
  recordFailure (peer: PeerKey, reason: FailureReason, now: number): boolean {
    if (this.isEjected(peer, now)) {
      return false
    }
    const failures = this.#recent(peer, now)
    failures.push({ at: now, reason })
    if (failures.length < this.ejectionFailures) {
      this.#failures.set(peer, failures)
      return false
    }
    this.#failures.delete(peer)
    this.#ejections.set(peer, { reason: 'failures', until: now + this.failureEjectionMs })
    return true
  }

  /** A child got a piece from `peer` that failed verification: `peer` is ejected. */
  recordBadPiece (peer: PeerKey, now: number): Ejection {
    const current = this.ejection(peer, now)
    const ejection: Ejection = { reason: 'bad-piece', until: Math.max(current?.until ?? -Infinity, now + this.badPieceEjectionMs) }
    this.#failures.delete(peer)
    this.#ejections.set(peer, ejection)
    return ejection
  }

  isEjected (peer: PeerKey, now: number): boolean {
    return this.ejection(peer, now) != null
  }

  /** Why and until when `peer` is ejected, or undefined if it is not (any more). */
  ejection (peer: PeerKey, now: number): Ejection | undefined {
    const ejection = this.#ejections.get(peer)
    if (ejection != null && now >= ejection.until) {
      this.#ejections.delete(peer)
      return undefined
    }
    return ejection == null ? undefined : { ...ejection }
  }

  /** Failures of `peer` within the window before `now` (of one reason, if given). */
  recentFailures (peer: PeerKey, now: number, reason?: FailureReason): number {
    const failures = this.#failures.get(peer)
    if (failures == null) {
      return 0
    }
    let count = 0
    for (const failure of failures) {
      if (failure.at > now - this.failureWindowMs && (reason == null || failure.reason === reason)) {
        count++
      }
    }
    return count
  }

  /** Peers ejected at `now`. O(peers with a record). */
  ejected (now: number): PeerKey[] {
    const peers: PeerKey[] = []
    for (const peer of [...this.#ejections.keys()]) {
      if (this.isEjected(peer, now)) {
        peers.push(peer)
      }
    }
    return peers
  }

  /** Forgets everything about `peer` (an operator's pardon; not for a peer that merely reconnects). */
  forget (peer: PeerKey): void {
    this.#failures.delete(peer)
    this.#ejections.delete(peer)
  }

  /** Drops failures out of the window and ejections that ended; call it now and then. O(peers with a record). */
  prune (now: number): void {
    for (const peer of [...this.#failures.keys()]) {
      const failures = this.#recent(peer, now)
      if (failures.length === 0) {
        this.#failures.delete(peer)
      } else {
        this.#failures.set(peer, failures)
      }
    }
    this.ejected(now)
  }

  /** Peers with any record (recent failures or an ejection, expired or not): the memory held. */
  get size (): number {
    return new Set([...this.#failures.keys(), ...this.#ejections.keys()]).size
  }

  #recent (peer: PeerKey, now: number): Failure[] {
    const since = now - this.failureWindowMs
    return (this.#failures.get(peer) ?? []).filter(failure => failure.at > since)
  }
}
