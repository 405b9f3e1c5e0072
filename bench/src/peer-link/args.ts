import { dirFlag, integerFlag, namesFlag, parseFlags } from '../flags.ts'
import type { FlagValue } from '../flags.ts'
import { outDirOf } from '../harness.ts'
import { BenchUsageError } from '../mirror/errors.ts'
import * as C from './constants.ts'

export type Section = 'bare' | 'tls' | 'shoal' | 'rss'
/** Without a swarm key (TCP + Noise + Yamux), or with one (pnet under Noise). */
export type KeyMode = 'off' | 'on'

export interface PeerLinkOptions {
  /** Measured rounds; each is one bare series and one shoal pull, back to back. */
  runs: number
  blobBytes: number
  /** Agents pulling from A at once in (c). */
  rssPeers: number
  keyModes: KeyMode[]
  sections: Section[]
  /** Spawn agents and bare nodes with --cpu-prof and summarize where their time goes. */
  profile: boolean
  agentDataRoot?: string
  outDir: string
}

const SECTIONS: readonly Section[] = ['bare', 'tls', 'shoal', 'rss']

export const PEER_LINK_USAGE = `usage: pnpm bench peer-link [options]
  --runs N          measured rounds, bare, TLS and shoal in each (default ${C.DEFAULT_RUNS})
  --blob-mb M       size of the blob moved over the link, MiB (default ${C.DEFAULT_BLOB_MIB})
  --peers P         agents pulling from agent A at once in (c) (default ${C.DEFAULT_RSS_PEERS})
  --swarm-key MODE  off, on or both: without a swarm key, with one, or each in turn (default both)
  --only LIST       sections, comma-separated: ${SECTIONS.join(',')} (default all)
  --profile         run agents and bare nodes with --cpu-prof; the report lists where their CPU time goes
  --agent-dir DIR   make agent data dirs under DIR, e.g. /dev/shm (default: OS temp dir)
  --out DIR         where report.json and report.md go (default bench/out/peer-link-<timestamp>)
(a) bare js-libp2p, two processes (TCP [+ pnet] + Noise + Yamux at their defaults), one stream moving M MiB: MB/s;
(tls) the native reference: Node's TLS 1.3 (ChaCha20-Poly1305, a pre-shared key) over TCP, no libp2p: MB/s and CPU per GiB;
(b) shoal: agent B pulls the M MiB blob through its mirror port, every byte from agent A over the peer link: MB/s
    and shoal/bare per round, goal >= ${C.GOAL_THROUGHPUT_RATIO_MIN}; (c) agent A's peak RSS while P agents pull the blob from it
    at once, goal <= ${C.GOAL_PEAK_RSS_MIB_MAX} MiB.`

export function parsePeerLinkArgs (argv: string[], defaultOutRoot: string, now = new Date()): PeerLinkOptions {
  const values = parseFlags(argv, {
    runs: { type: 'string' },
    'blob-mb': { type: 'string' },
    peers: { type: 'string' },
    'swarm-key': { type: 'string' },
    only: { type: 'string' },
    profile: { type: 'boolean' },
    'agent-dir': { type: 'string' },
    out: { type: 'string' }
  })
  return {
    runs: integerFlag(values.runs, '--runs', C.DEFAULT_RUNS),
    blobBytes: integerFlag(values['blob-mb'], '--blob-mb', C.DEFAULT_BLOB_MIB) * C.MIB,
    rssPeers: integerFlag(values.peers, '--peers', C.DEFAULT_RSS_PEERS),
    keyModes: keyModes(values['swarm-key']),
    sections: typeof values.only === 'string' ? sections(values.only) : [...SECTIONS],
    profile: values.profile === true,
    agentDataRoot: dirFlag(values['agent-dir']),
    outDir: outDirOf('peer-link', values.out, defaultOutRoot, now)
  }
}

function keyModes (raw: FlagValue): KeyMode[] {
  if (raw == null || raw === 'both') return ['off', 'on']
  if (raw === 'off' || raw === 'on') return [raw]
  throw new BenchUsageError(`--swarm-key must be off, on or both, not ${JSON.stringify(raw)}`)
}

function sections (raw: string): Section[] {
  return namesFlag(raw, '--only', SECTIONS, 'section')
}
