import test from 'ava'
import { createDisplay, displayMode } from '../src/prefetch/display/index.ts'
import { PlainProgress } from '../src/prefetch/display/plain.ts'
import { TtyProgress, ttyFrame } from '../src/prefetch/display/tty.ts'
import { digestOf, jobView } from './prefetch-views.ts'

const MiB = 1024 * 1024
const unauthorized = { reason: 'unauthorized', message: 'the origin refused the agent\'s credentials (401)' }

/** A job of two layers on two agents, as the scheduler would show it over time. */
function sequence (): Array<{ at: number, view: ReturnType<typeof jobView> }> {
  const layer = (n: number, a: [string, number, string?], b: [string, number, string?]): Parameters<typeof jobView>[0]['layers'][number] => ({
    digest: digestOf(n),
    size: 4 * MiB,
    targets: [
      { agent: 'agent-a', state: a[0] as 'pending', bytes: a[1], ...(a[2] == null ? {} : { error: unauthorized }) },
      { agent: 'agent-b', state: b[0] as 'pending', bytes: b[1] }
    ]
  })
  return [
    { at: 0, view: jobView({ state: 'resolving', layers: [], agents: [] }) },
    { at: 500, view: jobView({ state: 'running', layers: [layer(1, ['pending', 0], ['pending', 0]), layer(2, ['pending', 0], ['pending', 0])] }) },
    { at: 1000, view: jobView({ state: 'running', layers: [layer(1, ['fetching', MiB], ['pending', 0]), layer(2, ['pending', 0], ['pending', 0])] }) },
    { at: 2000, view: jobView({ state: 'running', layers: [layer(1, ['fetching', 2 * MiB], ['fetching', MiB]), layer(2, ['pending', 0], ['pending', 0])] }) },
    { at: 2500, view: jobView({ state: 'running', layers: [layer(1, ['fetching', 2 * MiB], ['fetching', MiB]), layer(2, ['failed', 0, 'x'], ['pending', 0])] }) },
    { at: 3000, view: jobView({ state: 'running', layers: [layer(1, ['fetching', 2 * MiB], ['fetching', MiB]), layer(2, ['failed', 0, 'x'], ['pending', 0])] }) },
    { at: 4000, view: jobView({ state: 'running', layers: [layer(1, ['done', 4 * MiB], ['fetching', 3 * MiB]), layer(2, ['failed', 0, 'x'], ['fetching', MiB])] }) },
    { at: 4500, view: jobView({ state: 'done', finishedAt: '2025-01-01T00:00:04.500Z', layers: [layer(1, ['done', 4 * MiB], ['done', 4 * MiB]), layer(2, ['failed', 0, 'x'], ['done', 4 * MiB])] }) }
  ]
}

test('plain lines: progress at most every 2 s and only when it changed; each failure once, at once; the end always', t => {
  const plain = new PlainProgress()
  const steps = sequence()
  const out = steps.map(({ at, view }, i) => (i === steps.length - 1 ? plain.finish(view, at) : plain.update(view, at)))
  t.deepEqual(out, [
    ['prefetch job-1: resolving, 0 B of 0 B (0%), layers 0 done 0 failed of 0, agents 0 done 0 failed of 0'],
    [],
    [],
    ['prefetch job-1: running, 3.0 MiB of 16.0 MiB (18%) at 1.5 MiB/s, layers 0 done 0 failed of 4, agents 0 done 0 failed of 2'],
    ['layer sha256:000000000000 of registry.example:5000/team/app failed on agent-a: unauthorized: the origin refused the agent\'s credentials (401)'],
    [],
    ['prefetch job-1: running, 8.0 MiB of 16.0 MiB (50%) at 2.0 MiB/s, layers 1 done 1 failed of 4, agents 0 done 1 failed of 2'],
    ['prefetch job-1: done, 12.0 MiB of 16.0 MiB (75%), layers 3 done 1 failed of 4, agents 1 done 1 failed of 2']
  ])
})

test('plain lines: a change inside the interval shows at the next read after it, and a failure names the agent\'s host', t => {
  const plain = new PlainProgress({ intervalMs: 2000 })
  const [first, , second] = sequence()
  t.is(plain.update(first?.view ?? t.fail() as never, 0).length, 1)
  t.deepEqual(plain.update(second?.view ?? t.fail() as never, 1999), [])
  t.is(plain.update(second?.view ?? t.fail() as never, 2000).length, 1)
  t.deepEqual(plain.update(second?.view ?? t.fail() as never, 9000), [])

  const failed = sequence()[4]?.view ?? t.fail() as never
  const named = { ...failed, agents: failed.agents.map(a => ({ ...a, hostName: `${a.agent}.edge-1` })) }
  t.deepEqual(new PlainProgress().update(named, 0).slice(0, 1), [
    'layer sha256:000000000000 of registry.example:5000/team/app failed on agent-a.edge-1 (agent-a): unauthorized: the origin refused the agent\'s credentials (401)'
  ])
})

test('the terminal frame: state, a bar for bytes, layers, agents', t => {
  const view = sequence()[6]?.view ?? t.fail() as never
  t.deepEqual(ttyFrame(view, { nowMs: Date.parse('2025-01-01T00:01:05Z'), rate: 2 * MiB, columns: 70 }), [
    'prefetch job-1  running  1:05',
    '  bytes   ██████████░░░░░░░░░░  50%  8.0 MiB / 16.0 MiB  2.0 MiB/s',
    '  layers  1 done  1 failed  4 total',
    '  agents  0 done  1 failed  2 total'
  ])
  for (const line of ttyFrame(view, { nowMs: 0, rate: 2 * MiB, columns: 30 })) t.true(line.length <= 29, line)
})

test('the terminal display redraws in place: cursor up over the last frame, each line cleared, failures above once', t => {
  const tty = new TtyProgress()
  const steps = sequence()
  const first = tty.update(steps[3]?.view ?? t.fail() as never, { nowMs: 2000, columns: 100 })
  t.false(first.includes('\x1b[4A'))
  t.is(first.split('\n').length - 1, 4)
  t.true(first.endsWith('\x1b[J'))
  const second = tty.update(steps[4]?.view ?? t.fail() as never, { nowMs: 2500, columns: 100 })
  t.true(second.startsWith('\x1b[4A'))
  const lines = second.slice('\x1b[4A'.length).split('\n')
  t.regex(lines[0] ?? '', /^\r\x1b\[2Klayer sha256:000000000000 of .* failed on agent-a: unauthorized: /)
  t.regex(lines[1] ?? '', /^\r\x1b\[2Kprefetch job-1 {2}running/)
  const third = tty.update(steps[5]?.view ?? t.fail() as never, { nowMs: 3000, columns: 100 })
  t.false(third.includes('unauthorized'))
  t.true(third.startsWith('\x1b[4A'))
})

test('display mode: bars in a terminal, plain lines otherwise, nothing with --json', t => {
  t.is(displayMode({ json: false, isTTY: true }), 'tty')
  t.is(displayMode({ json: false, isTTY: undefined }), 'plain')
  t.is(displayMode({ json: true, isTTY: true }), 'none')
  const written: string[] = []
  const display = createDisplay({ mode: 'plain', stream: { write: text => written.push(text) }, now: () => 0 })
  const last = sequence().at(-1)?.view ?? t.fail() as never
  display.update(last)
  display.finish(last)
  t.is(written.length, 1)
  t.regex(written[0] ?? '', /failed on agent-a: unauthorized: .*\nprefetch job-1: done, .*\n$/)
  const silent: string[] = []
  const none = createDisplay({ mode: 'none', stream: { write: text => silent.push(text) } })
  none.update(last)
  none.finish(last)
  t.deepEqual(silent, [])
})
