import test from 'ava'
import { parseSwarmRuns } from '../bench/src/swarm/args.ts'

const MIB = 1024 * 1024

test('bench swarm runs the 100 Mbit and the 25 Mbit lines by default, each in a folder of its own', t => {
  const runs = parseSwarmRuns(['--out', '/tmp/x'], '/tmp/out')
  t.deepEqual(runs.map(r => [r.linkMbit, r.originLinkMbit, r.layerBytes / MIB, r.outDir]), [
    [100, 100, 64, '/tmp/x/100mbit'],
    [25, 25, 16, '/tmp/x/25mbit']
  ])
})

test('bench swarm with a link rate or a layer size runs that one line in --out itself', t => {
  t.deepEqual(parseSwarmRuns(['--link-mbit', '25', '--out', '/tmp/x'], '/tmp/out').map(r => [r.linkMbit, r.layerBytes / MIB, r.outDir]), [[25, 64, '/tmp/x']])
  t.deepEqual(parseSwarmRuns(['--layer-mb', '8', '--out', '/tmp/x'], '/tmp/out').map(r => [r.linkMbit, r.layerBytes / MIB]), [[100, 8]])
})

test('bench swarm --prefetch-spread chooses how the prefetched scenario places the image; the default is the scheduler\'s', t => {
  t.is(parseSwarmRuns(['--out', '/tmp/x'], '/tmp/out')[0]?.prefetchSpread, undefined)
  t.is(parseSwarmRuns(['--prefetch-spread', 'blobs', '--out', '/tmp/x'], '/tmp/out')[0]?.prefetchSpread, 'blobs')
  t.throws(() => parseSwarmRuns(['--prefetch-spread', 'halves'], '/tmp/out'), { name: 'BenchUsageError', message: /--prefetch-spread must be pieces or blobs/ })
})

test('bench swarm --warm-agents warms the agents before the timed pull; by default they start just before it', t => {
  t.false(parseSwarmRuns(['--out', '/tmp/x'], '/tmp/out').some(run => run.warmAgents))
  t.true(parseSwarmRuns(['--warm-agents'], '/tmp/out').every(run => run.warmAgents), 'both default lines')
  t.true(parseSwarmRuns(['--warm-agents', '--link-mbit', '25', '--out', '/tmp/x'], '/tmp/out')[0]?.warmAgents)
})

test('bench swarm --origin-rtt-ms puts the origin that far away, on both default lines; none by default', t => {
  t.true(parseSwarmRuns(['--out', '/tmp/x'], '/tmp/out').every(run => run.originRttMs === 0))
  t.deepEqual(parseSwarmRuns(['--origin-rtt-ms', '100'], '/tmp/out').map(run => run.originRttMs), [100, 100])
  t.throws(() => parseSwarmRuns(['--origin-rtt-ms', '1.5'], '/tmp/out'), { name: 'BenchUsageError', message: /--origin-rtt-ms must be an integer >= 0/ })
})

test('bench swarm --tcp-cc names the congestion control of every machine; by default the machine\'s own', t => {
  t.true(parseSwarmRuns(['--out', '/tmp/x'], '/tmp/out').every(run => run.tcpCongestionControl === undefined))
  t.deepEqual(parseSwarmRuns(['--tcp-cc', 'reno'], '/tmp/out').map(run => run.tcpCongestionControl), ['reno', 'reno'])
  for (const bad of ['Reno', 'reno; rm', '']) {
    t.throws(() => parseSwarmRuns(['--tcp-cc', bad], '/tmp/out'), { name: 'BenchUsageError', message: /--tcp-cc must name a TCP congestion control/ }, bad)
  }
})
