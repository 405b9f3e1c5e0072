import type { Libp2p, PeerId, Startable, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { boundedLengthDecoder, decodeAgentMessage, MAX_MESSAGE_SIZE, SCHEDULER_PROTOCOL, SchedulerMessage } from '@shoal/proto'
import { SCHEDULER_MAX_AGENTS, SCHEDULER_TICK_MS } from './constants.ts'
import type { SchedulerService } from './service.ts'
import { parsePeerInfo, parsePeerKey } from './types.ts'
import type { PeerKey } from './types.ts'

export interface SchedulerServerComponents {
  node: Pick<Libp2p, 'handle' | 'unhandle'>
  service: SchedulerService
}

/** Frames to and from one agent (a libp2p stream, or an in-process end). */
export interface AgentChannel {
  write: (frame: Uint8Array) => Promise<void>
  /** The next frame; rejects with an error named UnexpectedEOFError when the agent closed its end. */
  read: (options?: { signal?: AbortSignal }) => Promise<Uint8Array>
  abort: (err: Error) => void
}

export interface SchedulerServerInit {
  tickMs?: number
  maxAgents?: number
  log?: (message: string, fields?: Record<string, unknown>) => void
}

/**
 * The scheduler protocol on a libp2p node: one long-lived stream per agent, whose first frame must
 * be a Register; every later frame goes to the service, and the service's answers go back on the
 * same stream, one frame at a time. The decision rounds run on a timer. A malformed frame or a
 * second stream from the same agent ends the older one.
 */
export class SchedulerServer implements Startable {
  readonly #node: SchedulerServerComponents['node']
  readonly #service: SchedulerService
  readonly #tickMs: number
  readonly #maxAgents: number
  readonly #log: NonNullable<SchedulerServerInit['log']>
  readonly #channels = new Map<PeerKey, AgentChannel>()
  #timer?: ReturnType<typeof setInterval>

  constructor (components: SchedulerServerComponents, init: SchedulerServerInit = {}) {
    this.#node = components.node
    this.#service = components.service
    this.#tickMs = init.tickMs ?? SCHEDULER_TICK_MS
    this.#maxAgents = init.maxAgents ?? SCHEDULER_MAX_AGENTS
    this.#log = init.log ?? (() => {})
  }

  async start (): Promise<void> {
    await this.#node.handle(SCHEDULER_PROTOCOL, (stream, connection) => { this.#serve(stream, connection.remotePeer) }, { maxInboundStreams: 2 })
    this.#timer = setInterval(() => { this.#service.tick() }, this.#tickMs)
  }

  async stop (): Promise<void> {
    clearInterval(this.#timer)
    this.#timer = undefined
    await this.#node.unhandle(SCHEDULER_PROTOCOL)
    for (const channel of this.#channels.values()) channel.abort(new Error('the scheduler is stopping'))
    this.#channels.clear()
  }

  #serve (stream: Stream, remote: PeerId): void {
    const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_SIZE, lengthDecoder: boundedLengthDecoder(MAX_MESSAGE_SIZE) })
    this.serveChannel(parsePeerKey(remote.toString()), remote.toMultihash().bytes.slice(), {
      write: async frame => { await lp.write(frame) },
      read: async options => (await lp.read(options)).subarray(),
      abort: err => { stream.abort(err) }
    })
  }

  /**
   * Serves one agent on a channel of frames: a libp2p stream, or the in-process end an embedded
   * scheduler gives its own agent (which cannot dial itself). The first frame must register.
   */
  serveChannel (peer: PeerKey, peerIdBytes: Uint8Array<ArrayBuffer>, channel: AgentChannel): void {
    void (async () => {
      let writes: Promise<void> = Promise.resolve()
      const send = (message: SchedulerMessage): void => {
        const frame = SchedulerMessage.encode(message)
        writes = writes.then(async () => { await channel.write(frame) }).catch((err: Error) => { channel.abort(err) })
      }
      let registered = false
      try {
        const first = decodeAgentMessage(await channel.read({ signal: AbortSignal.timeout(this.#tickMs * 100) }))
        if (first.kind !== 'register') throw new Error(`the first frame must register, not ${first.kind}`)
        if (!this.#channels.has(peer) && this.#channels.size >= this.#maxAgents) throw new Error(`the scheduler serves ${this.#maxAgents} agents at most`)
        this.#channels.get(peer)?.abort(new Error('the agent opened a new stream'))
        this.#channels.set(peer, channel)
        const info = parsePeerInfo({ id: peer, site: first.site, zone: first.zone, uploadSlots: Math.min(first.uploadSlots, 1024) })
        this.#service.connect(peer, { info, peerIdBytes, addresses: first.addresses.map(a => a.slice()), hostName: first.hostName }, { send })
        registered = true
        for (;;) this.#service.handle(peer, decodeAgentMessage(await channel.read()))
      } catch (err) {
        if ((err as Error).name !== 'UnexpectedEOFError') {
          this.#log('agent stream ended', { peer, error: `${(err as Error).name}: ${(err as Error).message}` })
          channel.abort(err as Error)
        }
      } finally {
        if (this.#channels.get(peer) === channel) {
          this.#channels.delete(peer)
          if (registered) this.#service.disconnect(peer)
        }
      }
    })()
  }
}
