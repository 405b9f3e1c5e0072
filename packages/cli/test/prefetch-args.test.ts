import test from 'ava'
import { parsePrefetchArgs } from '../src/prefetch/args.ts'
import type { PrefetchCommand, PrefetchRun } from '../src/prefetch/args.ts'

const PEER = '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo'

function runOf (command: PrefetchCommand): PrefetchRun {
  if (command.kind !== 'run') throw new Error(`expected a run, got ${command.kind}`)
  return command
}

function usageError (t: { throws: (fn: () => unknown, e: { name: string }) => Error | undefined }, argv: string[], env: NodeJS.ProcessEnv = {}): string {
  return t.throws(() => parsePrefetchArgs(argv, env), { name: 'PrefetchUsageError' })?.message ?? ''
}

test('defaults: the local agent, scope agent, :latest for a bare repository, the rest left to the back end', t => {
  const run = runOf(parsePrefetchArgs(['alpine', 'reg.example/team/app:v1']))
  t.deepEqual(run.backend, { kind: 'agent', url: 'http://127.0.0.1:65001' })
  t.deepEqual(run.scope, { kind: 'agent' })
  t.deepEqual(run.images, [{ reference: 'alpine:latest' }, { reference: 'reg.example/team/app:v1' }])
  t.deepEqual(run.platforms, [])
  t.is(run.concurrency, undefined)
  t.is(run.timeoutMs, undefined)
  t.is(run.replicas, undefined)
  t.false(run.json)
  t.false(run.detach)
})

test('--tags applies to every IMAGE without a tag or digest, and only to those', t => {
  const digest = `sha256:${'cd'.repeat(32)}`
  const run = runOf(parsePrefetchArgs(['reg.example/team/app', 'reg.example/team/db:v3', `reg.example/team/web@${digest}`, 'reg.example/team/api', '--tags', 'v1.*']))
  t.deepEqual(run.images, [
    { reference: 'reg.example/team/app', tags: 'v1.*' },
    { reference: 'reg.example/team/db:v3' },
    { reference: `reg.example/team/web@${digest}` },
    { reference: 'reg.example/team/api', tags: 'v1.*' }
  ])
  t.regex(usageError(t, ['reg.example/team/db:v3', '--tags', 'v1.*']), /^--tags: no IMAGE to filter/)
  t.regex(usageError(t, ['reg.example/team/app', '--tags', 'v1/*']), /^--tags: /)
})

test('flags are checked at start and errors name them', t => {
  t.regex(usageError(t, []), /^IMAGE: /)
  t.regex(usageError(t, ['Bad/Ref']), /^IMAGE 1: /)
  t.regex(usageError(t, ['a', 'b:', '--json']), /^IMAGE 2: /)
  t.regex(usageError(t, ['a', '--timeout', '10']), /^--timeout: /)
  t.regex(usageError(t, ['a', '--concurrency', '0']), /^--concurrency: /)
  t.regex(usageError(t, ['a', '--concurrency', '65']), /^--concurrency: /)
  t.regex(usageError(t, ['a', '--platform', 'linux']), /^--platform: /)
  t.regex(usageError(t, ['a', '--nope']), /^--nope: no such option/)
  t.regex(usageError(t, ['a', '--scope']), /^--scope: needs a value/)
  const run = runOf(parsePrefetchArgs(['a', '--timeout', '10m', '--concurrency', '64', '--platform', 'linux/amd64', '--platform', 'linux/arm64/v8', '--platform', 'Linux/AMD64']))
  t.is(run.timeoutMs, 600_000)
  t.is(run.concurrency, 64)
  t.deepEqual(run.platforms, ['linux/amd64', 'linux/arm64/v8'])
})

test('without a scheduler the only scope is the agent, and scheduler-only flags are refused', t => {
  t.deepEqual(runOf(parsePrefetchArgs(['a', '--scope', 'agent', '--agent', '10.0.0.7:65001'])).backend, { kind: 'agent', url: 'http://10.0.0.7:65001' })
  t.regex(usageError(t, ['a', '--scope', 'site:edge-1']), /^--scope: site:edge-1 needs --scheduler/)
  t.regex(usageError(t, ['a', '--scope', 'all']), /^--scope: all needs --scheduler/)
  t.regex(usageError(t, ['a', '--scope', `agent:${PEER}`]), /^--scope: .* needs --scheduler/)
  t.regex(usageError(t, ['a', '--detach']), /^--detach: /)
  t.regex(usageError(t, ['a', '--replicas', '2']), /^--replicas: /)
})

test('with a scheduler: scope required, agent named by peer id, replicas only for a site', t => {
  const run = runOf(parsePrefetchArgs(['a', '--scheduler', '/ip4/10.0.0.5/tcp/65004', '--scope', 'site:edge-1', '--replicas', '2', '--detach', '--json']))
  t.deepEqual(run.backend, { kind: 'scheduler', url: 'http://10.0.0.5:65004', tokenFile: '.shoal/scheduler/admin-token' })
  t.deepEqual(run.scope, { kind: 'site', site: 'edge-1' })
  t.is(run.replicas, 2)
  t.true(run.detach)
  t.true(run.json)
  t.deepEqual(runOf(parsePrefetchArgs(['a', '--scheduler', '10.0.0.5:65004', '--scope', `agent:${PEER}`])).scope, { kind: 'agent', agent: PEER })
  t.regex(usageError(t, ['a', '--scheduler', '10.0.0.5:65004']), /^--scope: required with --scheduler/)
  t.regex(usageError(t, ['a', '--scheduler', '10.0.0.5:65004', '--scope', 'agent']), /^--scope: with --scheduler, name the agent/)
  t.regex(usageError(t, ['a', '--scheduler', '10.0.0.5:65004', '--scope', 'all', '--replicas', '2']), /^--replicas: only with --scope site/)
  t.regex(usageError(t, ['a', '--scheduler', '10.0.0.5:65004', '--scope', 'site:x', '--replicas', '17']), /^--replicas: .* 1 to 16/)
  t.is(run.spread, undefined, 'the scheduler\'s default')
  t.is(runOf(parsePrefetchArgs(['a', '--scheduler', '10.0.0.5:65004', '--scope', 'site:x', '--spread', 'blobs'])).spread, 'blobs')
  t.regex(usageError(t, ['a', '--scheduler', '10.0.0.5:65004', '--scope', 'all', '--spread', 'pieces']), /^--spread: only with --scope site/)
  t.regex(usageError(t, ['a', '--scheduler', '10.0.0.5:65004', '--scope', 'site:x', '--spread', 'halves']), /^--spread: "halves" is not pieces or blobs/)
  t.regex(usageError(t, ['a', '--scheduler', '10.0.0.5:65004', '--agent', 'http://127.0.0.1:65001', '--scope', 'all']), /^--agent: give --scheduler or --agent, not both/)
})

test('environment: SHOAL_PREFETCH_SCHEDULER and SHOAL_PREFETCH_AGENT are defaults, flags win', t => {
  const env = { SHOAL_PREFETCH_SCHEDULER: 'sched.example:65004' }
  t.deepEqual(runOf(parsePrefetchArgs(['a', '--scope', 'all'], env)).backend, { kind: 'scheduler', url: 'http://sched.example:65004', tokenFile: '.shoal/scheduler/admin-token' })
  t.deepEqual(runOf(parsePrefetchArgs(['a', '--scope', 'all', '--scheduler', 'other:1'], env)).backend, { kind: 'scheduler', url: 'http://other:1', tokenFile: '.shoal/scheduler/admin-token' })
  // an explicit --agent wins over the environment's scheduler
  t.deepEqual(runOf(parsePrefetchArgs(['a', '--agent', 'http://127.0.0.1:65001'], env)).backend, { kind: 'agent', url: 'http://127.0.0.1:65001' })
  t.deepEqual(runOf(parsePrefetchArgs(['a'], { SHOAL_PREFETCH_AGENT: '10.0.0.9:65001' })).backend, { kind: 'agent', url: 'http://10.0.0.9:65001' })
  t.regex(usageError(t, ['a', '--scope', 'all'], { SHOAL_PREFETCH_SCHEDULER: 'nope' }), /^SHOAL_PREFETCH_SCHEDULER: /)
})

test('status, cancel and jobs need a scheduler and a job id', t => {
  t.deepEqual(parsePrefetchArgs(['status', 'j-42', '--scheduler', '10.0.0.5:65004', '--wait']), { kind: 'status', job: 'j-42', scheduler: 'http://10.0.0.5:65004', tokenFile: '.shoal/scheduler/admin-token', wait: true, json: false })
  t.deepEqual(parsePrefetchArgs(['cancel', 'j-42', '--json'], { SHOAL_PREFETCH_SCHEDULER: '/dns4/s/tcp/1', SHOAL_ADMIN_TOKEN_FILE: '/etc/shoal/token' }), { kind: 'cancel', job: 'j-42', scheduler: 'http://s:1', tokenFile: '/etc/shoal/token', json: true })
  t.deepEqual(parsePrefetchArgs(['jobs', '--scheduler', '10.0.0.5:65004', '--admin-token-file', 'tok']), { kind: 'jobs', scheduler: 'http://10.0.0.5:65004', tokenFile: 'tok', json: false })
  t.throws(() => parsePrefetchArgs(['a', '--agent', 'http://127.0.0.1:1', '--admin-token-file', 'tok']), { name: 'PrefetchUsageError', message: /^--admin-token-file: only with --scheduler/ })
  t.regex(usageError(t, ['status', 'j-42']), /^--scheduler: /)
  t.regex(usageError(t, ['status', '--scheduler', 's:1']), /^JOB: /)
  t.regex(usageError(t, ['cancel', 'a', 'b', '--scheduler', 's:1']), /^JOB: /)
  t.regex(usageError(t, ['cancel', 'j/1', '--scheduler', 's:1']), /^JOB: /)
  t.regex(usageError(t, ['cancel', 'j', '--wait', '--scheduler', 's:1']), /^--wait: /)
  t.regex(usageError(t, ['status', 'j', '--scope', 'all', '--scheduler', 's:1']), /^--scope: no such option/)
  // an image named like a subcommand, with its tag
  t.deepEqual(runOf(parsePrefetchArgs(['status:latest'])).images, [{ reference: 'status:latest' }])
  t.deepEqual(parsePrefetchArgs(['a', '--help']), { kind: 'help' })
})
