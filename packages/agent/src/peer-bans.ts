import { PEER_BAN_BAD_FRAMES, PEER_BAN_BAD_PIECES, PEER_BAN_MS } from './constants.ts'

/**
 * Why a peer was banned: its piece table was wrong (the blob failed its digest), it sent too many
 * bad pieces, or too many malformed frames on the piece protocol.
 */
export const BAN_REASONS = ['bad-table', 'bad-pieces', 'malformed-frames'] as const
export type BanReason = typeof BAN_REASONS[number]

export interface PeerBansInit {
  durationMs?: number
  /** Bad pieces (wrong bytes) a peer may send, across blobs, before it is banned. */
  badPieceLimit?: number
  /** Malformed frames (undecodable, or a length prefix past its bound) a peer may send before it is banned. */
  badFrameLimit?: number
  now?: () => number
  onBan?: (peer: string, reason: BanReason) => void
}

/**
 * Peers this agent neither asks nor serves, across blobs, for a while. Being dropped for one blob
 * (a timeout, a refusal) is not a ban: that is what a busy or restarting peer does. A wrong piece
 * table is, and so are repeated wrong pieces or malformed frames. One instance per agent, shared by
 * the layer fetcher (whom to ask) and the piece exchange server (whom to serve).
 */
export class PeerBans {
  readonly #until = new Map<string, number>()
  readonly #strikes = new Map<string, number>()
  readonly #durationMs: number
  readonly #limits: Record<'bad-pieces' | 'malformed-frames', number>
  readonly #now: () => number
  readonly #onBan?: (peer: string, reason: BanReason) => void

  constructor (init: PeerBansInit = {}) {
    this.#durationMs = init.durationMs ?? PEER_BAN_MS
    this.#limits = { 'bad-pieces': init.badPieceLimit ?? PEER_BAN_BAD_PIECES, 'malformed-frames': init.badFrameLimit ?? PEER_BAN_BAD_FRAMES }
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
    this.#strikes.delete(`bad-pieces ${peer}`)
    this.#strikes.delete(`malformed-frames ${peer}`)
    this.#until.set(peer, this.#now() + this.#durationMs)
    this.#onBan?.(peer, reason)
  }

  /** Counts a bad piece against the peer; bans it at the limit. */
  badPiece (peer: string): void {
    this.#strike(peer, 'bad-pieces')
  }

  /** Counts a malformed frame against the peer; bans it at the limit. */
  malformedFrame (peer: string): void {
    this.#strike(peer, 'malformed-frames')
  }

  #strike (peer: string, reason: 'bad-pieces' | 'malformed-frames'): void {
    const key = `${reason} ${peer}`
    const count = (this.#strikes.get(key) ?? 0) + 1
    if (count >= this.#limits[reason]) this.ban(peer, reason)
    else this.#strikes.set(key, count)
  }

  /** Peers banned now. */
  get size (): number {
    for (const peer of [...this.#until.keys()]) this.isBanned(peer)
    return this.#until.size
  }
}
