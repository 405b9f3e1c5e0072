import * as C from './constants.ts'
import { dirFlag, integerFlag, namesFlag, parseFlags } from '../flags.ts'
import { outDirOf } from '../harness.ts'

export type Section = 'cold' | 'cold-link' | 'warm' | 'big'

export interface MirrorBenchOptions {
  /** Measured rounds of (a), (a2) and (b); each round is one agent run and one origin run. */
  runs: number
  /** Unmeasured rounds first (JIT, page cache, connection setup). */
  warmup: number
  blobBytes: number
  blobCount: number
  bigBlobBytes: number
  bigClients: number
  /** Rate of the shaped origin link of (a2), in Mbit/s (10^6 bits per second). */
  originLinkMbit: number
  outDir: string
  sections: Section[]
  /** Spawn agents with --cpu-prof and summarize where their time goes. */
  profile: boolean
  /** Where agent data dirs are made (a tmpfs here takes the disk out of the comparison); the OS temp dir by default. */
  agentDataRoot?: string
}

const SECTIONS: readonly Section[] = ['cold', 'cold-link', 'warm', 'big']

export const MIRROR_USAGE = `usage: pnpm bench mirror [options]
  --runs N        measured rounds of (a), (a2) and (b), agent and origin interleaved (default ${C.DEFAULT_RUNS})
  --warmup N      unmeasured rounds before them (default ${C.DEFAULT_WARMUP_ROUNDS})
  --blobs K       blobs pulled at once by one client in (a), (a2) and (b) (default ${C.DEFAULT_BLOB_COUNT})
  --blob-mb M     size of each of them in MiB (default ${C.DEFAULT_BLOB_MIB})
  --big-mb B      size of the blob of (c) in MiB (default ${C.DEFAULT_BIG_BLOB_MIB})
  --clients C     clients pulling the big blob at once in (c) (default ${C.DEFAULT_BIG_CLIENTS})
  --origin-link-mbit R
                  rate of the shaped origin link of (a2) in Mbit/s, shared by both sides (default ${C.DEFAULT_ORIGIN_LINK_MBIT})
  --only LIST     sections to run, comma-separated: ${SECTIONS.join(',')} (default all)
  --profile       run the agents with --cpu-prof; the report lists where their CPU time goes
  --agent-dir DIR make the agents' data dirs under DIR, e.g. /dev/shm to leave the disk out (default: OS temp dir)
  --out DIR       where report.json and report.md go (default bench/out/mirror-<timestamp>)
(a) cold pull time agent/origin over loopback, goal <= ${C.GOAL_COLD_LOOPBACK_TIME_RATIO_MAX}; (a2, cold-link) the same with the origin
behind a link shaped to R Mbit/s for both sides, goal <= ${C.GOAL_COLD_TIME_RATIO_MAX}; (b) warm pull throughput agent/origin,
goal >= ${C.GOAL_WARM_THROUGHPUT_RATIO_MIN}; (c) agent peak RSS serving the big blob, goal <= ${C.GOAL_PEAK_RSS_MIB_MAX} MiB.`

/** Parses `bench mirror` flags; errors name the flag. `defaultOutRoot` is where bench/out lives. */
export function parseMirrorArgs (argv: string[], defaultOutRoot: string, now = new Date()): MirrorBenchOptions {
  const values = parseFlags(argv, {
    runs: { type: 'string' },
    warmup: { type: 'string' },
    blobs: { type: 'string' },
    'blob-mb': { type: 'string' },
    'big-mb': { type: 'string' },
    clients: { type: 'string' },
    'origin-link-mbit': { type: 'string' },
    only: { type: 'string' },
    profile: { type: 'boolean' },
    'agent-dir': { type: 'string' },
    out: { type: 'string' }
  })
  const sections = typeof values.only === 'string' ? parseSections(values.only) : [...SECTIONS]
  return {
    runs: integerFlag(values.runs, '--runs', C.DEFAULT_RUNS, 1),
    warmup: integerFlag(values.warmup, '--warmup', C.DEFAULT_WARMUP_ROUNDS, 0),
    blobCount: integerFlag(values.blobs, '--blobs', C.DEFAULT_BLOB_COUNT, 1),
    blobBytes: integerFlag(values['blob-mb'], '--blob-mb', C.DEFAULT_BLOB_MIB, 1) * C.MIB,
    bigBlobBytes: integerFlag(values['big-mb'], '--big-mb', C.DEFAULT_BIG_BLOB_MIB, 1) * C.MIB,
    bigClients: integerFlag(values.clients, '--clients', C.DEFAULT_BIG_CLIENTS, 1),
    originLinkMbit: integerFlag(values['origin-link-mbit'], '--origin-link-mbit', C.DEFAULT_ORIGIN_LINK_MBIT, 1),
    outDir: outDirOf('mirror', values.out, defaultOutRoot, now),
    sections,
    profile: values.profile === true,
    agentDataRoot: dirFlag(values['agent-dir'])
  }
}

function parseSections (raw: string): Section[] {
  return namesFlag(raw, '--only', SECTIONS, 'section')
}
