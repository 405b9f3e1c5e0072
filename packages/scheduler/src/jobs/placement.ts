import { stripeCountFor } from '@shoal/proto'
import type { PieceStripe } from '@shoal/proto'
import type { PeerKey } from '../types.ts'

export interface PlacementInput {
  /** the blobs to place, each with its size */
  blobs: ReadonlyArray<{ digest: string, size: number }>
  /** the agents that may hold them (the scope's connected agents), in a stable order */
  agents: readonly PeerKey[]
  /** copies of each blob; capped at the number of agents */
  replicas: number
  /** bytes each agent already holds for this job (its load so far) */
  load?: ReadonlyMap<PeerKey, number>
}

/**
 * Where each blob goes in a site: `replicas` distinct agents per blob, the largest blobs first,
 * each to the agents with the fewest bytes so far (ties: the given order), so that the site
 * holds every blob and every agent fetches about the same share from the origin. Pure.
 */
export function placeBlobs (input: PlacementInput): Map<string, PeerKey[]> {
  const load = new Map<PeerKey, number>(input.agents.map(agent => [agent, input.load?.get(agent) ?? 0]))
  const copies = Math.min(input.replicas, input.agents.length)
  const placed = new Map<string, PeerKey[]>()
  const order = [...input.blobs].sort((a, b) => b.size - a.size || (a.digest < b.digest ? -1 : 1))
  for (const blob of order) {
    const chosen = [...input.agents].sort((a, b) => (load.get(a) ?? 0) - (load.get(b) ?? 0)).slice(0, copies)
    for (const agent of chosen) load.set(agent, (load.get(agent) ?? 0) + blob.size)
    placed.set(blob.digest, chosen)
  }
  return placed
}

/** One agent's share of a blob placed by pieces: a stripe of its pieces, or (stripe absent) all of it. */
export interface PieceShare {
  agent: PeerKey
  stripe?: PieceStripe
}

/**
 * Where each blob goes in a site when it is placed by pieces: the blob's pieces are cut into
 * stripes (runs of pieces dealt in turn: stripePieces), S = the site's agents / `replicas` (at most
 * the blob's runs, stripeCountFor), and each stripe goes to `replicas` distinct agents. Every agent
 * then holds about replicas / N of every blob (of a blob with fewer runs than the site has agents,
 * some hold none), so a rollout draws on every agent's uplink from its first second,
 * where whole blobs on single agents left most uplinks idle until pieces had spread (issue 12).
 * Agents are dealt in turn from a place that the blob's digest picks: blobs of few pieces (configs)
 * land on different agents, and a blob placed again on the same agents (a later job of an image
 * sharing its base layers) gets the same stripes on the same agents, which hold them already. A
 * blob that cannot be cut (one stripe) is placed whole. Pure.
 */
export function placePieces (input: Omit<PlacementInput, 'load'>): Map<string, PieceShare[]> {
  const agents = input.agents
  const copies = Math.min(input.replicas, agents.length)
  const stripes = Math.max(1, Math.floor(agents.length / Math.max(1, copies)))
  const placed = new Map<string, PieceShare[]>()
  for (const blob of input.blobs) {
    let cursor = agents.length === 0 ? 0 : startOf(blob.digest, agents.length)
    const count = Math.max(1, Math.min(stripes, stripeCountFor(blob.size)))
    const shares: PieceShare[] = []
    for (let index = 0; index < count; index++) {
      for (let copy = 0; copy < copies; copy++) {
        const agent = agents[cursor++ % agents.length] as PeerKey
        shares.push(count === 1 ? { agent } : { agent, stripe: { index, count } })
      }
    }
    placed.set(blob.digest, shares)
  }
  return placed
}

/** Where a blob's dealing starts among `n` agents: from its digest, the same in every job. */
function startOf (digest: string, n: number): number {
  let h = 0
  for (let i = digest.length - 8; i < digest.length; i++) h = (h * 31 + digest.charCodeAt(i)) >>> 0
  return h % n
}
