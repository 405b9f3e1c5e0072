import type { PeerId, Stream } from '@libp2p/interface'
import { PeerProtocolError } from '../errors.ts'

export interface IdleStreamsInit {
  /** Streams kept open per peer between requests. */
  maxPerPeer: number
  /** An idle stream is closed after this long (below the server's own idle timeout). */
  idleMs: number
  /** How long a closed stream's peer may take to close its side before the stream is reset. */
  closeGraceMs: number
}

/**
 * /shoal/pieces streams that finished a request, kept per peer for the next one. Opening a stream
 * costs more than the request on it for a bitfield or a table, and about as much as hashing a
 * piece: a dial lookup, protocol negotiation, and two peer-store writes (one per side) of the
 * protocol the peer already has. One request at a time per stream, so each request still has a
 * flow-control window of its own and a cancel is still a reset of its own stream.
 */
export class IdleStreams {
  readonly #init: IdleStreamsInit
  readonly #idle = new Map<string, Set<Stream>>()
  /** What `give` set up for each idle stream: its idle timer and its close listener, undone by #forget. */
  readonly #watch = new WeakMap<Stream, { timer: ReturnType<typeof setTimeout>, onClose: () => void }>()

  constructor (init: IdleStreamsInit) {
    this.#init = init
  }

  /** An idle stream to the peer that can still carry a request, if there is one. */
  take (peer: PeerId): Stream | undefined {
    const key = peer.toString()
    const idle = this.#idle.get(key)
    if (idle == null) return undefined
    for (const stream of idle) {
      this.#forget(key, stream)
      if (usable(stream)) return stream
      // Half-closed by the peer (its idle timeout): ours is closed too.
      this.#close(stream)
    }
    return undefined
  }

  /** A stream whose request ended with its answer read in full: kept for the peer, or closed. */
  give (peer: PeerId, stream: Stream): void {
    const key = peer.toString()
    const idle = this.#idle.get(key) ?? new Set<Stream>()
    if (!usable(stream) || idle.size >= this.#init.maxPerPeer) {
      this.#close(stream)
      return
    }
    idle.add(stream)
    this.#idle.set(key, idle)
    const timer = setTimeout(() => {
      this.#forget(key, stream)
      this.#close(stream)
    }, this.#init.idleMs)
    timer.unref()
    // The peer closed it, or the connection went: nothing to keep.
    const onClose = (): void => { this.#forget(key, stream) }
    stream.addEventListener('close', onClose, { once: true })
    this.#watch.set(stream, { timer, onClose })
  }

  /** Closes every idle stream (the client stops). */
  closeAll (): void {
    for (const [key, idle] of this.#idle) {
      for (const stream of idle) {
        this.#forget(key, stream)
        this.#close(stream)
      }
    }
  }

  #forget (key: string, stream: Stream): void {
    const watch = this.#watch.get(stream)
    if (watch != null) {
      clearTimeout(watch.timer)
      // A stream reused for hours would otherwise gather one listener per request.
      stream.removeEventListener('close', watch.onClose)
      this.#watch.delete(stream)
    }
    const idle = this.#idle.get(key)
    idle?.delete(stream)
    if (idle?.size === 0) this.#idle.delete(key)
  }

  /** Half-closes: the server ends its side after the requests it has (none); reset if it does not in time. */
  #close (stream: Stream): void {
    closeKept(stream, this.#init.closeGraceMs)
  }
}

/** Closes a stream kept between requests; one the peer does not close in turn within `graceMs` is reset. */
export function closeKept (stream: Stream, graceMs: number): void {
  if (stream.status !== 'open') return
  resetUnlessClosed(stream, graceMs, 'the peer kept an idle piece stream open after it was closed')
  stream.close().catch(err => { stream.abort(err as Error) })
}

/** Resets the stream unless it closes within `ms` (the peer is to close its side): `why` names the breach. */
export function resetUnlessClosed (stream: Stream, ms: number, why: string): void {
  if (stream.status !== 'open') return
  const timer = setTimeout(() => { stream.abort(new PeerProtocolError(why)) }, ms)
  timer.unref()
  stream.addEventListener('close', () => { clearTimeout(timer) }, { once: true })
}

function usable (stream: Stream): boolean {
  return stream.status === 'open' && stream.readStatus === 'readable' && stream.writeStatus === 'writable' &&
    stream.remoteWriteStatus === 'writable' && stream.remoteReadStatus === 'readable'
}
