import { digestOf, peerIdText } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { parsePeerKey } from '@shoal/scheduler'
import type { PeerKey } from '@shoal/scheduler'
import * as C from './constants.ts'

/**
 * The simulated swarm of one size, fixed by a seed before anything is measured: who the agents
 * are (peer ids, addresses, site and zone), which tasks each already holds and which it pulls,
 * when it starts and how fast it goes.
 *
 * The mix: tasks are ranked by popularity; every agent pulls `downloadsPerAgent` distinct tasks
 * drawn by a Zipf law of exponent `skew` over the ranks (with skew 1, the first rank, a base
 * layer, is on more than half the pulls; the last ranks on a handful). The more popular half of
 * the tasks is new (nobody holds it: the origin split applies); the less popular half is made of
 * older layers, and every agent holds `heldPerAgent` of those (not among its pulls) from earlier
 * pulls, announced in full when it registers. Agents start their pulls at a random round within
 * the rollout window and finish 1 to MAX_PIECES_PER_REPORT pieces of each pull per round.
 */
export interface WorkloadInit {
  agents: number
  tasks: number
  downloadsPerAgent: number
  heldPerAgent: number
  skew: number
  rolloutRounds: number
  seed: number
}

export interface SimAgent {
  index: number
  key: PeerKey
  /** The peer id's wire form (an identity multihash of an Ed25519 key). */
  peerIdBytes: Uint8Array<ArrayBuffer>
  addresses: Array<Uint8Array<ArrayBuffer>>
  hostName: string
  site: string
  zone: string
  /** Task indexes held in full at registration. */
  held: number[]
  /** Task indexes pulled during the run. */
  downloads: number[]
  /** Round at which its pulls start. */
  startRound: number
  /** Pieces per report of each of its pulls. */
  piecesPerReport: number
}

export interface Workload {
  agents: SimAgent[]
  digests: Digest[]
  /** Downloads of each task (by index). */
  downloaders: number[]
  /** Agents holding each task at the start. */
  seeds: number[]
}

const PEER_ID_PREFIX = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20] // identity multihash, 36 bytes: protobuf Ed25519 public key

export function makeWorkload (init: WorkloadInit): Workload {
  const random = mulberry32(init.seed)
  const digests = Array.from({ length: init.tasks }, (_, t) => digestOf(new TextEncoder().encode(`bench scheduler task ${t}`)))
  const newTasks = Math.ceil(init.tasks / 2)
  const popularity = zipfSampler(init.tasks, init.skew, random)
  const downloaders = new Array<number>(init.tasks).fill(0)
  const seeds = new Array<number>(init.tasks).fill(0)
  const agents: SimAgent[] = []
  for (let index = 0; index < init.agents; index++) {
    const downloads = distinct(Math.min(init.downloadsPerAgent, init.tasks), popularity)
    const oldTasks = Array.from({ length: init.tasks - newTasks }, (_, i) => newTasks + i).filter(t => !downloads.includes(t))
    const held = distinct(Math.min(init.heldPerAgent, oldTasks.length), () => oldTasks[Math.floor(random() * oldTasks.length)]!)
    for (const t of downloads) downloaders[t]!++
    for (const t of held) seeds[t]!++
    const site = Math.floor(index / C.AGENTS_PER_SITE)
    const peerIdBytes = peerIdBytesOf(index)
    agents.push({
      index,
      key: parsePeerKey(peerIdText(peerIdBytes)),
      peerIdBytes,
      addresses: [ip4TcpAddress(index, 65002)],
      hostName: `host-${index}.bench.example`,
      site: `site-${site}`,
      zone: `zone-${Math.floor(site / C.SITES_PER_ZONE)}`,
      held,
      downloads,
      startRound: Math.floor(random() * init.rolloutRounds),
      piecesPerReport: 1 + Math.floor(random() * C.MAX_PIECES_PER_REPORT)
    })
  }
  return { agents, digests, downloaders, seeds }
}

/** The simulated agent an id names (its index is in the key's last 4 bytes). */
export function agentIndexOf (peerIdBytes: Uint8Array): number {
  return new DataView(peerIdBytes.buffer, peerIdBytes.byteOffset, peerIdBytes.byteLength).getUint32(peerIdBytes.byteLength - 4)
}

function peerIdBytesOf (index: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(PEER_ID_PREFIX.length + 32)
  bytes.set(PEER_ID_PREFIX)
  const view = new DataView(bytes.buffer)
  view.setUint32(PEER_ID_PREFIX.length, Math.imul(index + 1, 2654435761) >>> 0)
  view.setUint32(bytes.length - 4, index)
  return bytes
}

/** /ip4/10.a.b.c/tcp/port in binary (code 4, 4 bytes; code 6, 2 bytes). */
function ip4TcpAddress (index: number, port: number): Uint8Array<ArrayBuffer> {
  return Uint8Array.of(0x04, 10, (index >> 16) & 0xff, (index >> 8) & 0xff, index & 0xff, 0x06, port >> 8, port & 0xff)
}

function distinct (count: number, draw: () => number): number[] {
  const out: number[] = []
  while (out.length < count) {
    const value = draw()
    if (!out.includes(value)) out.push(value)
  }
  return out
}

/** Draws a rank in [0, n) with probability proportional to 1 / (rank + 1)^skew. */
function zipfSampler (n: number, skew: number, random: () => number): () => number {
  const cumulative = new Float64Array(n)
  let total = 0
  for (let rank = 0; rank < n; rank++) {
    total += 1 / Math.pow(rank + 1, skew)
    cumulative[rank] = total
  }
  return () => {
    const x = random() * total
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (cumulative[mid]! < x) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

/** A small seeded PRNG (mulberry32): the same swarm on every run. */
export function mulberry32 (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
