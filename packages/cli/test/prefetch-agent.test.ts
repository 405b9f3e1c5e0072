import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { layerFixture, pushImage, sha256Digest, startCountingProxy, startRegistry } from '../../../test/fixtures/index.ts'
import type { CountingProxy, PushedImage } from '../../../test/fixtures/index.ts'
import { startTestAgent } from '../../../test/helpers/agent.ts'
import type { TestAgent } from '../../../test/helpers/agent.ts'
import { runPrefetch } from '../src/prefetch/index.ts'
import type { JsonSummary } from '../src/prefetch/display/summary.ts'

/** `shoal prefetch --agent` end to end: a real Distribution registry behind a counting proxy, a real agent, the command in this process. */

interface Cluster { origin: CountingProxy, agent: TestAgent, push: (name: string, tag: string, sizes: number[], seed: number) => Promise<PushedImage> }

async function startCluster (t: ExecutionContext): Promise<Cluster> {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const origin = await startCountingProxy(registry)
  t.teardown(origin.stop)
  const agent = await startTestAgent({ upstreams: [origin.url] })
  t.teardown(agent.stop)
  const push = async (name: string, tag: string, sizes: number[], seed: number): Promise<PushedImage> =>
    pushImage(registry, { name, tag, format: 'oci', layers: sizes.map((size, i) => layerFixture({ size, seed: seed * 100 + i })) })
  return { origin, agent, push }
}

interface Run { code: number, stdout: string, stderr: string }

async function prefetch (argv: string[], opts: { interrupt?: AbortController, onStderr?: (text: string) => void } = {}): Promise<Run> {
  let stdout = ''
  let stderr = ''
  const code = await runPrefetch(argv, {
    stdout: { write: text => { stdout += text } },
    stderr: { write: text => { stderr += text; opts.onStderr?.(text) }, isTTY: false },
    env: {},
    interrupt: (opts.interrupt ?? new AbortController()).signal
  })
  return { code, stdout, stderr }
}

function blobsOf (image: PushedImage): string[] {
  return [...image.layers.map(l => l.digest), image.configDigest]
}

test('a tag filter, a pinned image and a list file: every blob fetched into the agent once, and a later pull never goes to the origin', async t => {
  const { origin, agent, push } = await startCluster(t)
  const v1 = await push('team/app', 'v1.0', [200_000, 3_000], 1)
  const v2 = await push('team/app', 'v1.1', [200_000, 5_000], 1) // shares the 200 kB base with v1.0
  const other = await push('team/app', 'v2.0', [7_000], 3) // does not match v1.*
  const db = await push('team/db', 'v3', [9_000], 4)
  const web = await push('team/web', 'stable', [11_000], 5)
  const dir = await mkdtemp(join(tmpdir(), 'shoal-prefetch-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const list = join(dir, 'images.txt')
  await writeFile(list, `# the web tier\n${origin.host}/team/web:stable\n`)

  const run = await prefetch([`${origin.host}/team/app`, `${origin.host}/team/db:v3`, '--tags', 'v1.*', '--from-file', list, '--agent', agent.url, '--concurrency', '2', '--json'])
  t.is(run.code, 0, run.stdout + run.stderr)
  t.is(run.stderr, '', '--json: no progress display')
  const summary = JSON.parse(run.stdout) as JsonSummary
  t.true(summary.ok)
  t.deepEqual(summary.failures, [])
  t.is(summary.job.state, 'done')
  t.is(summary.job.scope, `agent:${agent.url}`)
  t.deepEqual(summary.job.images.map(i => i.reference).sort(), [`${origin.host}/team/app:v1.0`, `${origin.host}/team/app:v1.1`, `${origin.host}/team/db:v3`, `${origin.host}/team/web:stable`])
  const wanted = [...new Set([v1, v2, db, web].flatMap(blobsOf))]
  t.deepEqual(summary.job.layers.map(l => l.digest).sort(), [...wanted].sort())
  t.is(summary.job.totals.layersDone, wanted.length)
  t.is(summary.job.totals.bytesDone, summary.job.totals.bytes)
  for (const digest of wanted) t.is(origin.blobGets(digest), 1, `${digest} read from the origin once`)
  t.is(origin.blobGets(other.layers[0]?.digest), 0, 'a tag outside the filter is not fetched')

  // the agent holds them: reading them through it does not reach the origin
  for (const image of [v1, v2, db, web]) {
    for (const digest of blobsOf(image)) {
      const res = await fetch(`${agent.url}/v2/${image.name}/blobs/${digest}?ns=${origin.host}`)
      t.is(res.status, 200)
      t.is(sha256Digest(new Uint8Array(await res.arrayBuffer())), digest)
    }
  }
  for (const digest of wanted) t.is(origin.blobGets(digest), 1, `${digest} served by the agent from its store`)
})

test('what cannot be fetched is named with its reason, plain lines go to standard error, and the exit status is 1', async t => {
  const { origin, agent, push } = await startCluster(t)
  const app = await push('team/app', 'v1', [4_000], 6)
  const run = await prefetch([`${origin.host}/team/app:v1`, `${origin.host}/team/missing:v1`, `${origin.host}/team/app`, '--tags', 'nothing-*', '--agent', agent.url])
  t.is(run.code, 1)
  const out = run.stdout.split('\n')
  t.regex(out[0] ?? '', /^prefetch local-[0-9a-f]{8}: done after \d+:\d\d: 3 images, 2 layers .* on 1 agent: 2 done, 0 failed/)
  t.true(out.includes('2 failures:'), run.stdout)
  t.true(out.some(l => l.startsWith(`  image ${origin.host}/team/missing:v1 failed: not-found: `)), run.stdout)
  t.true(out.some(l => /^ {2}image .*team\/app.* failed: not-found: .*nothing-\*/.test(l)), run.stdout)
  // standard error: a failure line per image as seen, and the last progress line
  t.regex(run.stderr, new RegExp(`image ${origin.host}/team/missing:v1 failed: not-found: `))
  t.regex(run.stderr, /prefetch local-[0-9a-f]{8}: done, .* layers 2 done 0 failed of 2, agents 1 done 0 failed of 1, images 2 failed of 3\n$/)
  t.is(origin.blobGets(app.layers[0]?.digest), 1)
})

test('an agent that does not answer: every image fails as unavailable, the job fails', async t => {
  const { origin, agent } = await startCluster(t)
  const url = agent.url
  await agent.stop()
  const run = await prefetch([`${origin.host}/team/app:v1`, '--agent', url, '--json'])
  t.is(run.code, 1)
  const summary = JSON.parse(run.stdout) as JsonSummary
  t.is(summary.job.state, 'failed')
  t.is(summary.job.error?.reason, 'unavailable')
  t.deepEqual(summary.failures.map(f => [f.kind, f.error.reason]), [['job', 'unavailable'], ['image', 'unavailable']])
})

test('Ctrl-C cancels the run: exit 130, the job cancelled, nothing left running', async t => {
  const { origin, agent, push } = await startCluster(t)
  await push('team/big', 'v1', [8_000_000, 8_000_000, 8_000_000], 7)
  const interrupt = new AbortController()
  // the first progress line is printed while resolving or fetching: interrupt then
  const run = await prefetch([`${origin.host}/team/big:v1`, '--agent', agent.url, '--concurrency', '1'], { interrupt, onStderr: () => { interrupt.abort() } })
  t.is(run.code, 130)
  t.regex(run.stdout, /^prefetch local-[0-9a-f]{8}: cancelled after /)
  // the run was over when the command returned: the origin sees no more blob reads
  const reads = origin.blobGets()
  await new Promise(resolve => setTimeout(resolve, 500))
  t.is(origin.blobGets(), reads)
  t.true(reads < 3)
})
