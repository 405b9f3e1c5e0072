import test from 'ava'
import fc from 'fast-check'
import { originRunFor, pieceCountFor, stripePieces } from '@shoal/proto'
import { placePieces } from '../../src/jobs/placement.ts'
import type { PeerKey } from '../../src/types.ts'

const MiB = 1024 * 1024

function agents (n: number): PeerKey[] {
  return Array.from({ length: n }, (_, i) => `agent-${String(i).padStart(2, '0')}` as PeerKey)
}

function blob (i: number, size: number): { digest: string, size: number } {
  return { digest: `sha256:${i.toString(16).padStart(64, '0')}`, size }
}

test('placed by pieces, 8 agents and one copy: each big blob is cut in 8 stripes, one per agent; a config of one piece goes whole to one agent', t => {
  const site = agents(8)
  const placed = placePieces({ blobs: [blob(1, 16 * MiB), blob(2, 1500)], agents: site, replicas: 1 })
  const layer = placed.get(blob(1, 0).digest) ?? []
  t.deepEqual(layer.map(s => s.stripe?.count), Array(8).fill(8))
  t.deepEqual(layer.map(s => s.agent).sort(), [...site].sort(), 'every agent holds a stripe')
  t.deepEqual(layer.map(s => s.stripe?.index).sort(), [0, 1, 2, 3, 4, 5, 6, 7])
  const config = placed.get(blob(2, 0).digest) ?? []
  t.is(config.length, 1)
  t.is(config[0]?.stripe, undefined, 'one piece: the whole blob')
})

test('placed by pieces with 2 copies on 8 agents: 4 stripes, each on 2 agents', t => {
  const placed = placePieces({ blobs: [blob(1, 64 * MiB)], agents: agents(8), replicas: 2 })
  const layer = placed.get(blob(1, 0).digest) ?? []
  t.is(layer.length, 8)
  for (let index = 0; index < 4; index++) t.is(layer.filter(s => s.stripe?.index === index && s.stripe.count === 4).length, 2)
})

test('placed by pieces: every piece of every blob is on min(replicas, agents) distinct agents, and no agent holds two shares of a blob', t => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 20 }),
    fc.integer({ min: 1, max: 16 }),
    fc.array(fc.integer({ min: 0, max: 300 * MiB }), { minLength: 1, maxLength: 6 }),
    (n, replicas, sizes) => {
      const blobs = sizes.map((size, i) => blob(i, size))
      const placed = placePieces({ blobs, agents: agents(n), replicas })
      for (const b of blobs) {
        const shares = placed.get(b.digest) ?? []
        if (new Set(shares.map(s => s.agent)).size !== shares.length) return false
        const holders = new Array<number>(pieceCountFor(b.size)).fill(0)
        for (const share of shares) {
          const pieces = share.stripe == null ? holders.map((_, i) => i) : stripePieces(b.size, share.stripe)
          for (const index of pieces) holders[index] = (holders[index] ?? 0) + 1
        }
        if (!holders.every(h => h === Math.min(replicas, n))) return false
      }
      return true
    }
  ))
  t.pass()
})

test('placed by pieces: the agents share the bytes of big blobs evenly (within one run of pieces per blob)', t => {
  const site = agents(5)
  const blobs = [blob(1, 100 * MiB), blob(2, 37 * MiB), blob(3, 64 * MiB + 3)]
  const placed = placePieces({ blobs, agents: site, replicas: 1 })
  const load = new Map<PeerKey, number>(site.map(a => [a, 0]))
  for (const b of blobs) {
    for (const share of placed.get(b.digest) ?? []) {
      const pieces = share.stripe == null ? [] : stripePieces(b.size, share.stripe)
      load.set(share.agent, (load.get(share.agent) ?? 0) + pieces.length)
    }
  }
  const counts = [...load.values()]
  const slack = blobs.reduce((sum, b) => sum + originRunFor(b.size), 0)
  t.true(Math.max(...counts) - Math.min(...counts) <= slack, `pieces per agent: ${counts.join(', ')}`)
})

test('placed by pieces, a blob gets the same stripes on the same agents in every job, whatever else the job holds', t => {
  // 7 agents, 2 copies: 3 stripes on 6 of them, so the blobs before it in a job would shift it.
  const site = agents(7)
  const base = blob(7, 40 * MiB)
  const first = placePieces({ blobs: [base, blob(2, 900)], agents: site, replicas: 2 })
  const again = placePieces({ blobs: [blob(3, 50 * MiB), blob(4, 700), base], agents: site, replicas: 2 })
  t.deepEqual(again.get(base.digest), first.get(base.digest))
})
