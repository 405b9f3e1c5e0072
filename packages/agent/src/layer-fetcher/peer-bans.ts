import { PEER_BAN_BAD_PIECES, PEER_BAN_MS } from '../constants.ts'

/** Why a peer was banned: its piece table was wrong (the blob failed its digest), or it sent too many bad pieces. */
export type BanReason = 'bad-table' | 'bad-pieces'

export interface PeerBansInit {
  durationMs?: number
  /** Bad pieces (wrong bytes) a peer may send, across blobs, before it is banned. */
  badPieceLimit?: number
  now?: () => number
  onBan?: (peer: string, reason: BanReason) => void
}

/**
 * Peers this agent no longer asks for anything, across blobs, for a while. Being dropped for one
 * blob (a timeout, a refusal) is not a ban: that is what a busy or restarting peer does. A wrong
 * piece table is, and so are repeated wrong pieces.
 */
export class PeerBans {
  readonly #until = new Map<string, number>()
  readonly #badPieces = new Map<string, number>()
  readonly #durationMs: number
  readonly #badPieceLimit: number
  readonly #now: () => number
  readonly #onBan?: (peer: string, reason: BanReason) => void

  constructor (init: PeerBansInit = {}) {
    this.#durationMs = init.durationMs ?? PEER_BAN_MS
    this.#badPieceLimit = init.badPieceLimit ?? PEER_BAN_BAD_PIECES
    this.#now = init.now ?? Date.now
    this.#onBan = init.onBan
  }

  isBanned (peer: string): boolean {
    const until = this.#until.get(peer)
    if (until == null) return false
    if (until > this.#now()) return true
    this.#until.delete(peer)
    return false
  }

  ban (peer: string, reason: BanReason): void {
    this.#badPieces.delete(peer)
    this.#until.set(peer, this.#now() + this.#durationMs)
    this.#onBan?.(peer, reason)
  }

  /** Counts a bad piece against the peer; bans it at the limit. */
  badPiece (peer: string): void {
    const count = (this.#badPieces.get(peer) ?? 0) + 1
    if (count >= this.#badPieceLimit) this.ban(peer, 'bad-pieces')
    else this.#badPieces.set(peer, count)
  }

  /** Peers banned now. */
  get size (): number {
    for (const peer of [...this.#until.keys()]) this.isBanned(peer)
    return this.#until.size
  }
}
