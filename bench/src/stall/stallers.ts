import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createP2pNode } from '@shoal/p2p'
import type { P2pNode } from '@shoal/p2p'
import { PeerRequest, PIECES_PROTOCOL } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { request } from 'undici'

export interface Stallers {
  /** Clients or streams that got as far as stalling (headers read, requests written). */
  stalled: number
  close: () => Promise<void>
}

export interface HttpStallers extends Stallers {
  /** Response statuses the clients got (200: stalled on the body; 503: refused past a connection cap). */
  statuses: Record<number, number>
}

/**
 * N plain HTTP/1.1 clients that GET `path`, read until the response headers have arrived, then
 * stop reading: what a runtime that hangs does to the agent.
 */
export async function stallHttpClients (url: string, path: string, count: number, signal: AbortSignal): Promise<HttpStallers> {
  const { hostname, port } = new URL(url)
  const sockets: Socket[] = []
  const statuses: Record<number, number> = {}
  let stalled = 0
  await Promise.all(Array.from({ length: count }, async () => {
    const socket = connect({ host: hostname, port: Number(port) })
    sockets.push(socket)
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error): void => { reject(err) }
      socket.once('error', fail)
      signal.addEventListener('abort', () => { socket.destroy(); resolve() }, { once: true })
      socket.once('connect', () => {
        socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUser-Agent: shoal-bench-staller\r\n\r\n`)
      })
      let head = ''
      const onData = (chunk: Buffer): void => {
        head += chunk.toString('latin1')
        if (!head.includes('\r\n\r\n')) return
        socket.off('data', onData)
        socket.pause()
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0)
        statuses[status] = (statuses[status] ?? 0) + 1
        socket.off('error', fail)
        socket.on('error', () => {})
        stalled++
        resolve()
      }
      socket.on('data', onData)
    })
  }))
  return {
    get stalled () { return stalled },
    statuses,
    close: async () => { for (const s of sockets) s.destroy() }
  }
}

/**
 * `connections` libp2p nodes (the agents' transport, encryption, muxer and swarm key), each opening
 * `streams` piece streams to the agent that ask for `piecesPerStream` pieces of the blob and never
 * read an answer: what a stalled or hostile peer does.
 */
export async function stallPieceStreams (opts: { agent: string, swarmKey: Uint8Array, digest: Digest, pieceCount: number, connections: number, streams: number, piecesPerStream: number, signal: AbortSignal }): Promise<Stallers & { reset: number, firstError?: string }> {
  const nodes: P2pNode[] = []
  let stalled = 0
  let reset = 0
  let firstError: string | undefined
  const target = multiaddr(opts.agent)
  try {
    for (let c = 0; c < opts.connections; c++) {
      const node = await createP2pNode({ privateKey: await generateKeyPair('Ed25519'), listen: [], swarmKey: opts.swarmKey, signal: opts.signal })
      nodes.push(node)
      await Promise.all(Array.from({ length: opts.streams }, async (_, s) => {
        const stream = await node.dialProtocol(target, PIECES_PROTOCOL, { signal: opts.signal })
        // Paused: no window update goes back, so the agent can send a new stream's 256 KiB window
        // and must hold the rest of what it answers: the costliest way to stop reading.
        stream.pause()
        stream.addEventListener('close', () => { if (stream.status === 'reset' || stream.status === 'aborted') reset++ }, { once: true })
        const lp = lpStream(stream)
        const frames = Array.from({ length: opts.piecesPerStream }, (_, i) => PeerRequest.encode({ id: i + 1, piece: { digest: opts.digest, index: (s * opts.piecesPerStream + i) % opts.pieceCount } }))
        try {
          await lp.writeV(frames, { signal: opts.signal })
          stalled++
        } catch (err) {
          // The agent reset the stream (a cap, or a stall it gave up on): counted, not fatal.
          firstError ??= `${(err as Error).name}: ${(err as Error).message}`
        }
      }))
    }
  } catch (err) {
    await Promise.all(nodes.map(async n => { await n.stop() }))
    throw err
  }
  return {
    get stalled () { return stalled },
    get reset () { return reset },
    get firstError () { return firstError },
    close: async () => { await Promise.all(nodes.map(async n => { await n.stop() })) }
  }
}

/** GETs `url` every `intervalMs` until stopped; each latency in ms (a failure counts as Infinity). */
export function probe (url: string, headers: Record<string, string>, intervalMs: number): { stop: () => Promise<number[]> } {
  const latencies: number[] = []
  let running = true
  const loop = (async () => {
    while (running) {
      const started = performance.now()
      try {
        const res = await request(url, { headers, signal: AbortSignal.timeout(10_000) })
        await res.body.dump()
        latencies.push(res.statusCode === 200 ? performance.now() - started : Infinity)
      } catch {
        latencies.push(Infinity)
      }
      await new Promise(resolve => setTimeout(resolve, intervalMs))
    }
  })()
  return {
    stop: async () => {
      running = false
      await loop
      return latencies
    }
  }
}
