import test from 'ava'
import { meanLag, originLag, switchLoss } from '../bench/src/swarm/link-sampler.ts'
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
  const lag = originLag(u, isHost)
  t.deepEqual(lag, [
    { machine: 'h0', maxSeconds: 1, atOriginEndSeconds: 1, bySample: [1, 1, 1, 1, 0, 0] },
    { machine: 'h1', maxSeconds: 2, atOriginEndSeconds: 2, bySample: [1, 2, 2, 2, 1, 0] }
  ])
  t.deepEqual(meanLag(lag ?? []), [1, 1.5, 1.5, 1.5, 0.5, 0], 'the hosts\' mean, sample by sample: built in the first two seconds here')
  t.deepEqual(meanLag([]), [])
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

test('what the machines sent and the switch did not deliver is the share it dropped', t => {
  const u: LinkUtilisation = {
    intervalSeconds: 1,
    linkBytesPerSecond: RATE,
    series: [
      // h0 and h1 each send 200 bytes; 40 of the 200 h0 sent never reached h1.
      { machine: 'h0', inBytesPerSecond: [100, 100, 0], outBytesPerSecond: [100, 100, 0] },
      { machine: 'h1', inBytesPerSecond: [60, 100, 0], outBytesPerSecond: [100, 100, 0] },
      { machine: 'origin', inBytesPerSecond: [0, 0, 0], outBytesPerSecond: [0, 0, 0] }
    ]
  }
  t.deepEqual(switchLoss(u), { sentBytes: 400, deliveredBytes: 360, lostShare: 0.1 })
})

test('no loss is reported when nothing was sent, and none below zero', t => {
  const idle: LinkUtilisation = { intervalSeconds: 1, linkBytesPerSecond: RATE, series: [{ machine: 'h0', inBytesPerSecond: [0], outBytesPerSecond: [0] }] }
  t.is(switchLoss(idle), undefined)
  // Broadcasts (ARP) reach every port: delivered can exceed sent by a few bytes.
  const flooded: LinkUtilisation = { intervalSeconds: 1, linkBytesPerSecond: RATE, series: [
    { machine: 'h0', inBytesPerSecond: [10], outBytesPerSecond: [10] },
    { machine: 'h1', inBytesPerSecond: [10], outBytesPerSecond: [0] }
  ] }
  t.is(switchLoss(flooded)?.lostShare, 0)
})
