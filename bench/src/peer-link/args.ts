import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { outDirOf } from '../harness.ts'
import { BenchUsageError } from '../mirror/errors.ts'
import * as C from './constants.ts'

export type Section = 'bare' | 'shoal' | 'rss'
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

const SECTIONS: readonly Section[] = ['bare', 'shoal', 'rss']

export const PEER_LINK_USAGE = `usage: pnpm bench peer-link [options]
  --runs N          measured rounds, bare then shoal in each (default ${C.DEFAULT_RUNS})
  --blob-mb M       size of the blob moved over the link, MiB (default ${C.DEFAULT_BLOB_MIB})
  --peers P         agents pulling from agent A at once in (c) (default ${C.DEFAULT_RSS_PEERS})
  --swarm-key MODE  off, on or both: without a swarm key, with one, or each in turn (default both)
  --only LIST       sections, comma-separated: ${SECTIONS.join(',')} (default all)
  --profile         run agents and bare nodes with --cpu-prof; the report lists where their CPU time goes
  --agent-dir DIR   make agent data dirs under DIR, e.g. /dev/shm (default: OS temp dir)
  --out DIR         where report.json and report.md go (default bench/out/peer-link-<timestamp>)
(a) bare js-libp2p, two processes (TCP [+ pnet] + Noise + Yamux at their defaults), one stream moving M MiB: MB/s;
(b) shoal: agent B pulls the M MiB blob through its mirror port, every byte from agent A over the peer link: MB/s
    and shoal/bare per round, goal >= ${C.GOAL_THROUGHPUT_RATIO_MIN}; (c) agent A's peak RSS while P agents pull the blob from it
    at once, goal <= ${C.GOAL_PEAK_RSS_MIB_MAX} MiB.`

export function parsePeerLinkArgs (argv: string[], defaultOutRoot: string, now = new Date()): PeerLinkOptions {
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        runs: { type: 'string' },
        'blob-mb': { type: 'string' },
        peers: { type: 'string' },
        'swarm-key': { type: 'string' },
        only: { type: 'string' },
        profile: { type: 'boolean' },
        'agent-dir': { type: 'string' },
        out: { type: 'string' }
      }
    }).values
  } catch (err) {
    throw new BenchUsageError((err as Error).message, { cause: err })
  }
  return {
    runs: integer(values.runs, '--runs', C.DEFAULT_RUNS),
    blobBytes: integer(values['blob-mb'], '--blob-mb', C.DEFAULT_BLOB_MIB) * C.MIB,
    rssPeers: integer(values.peers, '--peers', C.DEFAULT_RSS_PEERS),
    keyModes: keyModes(values['swarm-key']),
    sections: typeof values.only === 'string' ? sections(values.only) : [...SECTIONS],
    profile: values.profile === true,
    agentDataRoot: typeof values['agent-dir'] === 'string' ? resolve(values['agent-dir']) : undefined,
    outDir: outDirOf('peer-link', values.out, defaultOutRoot, now)
  }
}

function integer (raw: string | boolean | undefined, flag: string, fallback: number): number {
  if (raw == null || typeof raw === 'boolean') return fallback
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || !Number.isSafeInteger(Number(raw))) {
    throw new BenchUsageError(`${flag} must be an integer >= 1, not ${JSON.stringify(raw)}`)
  }
  return Number(raw)
}

function keyModes (raw: string | boolean | undefined): KeyMode[] {
  if (raw == null || raw === 'both') return ['off', 'on']
  if (raw === 'off' || raw === 'on') return [raw]
  throw new BenchUsageError(`--swarm-key must be off, on or both, not ${JSON.stringify(raw)}`)
}

function sections (raw: string): Section[] {
  const out: Section[] = []
  for (const part of raw.split(',').map(s => s.trim()).filter(s => s !== '')) {
    const section = SECTIONS.find(s => s === part)
    if (section == null) throw new BenchUsageError(`--only: unknown section ${JSON.stringify(part)} (known: ${SECTIONS.join(', ')})`)
    if (!out.includes(section)) out.push(section)
  }
  if (out.length === 0) throw new BenchUsageError('--only names no section')
  return out
}
