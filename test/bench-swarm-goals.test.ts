import test from 'ava'
import { scenarioReport } from '../bench/src/swarm/report.ts'
import type { ScenarioMeasures } from '../bench/src/swarm/report.ts'
import { scenarioOf } from '../bench/src/swarm/scenarios.ts'
import type { ScenarioName } from '../bench/src/swarm/scenarios.ts'
import type { PullResult } from '../bench/src/swarm/pull.ts'

const IMAGE_BYTES = 1000
const LIMIT_S = 10
const facts = { imageBytes: IMAGE_BYTES, physicalLimitSeconds: LIMIT_S }

function pulls (prefix: string, seconds: Array<number | undefined>): PullResult[] {
  return seconds.map((s, i) => s == null
    ? { host: `${prefix}${i}`, verified: false, error: 'connection reset by peer', endedSeconds: 115 }
    : { host: `${prefix}${i}`, seconds: s, verified: true, endedSeconds: s })
}

function measures (name: ScenarioName, swarm: Array<number | undefined>, direct: Array<number | undefined>): ScenarioMeasures {
  return {
    scenario: scenarioOf(name),
    swarm: { results: pulls('h', swarm), wallSeconds: 20, originEgressBytes: IMAGE_BYTES, traffic: [] },
    direct: { results: pulls('d', direct), wallSeconds: 120, originEgressBytes: 4 * IMAGE_BYTES }
  }
}

const goal = (report: ReturnType<typeof scenarioReport>, what: string): { value: number | string, pass: boolean } | undefined =>
  report.goals.find(g => g.what === what)

test('a fresh run misses its goals when a direct pull fails: a baseline that fails is no baseline', t => {
  const ok = scenarioReport(measures('fresh', [11, 11, 12, 12], [100, 100, 100, 100]), facts)
  t.deepEqual(goal(ok, 'every direct pull finishes with the right digests'), { what: 'every direct pull finishes with the right digests', target: 'all', value: '4 of 4', pass: true })

  const failed = scenarioReport(measures('fresh', [11, 11, 12, 12], [100, undefined, 100, undefined]), facts)
  t.like(goal(failed, 'every direct pull finishes with the right digests'), { value: '2 of 4', pass: false })
})

test('a fresh run with no direct pull (--skip-direct) names no direct goal, rather than a miss', t => {
  const report = scenarioReport(measures('fresh', [11, 11, 12, 12], []), facts)
  t.is(goal(report, 'every direct pull finishes with the right digests'), undefined)
  t.is(goal(report, 'direct p50 / swarm p50'), undefined)
  t.like(goal(report, 'p50 completion / physical limit'), { pass: true })
  const ran = scenarioReport(measures('fresh', [11, 11, 12, 12], [100, 100, 100, 100]), facts)
  t.like(goal(ran, 'direct p50 / swarm p50'), { pass: true })
})

test('a prefetched run is held to p50 <= 1.1x the physical limit', t => {
  const within = scenarioReport(measures('prefetched', [10.5, 10.8, 11, 12], [100, 100, 100, 100]), facts)
  t.like(goal(within, 'p50 completion / physical limit'), { pass: true })
  const over = scenarioReport(measures('prefetched', [11.5, 11.8, 12, 12], [100, 100, 100, 100]), facts)
  const miss = goal(over, 'p50 completion / physical limit')
  t.like(miss, { pass: false })
  t.true(typeof miss?.value === 'number' && miss.value > 1.1)
})
