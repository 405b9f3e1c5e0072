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
