import { integerFlag, parseFlags } from '../flags.ts'
import { outDirOf } from '../harness.ts'

export interface StallOptions {
  /** The cached blob every stalled client asks for. */
  blobBytes: number
  /** HTTP clients that read the response headers of the blob, then stop reading. */
  httpClients: number
  /** libp2p connections of the stalling peers, and piece streams on each that ask for pieces and never read. */
  peerConnections: number
  streamsPerConnection: number
  /** How long everything stays stalled while RSS is sampled and the manifest probed. */
  holdMs: number
  /** After the stallers close, how long memory may take to come back. */
  settleMs: number
  /** Stall-and-close rounds on the same agent: memory that is retained comes back to the same level, a leak grows round after round. */
  cycles: number
  /** More `shoal agent` flags (`--max-client-connections 1000`). */
  agentArgs: string[]
  outDir: string
}

const MIB = 1024 * 1024

export const STALL_USAGE = `usage: pnpm bench stall [options]
  --blob-mb M        size of the cached blob the stalled clients ask for, MiB (default 50)
  --clients N        HTTP clients that read the blob's headers and then stop reading (default 400)
  --connections C    peer connections of stalling libp2p nodes (default 12)
  --streams S        piece streams per connection that ask for pieces and never read (default 64)
  --hold-s H         seconds everything stays stalled (default 15)
  --cycles K         stall-and-close rounds on the same agent (default 2): retained memory comes back
                     to the same level, a leak grows each round
  --agent-arg FLAG   a flag for the agent, repeatable (--agent-arg=--max-client-connections=1000)
  --out DIR          where report.json and report.md go (default bench/out/stall-<timestamp>)
One agent (its own process, p2p on loopback with a swarm key) holds the blob; N HTTP clients and
C x S piece streams stall on it while another client GETs a manifest every 50 ms. Goals: the agent's
RSS grows by <= 100 MiB while stalled, the manifest GET p99 stays <= 50 ms, and RSS comes back once
the stallers close and does not grow from one round to the next.`

export function parseStallArgs (argv: string[], defaultOutRoot: string, now = new Date()): StallOptions {
  const values = parseFlags(argv, {
    'blob-mb': { type: 'string' },
    clients: { type: 'string' },
    connections: { type: 'string' },
    streams: { type: 'string' },
    'hold-s': { type: 'string' },
    cycles: { type: 'string' },
    'agent-arg': { type: 'string', multiple: true },
    out: { type: 'string' }
  })
  return {
    blobBytes: integerFlag(values['blob-mb'], '--blob-mb', 50) * MIB,
    httpClients: integerFlag(values.clients, '--clients', 400, 0),
    peerConnections: integerFlag(values.connections, '--connections', 12, 0),
    streamsPerConnection: integerFlag(values.streams, '--streams', 64),
    holdMs: integerFlag(values['hold-s'], '--hold-s', 15) * 1000,
    settleMs: 10_000,
    cycles: integerFlag(values.cycles, '--cycles', 2),
    agentArgs: ((values['agent-arg'] ?? []) as unknown as string[]).flatMap(arg => arg.split('=')),
    outDir: outDirOf('stall', values.out, defaultOutRoot, now)
  }
}
