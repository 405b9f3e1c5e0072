import test from 'ava'
import { deadRegistryHost, startTestAgent } from './helpers/agent.ts'
import { waitFor } from './helpers/http.ts'
import { writeSwarmKey } from './helpers/p2p-cluster.ts'
import { runPrefetchCommand } from './helpers/prefetch-jobs.ts'
import { spawnScheduler } from './helpers/scheduler-process.ts'
import { tempDir } from './helpers/temp.ts'

test('shoal prefetch to a scope with no connected agent says so well before its --timeout, not "not resolved" at the deadline', async t => {
  const swarmKey = await writeSwarmKey(t)
  const scheduler = await spawnScheduler(t, { dataDir: await tempDir(t, 'scheduler'), swarmKey })
  const registry = await deadRegistryHost()
  // An agent of another site is connected: the scheduler has agents, just none of the scope asked for.
  const hq = await startTestAgent({ upstreams: [`http://${registry}`], args: ['--p2p-listen', '/ip4/127.0.0.1/tcp/0', '--swarm-key', swarmKey, '--scheduler', scheduler.addr, '--site', 'hq'] })
  t.teardown(hq.stop)
  await waitFor('the agent registered', () => hq.agent.schedulersConnected === 1)

  const started = Date.now()
  const run = await runPrefetchCommand([`${registry}/lib/app:1`, '--scheduler', scheduler.admin, '--admin-token-file', scheduler.adminTokenFile, '--scope', 'site:nowhere', '--timeout', '20s'], 30_000)
  const seconds = (Date.now() - started) / 1000
  t.is(run.code, 1, run.stderr)
  t.regex(run.stdout + run.stderr, /no agent of scope site:nowhere is connected to this scheduler/)
  t.notRegex(run.stdout + run.stderr, /not resolved/)
  // The scheduler started a moment ago, so agents may still be registering: the job waits at most a
  // quarter of its timeout (5 s) for one, then fails; the command's own start and polls add ~2 s
  // (more on a loaded machine). Before, the reason came only at the 20 s deadline, or after 30 s.
  t.true(seconds < 15, `failed after ${seconds.toFixed(1)} s, well within the 20 s timeout`)
})
