import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import test from 'ava'
import { fetchBody, waitFor } from './helpers/http.ts'
import { pullBlob, setupCluster, sha256, startPeer, writeSwarmKey } from './helpers/p2p-cluster.ts'
import { spawnScheduler } from './helpers/scheduler-process.ts'
import { SHOAL_CLI, shoalEnv } from './helpers/shoal-process.ts'
import { tempDir } from './helpers/temp.ts'

interface AdminView { agents: unknown[], tasks: Array<{ digest: string, peers: unknown[] }> }

test('shoal scheduler as its own process: agents pull through it; killed and restarted, it learns the agents\' blobs again and new pulls use peers', async t => {
  const cluster = await setupCluster(t)
  const dataDir = await tempDir(t, 'scheduler')
  let scheduler = await spawnScheduler(t, { dataDir, swarmKey: cluster.swarmKey })
  const agents = await Promise.all([0, 1, 2].map(async () => startPeer(t, cluster, { args: ['--scheduler', scheduler.addr] })))
  await waitFor('agents connected', () => agents.every(a => a.agent.schedulersConnected === 1))
  const [first, second] = cluster.digests as [string, string]
  const [firstLayer, secondLayer] = cluster.layers as [Buffer, Buffer]
  let egress = cluster.origin.egressBytes
  for (const body of await Promise.all(agents.map(async a => pullBlob(a, first)))) t.is(sha256(body), sha256(firstLayer))
  const firstRatio = (cluster.origin.egressBytes - egress) / firstLayer.byteLength
  t.log(`origin sent ${firstRatio.toFixed(2)}x the first blob`)
  t.true(firstRatio < 1.2, `the first blob left the origin about once (${firstRatio.toFixed(2)}x)`)
  const before = scheduler.addr

  await scheduler.kill('SIGKILL')
  await waitFor('agents saw it go', () => agents.every(a => a.agent.schedulersConnected === 0))
  scheduler = await spawnScheduler(t, { port: scheduler.port, dataDir, swarmKey: cluster.swarmKey })
  t.is(scheduler.addr, before, 'the same address and identity (from its data dir)')
  await waitFor('agents back', () => agents.every(a => a.agent.schedulersConnected === 1), { timeoutMs: 30_000 })
  await waitFor('the held blob announced again', async () => {
    const view = JSON.parse((await fetchBody(`${scheduler.admin}/tasks`, { headers: { authorization: `Bearer ${scheduler.adminToken}` } })).body.toString()) as AdminView
    return view.tasks.some(task => task.digest === first && task.peers.length === 3)
  })

  egress = cluster.origin.egressBytes
  for (const body of await Promise.all(agents.map(async a => pullBlob(a, second)))) t.is(sha256(body), sha256(secondLayer))
  const secondRatio = (cluster.origin.egressBytes - egress) / secondLayer.byteLength
  t.log(`origin sent ${secondRatio.toFixed(2)}x the second blob, after the restart`)
  t.true(secondRatio < 1.2, `after the restart, the next blob leaves the origin about once too (${secondRatio.toFixed(2)}x)`)
})

/** `shoal scheduler` run to its end (it must end by itself, within 30 s): what it printed and its exit code. */
async function schedulerExit (args: string[], opts: { admin?: string } = {}): Promise<{ code?: number, stdout: string, stderr: string }> {
  const err = await promisify(execFile)(process.execPath, [SHOAL_CLI, 'scheduler', '--admin', opts.admin ?? '127.0.0.1:0', ...args], { env: shoalEnv(), timeout: 30_000 })
    .then(() => new Error('it ran to a clean exit'), (err: Error) => err) as Error & { code?: number, stdout?: string, stderr?: string }
  return { code: err.code, stdout: err.stdout ?? '', stderr: err.stderr ?? err.message }
}

test('a second shoal scheduler on a data dir in use stops at once, naming the dir, before it listens', async t => {
  const dataDir = await tempDir(t, 'scheduler')
  const swarmKey = await writeSwarmKey(t)
  await spawnScheduler(t, { dataDir, swarmKey })
  const second = await schedulerExit(['--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', dataDir, '--swarm-key', swarmKey])
  t.is(second.code, 1, second.stderr)
  t.regex(second.stderr, /shoal scheduler: cannot start: \S+\/jobs is in use by another process/)
  t.regex(second.stderr, /--data-dir of its own/)
  t.notRegex(second.stdout, /agents reach it at/, 'it never listened')
})

test('a shoal scheduler whose p2p port is taken exits with an error, and does not hang on its open stores', async t => {
  const swarmKey = await writeSwarmKey(t)
  const first = await spawnScheduler(t, { dataDir: await tempDir(t, 'scheduler'), swarmKey })
  const second = await schedulerExit(['--listen', `/ip4/127.0.0.1/tcp/${first.port}`, '--data-dir', await tempDir(t, 'scheduler'), '--swarm-key', swarmKey])
  t.is(second.code, 1, second.stderr)
  t.regex(second.stderr, new RegExp(`shoal scheduler: cannot start: --listen /ip4/127\\.0\\.0\\.1/tcp/${first.port}: EADDRINUSE`))
})

test('a shoal scheduler whose admin port is taken stops what it started and exits, instead of running without its admin API', async t => {
  const swarmKey = await writeSwarmKey(t)
  const first = await spawnScheduler(t, { dataDir: await tempDir(t, 'scheduler'), swarmKey })
  const dataDir = await tempDir(t, 'scheduler')
  const second = await schedulerExit(['--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', dataDir, '--swarm-key', swarmKey], { admin: new URL(first.admin).host })
  t.is(second.code, 1, second.stderr)
  t.regex(second.stderr, new RegExp(`shoal scheduler: cannot start: --admin ${new URL(first.admin).host.replaceAll('.', '\\.')}: EADDRINUSE`))
  t.notRegex(second.stdout, /admin at/)
  // Its stores were closed: the data dir is free for the next scheduler at once.
  const third = await spawnScheduler(t, { dataDir, swarmKey })
  t.truthy(third.addr)
})
