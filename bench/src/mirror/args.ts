import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import * as C from './constants.ts'
import { outDirOf } from '../harness.ts'
import { BenchUsageError } from './errors.ts'

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
(a) cold pull time agent/origin over loopback, goal <= ${C.GOAL_COLD_TIME_RATIO_MAX}; (a2, cold-link) the same with the origin
behind a link shaped to R Mbit/s for both sides, goal <= ${C.GOAL_COLD_TIME_RATIO_MAX}; (b) warm pull throughput agent/origin,
goal >= ${C.GOAL_WARM_THROUGHPUT_RATIO_MIN}; (c) agent peak RSS serving the big blob, goal <= ${C.GOAL_PEAK_RSS_MIB_MAX} MiB.`

/** Parses `bench mirror` flags; errors name the flag. `defaultOutRoot` is where bench/out lives. */
export function parseMirrorArgs (argv: string[], defaultOutRoot: string, now = new Date()): MirrorBenchOptions {
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
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
      }
    }).values
  } catch (err) {
    throw new BenchUsageError((err as Error).message, { cause: err })
  }
  const sections = typeof values.only === 'string' ? parseSections(values.only) : [...SECTIONS]
  return {
    runs: integer(values.runs, '--runs', C.DEFAULT_RUNS, 1),
    warmup: integer(values.warmup, '--warmup', C.DEFAULT_WARMUP_ROUNDS, 0),
    blobCount: integer(values.blobs, '--blobs', C.DEFAULT_BLOB_COUNT, 1),
    blobBytes: integer(values['blob-mb'], '--blob-mb', C.DEFAULT_BLOB_MIB, 1) * C.MIB,
    bigBlobBytes: integer(values['big-mb'], '--big-mb', C.DEFAULT_BIG_BLOB_MIB, 1) * C.MIB,
    bigClients: integer(values.clients, '--clients', C.DEFAULT_BIG_CLIENTS, 1),
    originLinkMbit: integer(values['origin-link-mbit'], '--origin-link-mbit', C.DEFAULT_ORIGIN_LINK_MBIT, 1),
    outDir: outDirOf('mirror', values.out, defaultOutRoot, now),
    sections,
    profile: values.profile === true,
    agentDataRoot: typeof values['agent-dir'] === 'string' ? resolve(values['agent-dir']) : undefined
  }
}

function integer (raw: string | boolean | undefined, flag: string, fallback: number, min: number): number {
  if (raw == null || typeof raw === 'boolean') return fallback
  if (!/^\d+$/.test(raw) || Number(raw) < min || !Number.isSafeInteger(Number(raw))) {
    throw new BenchUsageError(`${flag} must be an integer >= ${min}, not ${JSON.stringify(raw)}`)
  }
  return Number(raw)
}

function parseSections (raw: string): Section[] {
  const out: Section[] = []
  for (const part of raw.split(',').map(s => s.trim()).filter(s => s !== '')) {
    const section = SECTIONS.find(s => s === part)
    if (section == null) throw new BenchUsageError(`--only: unknown section ${JSON.stringify(part)} (known: ${SECTIONS.join(', ')})`)
    if (!out.includes(section)) out.push(section)
  }
  if (out.length === 0) throw new BenchUsageError('--only names no section')
  return out
}
