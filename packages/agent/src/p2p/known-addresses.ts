/**
 * The addresses last written to the peer store for each peer a scheduler names. Every parents
 * message names up to six parents with their addresses, several times a second per blob; a
 * peer-store merge decodes and re-encodes the peer's whole record each time (5 s of the agents'
 * CPU in one 100 Mbit `bench swarm` run) though the addresses rarely change. Bounded: past
 * `maxPeers` the peer named least recently is forgotten (its next naming merges again).
 */
export class KnownAddresses {
  readonly #maxPeers: number
  readonly #byPeer = new Map<string, string>()

  constructor (maxPeers = 4096) {
    this.#maxPeers = maxPeers
  }

  /** True (and remembered) when these addresses differ from the ones last seen for the peer. */
  changed (peer: string, addresses: readonly Uint8Array[]): boolean {
    const key = addresses.map(bytes => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')).join(' ')
    const same = this.#byPeer.get(peer) === key
    // Re-inserted either way: a Map keeps insertion order, so the first key is the least recently named.
    this.#byPeer.delete(peer)
    this.#byPeer.set(peer, key)
    if (same) return false
    if (this.#byPeer.size > this.#maxPeers) {
      const oldest = this.#byPeer.keys().next().value
      if (oldest != null) this.#byPeer.delete(oldest)
    }
    return true
  }

  /** The merge of the peer's addresses failed: its next naming tries again. */
  forget (peer: string): void {
    this.#byPeer.delete(peer)
  }
}
