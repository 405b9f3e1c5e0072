import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { boundedLengthDecoder, MAX_MESSAGE_SIZE, namedError } from '@shoal/proto'

/** The end of a channel: the other side closed it (a leave, not a fault). Named as libp2p's own. */
export class UnexpectedEOFError extends namedError('UnexpectedEOFError') {}

/**
 * Protocol frames both ways between an agent and a scheduler: a libp2p stream, or, for a scheduler
 * embedded in the agent's own process, an in-process pair (an agent cannot dial itself).
 */
export interface FrameChannel {
  write: (frame: Uint8Array, options?: { signal?: AbortSignal }) => Promise<void>
  /** The next frame; UnexpectedEOFError once the other side closed. */
  read: (options?: { signal?: AbortSignal }) => Promise<Uint8Array>
  close: () => void
  abort: (err: Error) => void
}

/** Length-prefixed frames on a libp2p stream. */
export function streamChannel (stream: Stream): FrameChannel {
  const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_SIZE, lengthDecoder: boundedLengthDecoder(MAX_MESSAGE_SIZE) })
  return {
    write: async (frame, options) => { await lp.write(frame, options) },
    read: async options => (await lp.read(options)).subarray(),
    close: () => { stream.close().catch(() => { stream.abort(new Error('closing the stream failed')) }) },
    abort: err => { stream.abort(err) }
  }
}

/** Two ends of an in-process channel: what one writes the other reads, in order. */
export function channelPair (): [FrameChannel, FrameChannel] {
  const a = new QueueEnd()
  const b = new QueueEnd()
  return [a.channel(b), b.channel(a)]
}

class QueueEnd {
  readonly #frames: Uint8Array[] = []
  readonly #waiting: Array<{ resolve: (frame: Uint8Array) => void, reject: (err: Error) => void }> = []
  #ended?: Error

  push (frame: Uint8Array): void {
    if (this.#ended != null) return
    const waiter = this.#waiting.shift()
    if (waiter != null) waiter.resolve(frame)
    else this.#frames.push(frame)
  }

  end (err: Error): void {
    if (this.#ended != null) return
    this.#ended = err
    for (const waiter of this.#waiting.splice(0)) waiter.reject(err)
  }

  async next (signal?: AbortSignal): Promise<Uint8Array> {
    const frame = this.#frames.shift()
    if (frame != null) return frame
    if (this.#ended != null) throw this.#ended
    signal?.throwIfAborted()
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject })
      signal?.addEventListener('abort', () => { reject(signal.reason as Error) }, { once: true })
    })
  }

  /** This end's channel: reads this queue, writes the other's. */
  channel (other: QueueEnd): FrameChannel {
    return {
      write: async frame => {
        if (this.#ended != null) throw this.#ended
        other.push(frame.slice())
      },
      read: async options => this.next(options?.signal),
      close: () => {
        other.end(new UnexpectedEOFError('the other end closed the channel'))
        this.end(new UnexpectedEOFError('this end closed the channel'))
      },
      abort: err => {
        other.end(err)
        this.end(err)
      }
    }
  }
}
