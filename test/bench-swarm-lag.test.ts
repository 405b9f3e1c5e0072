import test from 'ava'
import { originLag } from '../bench/src/swarm/link-sampler.ts'
import type { LinkUtilisation } from '../bench/src/swarm/link-sampler.ts'

const RATE = 100
const isHost = (name: string): boolean => name.startsWith('h')

test('a host trails the origin by what it has not received yet, in seconds of its link', t => {
  const u: LinkUtilisation = {
    intervalSeconds: 1,
    linkBytesPerSecond: RATE,
    series: [
      // The origin sends 400 bytes over 4 s.
      { machine: 'origin', inBytesPerSecond: [0, 0, 0, 0, 0, 0], outBytesPerSecond: [100, 100, 100, 100, 0, 0] },
      // h0 keeps up one second behind; h1 gets nothing for 2 s, then its link runs full.
      { machine: 'h0', inBytesPerSecond: [0, 100, 100, 100, 100, 0], outBytesPerSecond: [0, 0, 0, 0, 0, 0] },
      { machine: 'h1', inBytesPerSecond: [0, 0, 100, 100, 100, 100], outBytesPerSecond: [0, 0, 0, 0, 0, 0] }
    ]
  }
  t.deepEqual(originLag(u, isHost), [
    { machine: 'h0', maxSeconds: 1, atOriginEndSeconds: 1 },
    { machine: 'h1', maxSeconds: 2, atOriginEndSeconds: 2 }
  ])
})

test('no lag when the origin sent nothing (the site held the image already)', t => {
  const u: LinkUtilisation = {
    intervalSeconds: 1,
    linkBytesPerSecond: RATE,
    series: [
      { machine: 'origin', inBytesPerSecond: [0, 0], outBytesPerSecond: [0, 0] },
      { machine: 'h0', inBytesPerSecond: [100, 100], outBytesPerSecond: [0, 0] }
    ]
  }
  t.is(originLag(u, isHost), undefined)
})
