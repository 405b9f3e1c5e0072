import type { Libp2p, PeerId, Startable, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { boundedLengthDecoder, decodeAgentMessage, MAX_MEMBERS_PER_MESSAGE, MAX_MESSAGE_SIZE, SCHEDULER_PROTOCOL } from '@shoal/proto'
import type { SchedulerMessage } from '@shoal/proto'
import { SCHEDULER_MAX_AGENTS, SCHEDULER_TICK_MS } from './constants.ts'
import { encodeSchedulerMessage } from './frames.ts'
import type { Membership, MembershipEvents } from './membership/membership.ts'
import type { SchedulerService } from './service.ts'
import { parsePeerInfo, parsePeerKey, peerKeyBytes } from './types.ts'
import type { PeerKey } from './types.ts'

export interface SchedulerServerComponents {
  node: Pick<Libp2p, 'handle' | 'unhandle'>
  service: SchedulerService
  /** When set, only agents it admits (join token) register, and every agent is told the members. */
  membership?: Membership
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
  readonly #senders = new Map<AgentChannel, (message: SchedulerMessage) => void>()
  readonly #membership?: Membership
  readonly #onMembers = (change: MembershipEvents['change'][0]): void => { this.#pushMembers(change) }
  #timer?: ReturnType<typeof setInterval>

  constructor (components: SchedulerServerComponents, init: SchedulerServerInit = {}) {
    this.#node = components.node
    this.#service = components.service
    this.#membership = components.membership
    this.#tickMs = init.tickMs ?? SCHEDULER_TICK_MS
    this.#maxAgents = init.maxAgents ?? SCHEDULER_MAX_AGENTS
    this.#log = init.log ?? (() => {})
  }

  async start (): Promise<void> {
    await this.#node.handle(SCHEDULER_PROTOCOL, (stream, connection) => { this.#serve(stream, connection.remotePeer) }, { maxInboundStreams: 2 })
    this.#timer = setInterval(() => { this.#service.tick() }, this.#tickMs)
    this.#membership?.on('change', this.#onMembers)
  }

  async stop (): Promise<void> {
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#membership?.off('change', this.#onMembers)
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
        const frame = encodeSchedulerMessage(message)
        writes = writes.then(async () => { await channel.write(frame) }).catch((err: Error) => { channel.abort(err) })
      }
      let registered = false
      try {
        const first = decodeAgentMessage(await channel.read({ signal: AbortSignal.timeout(this.#tickMs * 100) }))
        if (first.kind !== 'register') throw new Error(`the first frame must register, not ${first.kind}`)
        if (!this.#channels.has(peer) && this.#channels.size >= this.#maxAgents) throw new Error(`the scheduler serves ${this.#maxAgents} agents at most`)
        await this.#membership?.admit(peer, first.joinToken, first.hostName)
        this.#channels.get(peer)?.abort(new Error('the agent opened a new stream'))
        this.#channels.set(peer, channel)
        this.#senders.set(channel, send)
        const info = parsePeerInfo({ id: peer, site: first.site, zone: first.zone, uploadSlots: Math.min(first.uploadSlots, 1024) })
        this.#service.connect(peer, { info, peerIdBytes, addresses: first.addresses.map(a => a.slice()), hostName: first.hostName }, { send })
        registered = true
        if (this.#membership != null) this.#sendMembers(send, this.#membership.members(), [], true)
        for (;;) this.#service.handle(peer, decodeAgentMessage(await channel.read()))
      } catch (err) {
        if ((err as Error).name !== 'UnexpectedEOFError') {
          this.#log('agent stream ended', { peer, error: `${(err as Error).name}: ${(err as Error).message}` })
          channel.abort(err as Error)
        }
      } finally {
        this.#senders.delete(channel)
        if (this.#channels.get(peer) === channel) {
          this.#channels.delete(peer)
          if (registered) this.#service.disconnect(peer)
        }
      }
    })()
  }

  /** A membership change goes to every registered agent; a removed member's own stream is ended. */
  #pushMembers (change: MembershipEvents['change'][0]): void {
    for (const [peer, channel] of this.#channels) {
      if (change.removed.includes(peer)) {
        channel.abort(new Error('removed from the swarm by the operator'))
        continue
      }
      const send = this.#senders.get(channel)
      if (send != null) this.#sendMembers(send, change.added, change.removed, false)
    }
  }

  /** Members in messages of at most MAX_MEMBERS_PER_MESSAGE peer ids: the first carries `full`, the others add. */
  #sendMembers (send: (message: SchedulerMessage) => void, added: PeerKey[], removed: PeerKey[], full: boolean): void {
    const addedBytes = added.map(peerKeyBytes)
    const removedBytes = removed.map(peerKeyBytes)
    let first = true
    for (let i = 0; first || i < addedBytes.length || removedBytes.length > 0; i += MAX_MEMBERS_PER_MESSAGE) {
      const chunkAdded = addedBytes.slice(i, i + MAX_MEMBERS_PER_MESSAGE)
      const chunkRemoved = removedBytes.splice(0, MAX_MEMBERS_PER_MESSAGE)
      send({ members: { full: full && first, added: chunkAdded, removed: chunkRemoved } })
      first = false
    }
  }
}
