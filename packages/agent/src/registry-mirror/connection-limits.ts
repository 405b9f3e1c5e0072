import type { Socket } from 'node:net'

export interface ConnectionLimitsInit {
  /** Open connections one client address may have. */
  perClient: number
  /** Open connections in all. */
  total: number
}

/**
 * Open connections of the mirror listener, per client address and in all. What a connection can
 * hold is bounded (headers, read buffers from a budget, an idle timeout); these bound how many there
 * are, so that one client (or a host full of hung ones) cannot take the agent's memory or its file
 * descriptors from the others.
 */
export class ConnectionLimits {
  readonly #init: ConnectionLimitsInit
  readonly #byClient = new Map<string, number>()
  #total = 0

  constructor (init: ConnectionLimitsInit) {
    this.#init = init
  }

  /** Counts the socket until it closes; or the reason it is refused (nothing is counted then). */
  admit (socket: Socket): string | undefined {
    const client = socket.remoteAddress ?? 'unknown'
    const mine = this.#byClient.get(client) ?? 0
    if (mine >= this.#init.perClient) return `${client} has ${mine} connections open, the most one client may (maxClientConnections)`
    if (this.#total >= this.#init.total) return `the agent has ${this.#total} connections open, the most it takes (maxConnections)`
    this.#byClient.set(client, mine + 1)
    this.#total++
    socket.once('close', () => {
      this.#total--
      const left = (this.#byClient.get(client) ?? 1) - 1
      if (left <= 0) this.#byClient.delete(client)
      else this.#byClient.set(client, left)
    })
    return undefined
  }

  get open (): number {
    return this.#total
  }
}
