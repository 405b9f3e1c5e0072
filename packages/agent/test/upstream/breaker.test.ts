import test from 'ava'
import { CircuitBreaker } from '../../src/upstream/breaker.ts'
import type { BreakerState } from '../../src/upstream/breaker.ts'

const COOLDOWN_MS = 1_000

function breaker (): { b: CircuitBreaker, clock: { now: number }, changes: BreakerState[] } {
  const clock = { now: 0 }
  const changes: BreakerState[] = []
  const b = new CircuitBreaker({ failureThreshold: 3, cooldownMs: COOLDOWN_MS, now: () => clock.now, onStateChange: (_key, state) => changes.push(state) })
  return { b, clock, changes }
}

test('closed until N consecutive failures; a success in between starts the count again', t => {
  const { b } = breaker()
  b.failure('e', new Error('x'))
  b.failure('e', new Error('x'))
  b.success('e')
  b.failure('e', new Error('x'))
  b.failure('e', new Error('x'))
  t.is(b.state('e'), 'closed')
  t.true(b.allow('e'))
  b.failure('e', new Error('last'))
  t.is(b.state('e'), 'open')
  t.false(b.allow('e'), 'open: skipped')
  t.is(b.describe('e').lastError?.message, 'last')
  t.is(b.state('other'), 'closed', 'per endpoint')
})

test('after the cool-down one probe goes through: its failure opens the circuit again, its success closes it', t => {
  const { b, clock, changes } = breaker()
  for (let i = 0; i < 3; i++) b.failure('e', new Error('x'))
  clock.now += COOLDOWN_MS - 1
  t.false(b.allow('e'))
  clock.now += 1
  t.true(b.allow('e'), 'the probe')
  t.false(b.allow('e'), 'only one probe at a time')
  b.failure('e', new Error('still down'))
  t.is(b.state('e'), 'open', 'one failed probe opens it again')
  t.false(b.allow('e'))
  clock.now += COOLDOWN_MS
  t.true(b.allow('e'))
  b.success('e')
  t.is(b.state('e'), 'closed')
  t.true(b.allow('e'))
  t.deepEqual(changes, ['open', 'half-open', 'open', 'half-open', 'closed'])
})

test('a probe whose outcome never comes (its request was aborted) lets another through after a further cool-down', t => {
  const { b, clock } = breaker()
  for (let i = 0; i < 3; i++) b.failure('e', new Error('x'))
  clock.now += COOLDOWN_MS
  t.true(b.allow('e'))
  clock.now += COOLDOWN_MS - 1
  t.false(b.allow('e'))
  clock.now += 1
  t.true(b.allow('e'))
})
