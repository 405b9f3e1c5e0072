import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { layerFixture, pushImage, startCountingProxy, startRegistry } from './fixtures/index.ts'
import type { CountingProxy, PushedImage } from './fixtures/index.ts'
import { spawnAgentProcess } from './helpers/agent-process.ts'
import type { AgentProcess } from './helpers/agent-process.ts'
import { fetchBody, waitFor } from './helpers/http.ts'
import { scrapeMetrics } from './helpers/metrics.ts'
import { tempDir } from './helpers/temp.ts'

const MiB = 1024 * 1024
/** The slow pull: 3 MiB at 1 MiB/s from its origin, about 3 s. */
const SLOW_LAYER_BYTES = 3 * MiB
const SLOW_ORIGIN_BYTES_PER_S = MiB

interface Origin { proxy: CountingProxy, image: PushedImage, layer: Buffer, digest: string }

/** A Distribution registry with one image of one layer, behind a counting proxy (which can be slowed). */
async function origin (t: ExecutionContext, name: string, seed: number, size: number): Promise<Origin> {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const layer = layerFixture({ size, seed })
  const image = await pushImage(registry, { name, tag: 'v1', format: 'oci', layers: [layer] })
  const proxy = await startCountingProxy(registry)
  t.teardown(proxy.stop)
  return { proxy, image, layer, digest: sha256(layer) }
}

function sha256 (bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}

/** The agent's YAML config: these registries (plain HTTP, so listed as insecure) and any other keys. */
function yaml (origins: Origin[], extra = ''): string {
  const hosts = origins.map(o => `"${o.proxy.host}"`).join(', ')
  return `upstreams: [${origins.map(o => `"${o.proxy.url}"`).join(', ')}]\ninsecureRegistries: [${hosts}]\n${extra}`
}

async function startAgent (t: ExecutionContext, config: string, args: string[] = []): Promise<AgentProcess> {
  // No --upstream flags: they would win over the file, and the file is what a SIGHUP re-reads.
  return await spawnAgentProcess(t, { dataDir: await tempDir(t, 'lifecycle'), upstreams: [], args: ['--config', config, ...args] })
}

/** A blob GET through the agent for `o`'s registry (`?ns=` as containerd sends it). */
async function pullLayer (agent: AgentProcess, o: Origin): Promise<{ status: number, digest: string, error?: Error, at: number }> {
  const res = await fetchBody(`${agent.url}/v2/${o.image.name}/blobs/${o.digest}?ns=${o.proxy.host}`, { signal: AbortSignal.timeout(60_000) })
  return { status: res.status, digest: sha256(res.body), error: res.error, at: Date.now() }
}

async function manifestStatus (agent: AgentProcess, o: Origin): Promise<number> {
  return (await fetchBody(`${agent.url}/v2/${o.image.name}/manifests/v1?ns=${o.proxy.host}`, { headers: { accept: o.image.mediaType } })).status
}

/** Resolves once the agent printed a line matching `pattern` (stdout or stderr). */
async function printed (agent: AgentProcess, pattern: RegExp, timeoutMs = 15_000): Promise<void> {
  await waitFor(`the agent to print ${pattern}`, () => pattern.test(agent.stdout()) || pattern.test(agent.stderr()), { timeoutMs })
}

/** A slow pull under way: some of its bytes have left the origin, most have not. */
async function slowPullUnderWay (agent: AgentProcess, slow: Origin): Promise<{ pull: ReturnType<typeof pullLayer> }> {
  slow.proxy.bytesPerSecond = SLOW_ORIGIN_BYTES_PER_S
  const pull = pullLayer(agent, slow)
  await waitFor('the slow pull under way', () => slow.proxy.egressBytes > 256 * 1024)
  // In an object: an async function returning the promise itself would wait for it.
  return { pull }
}

test('SIGHUP with an added upstream: the new registry is mirrored at once, and a slow pull in flight completes with the right digest', async t => {
  const slow = await origin(t, 'lib/slow', 1, SLOW_LAYER_BYTES)
  const added = await origin(t, 'team/added', 2, 200_000)
  const dir = await tempDir(t, 'lifecycle-config')
  const config = join(dir, 'agent.yaml')
  await writeFile(config, yaml([slow]))
  const agent = await startAgent(t, config)
  t.is(await manifestStatus(agent, added), 404, 'before the reload the second registry is not mirrored')

  const { pull } = await slowPullUnderWay(agent, slow)
  await writeFile(config, yaml([slow, added], 'manifestTtl: 5m\n'))
  process.kill(agent.pid, 'SIGHUP')
  await printed(agent, /SIGHUP: configuration reloaded: upstreams, insecureRegistries changed/)
  const reloadedAt = Date.now()
  // Said on stderr just before the line above on stdout: two pipes, so it may be read after it.
  await t.notThrowsAsync(printed(agent, /SIGHUP: manifestTtl changed but needs a restart/, 5_000), 'what a reload cannot change is said, not ignored')

  t.is(await manifestStatus(agent, added), 200, 'the added registry is mirrored after the reload')
  const fromAdded = await pullLayer(agent, added)
  t.is(fromAdded.status, 200)
  t.is(fromAdded.digest, added.digest)

  const done = await pull
  t.is(done.error, undefined)
  t.is(done.status, 200)
  t.is(done.digest, slow.digest, 'the pull in flight completed with the right bytes')
  t.true(done.at > reloadedAt, 'it was still in flight when the reload took effect')
  t.is(slow.proxy.blobGets(slow.digest), 1, 'one origin request: the pull was not broken and resumed')
})

test('SIGHUP with an invalid file: refused with a line naming the field, the agent keeps serving with the old config; a valid one then changes the GC quota', async t => {
  const first = await origin(t, 'lib/app', 3, 300_000)
  const dir = await tempDir(t, 'lifecycle-config')
  const config = join(dir, 'agent.yaml')
  await writeFile(config, yaml([first], 'storageQuota: 600MiB\n'))
  const agent = await startAgent(t, config)
  const capacity = async (): Promise<number> => (await scrapeMetrics(agent.url)).value('shoal_agent_storage_capacity_bytes')
  await waitFor('the first GC pass', async () => await capacity() === 600 * MiB)

  await writeFile(config, yaml([first], 'storageQuota: 12\n'))
  process.kill(agent.pid, 'SIGHUP')
  await printed(agent, /SIGHUP: new configuration refused, the running one stays: .*agent\.yaml: storageQuota: 12 bytes/)
  const pulled = await pullLayer(agent, first)
  t.is(pulled.status, 200)
  t.is(pulled.digest, first.digest)

  await writeFile(config, `${yaml([first])}listne: 127.0.0.1:1\n`)
  process.kill(agent.pid, 'SIGHUP')
  await printed(agent, /new configuration refused, the running one stays: .*unknown key "listne"/)
  t.is(await manifestStatus(agent, first), 200, 'still serving after a second refusal')
  t.is(agent.child.exitCode, null, 'still running')
  t.is(await capacity(), 600 * MiB, 'the running GC settings stayed')

  await writeFile(config, yaml([first], 'storageQuota: 700MiB\n'))
  process.kill(agent.pid, 'SIGHUP')
  await printed(agent, /SIGHUP: configuration reloaded: storage \(storageQuota, .*\) changed/)
  await waitFor('the new quota in the GC', async () => await capacity() === 700 * MiB)
  t.pass()
})

test('SIGHUP with credentials added to the file: an anonymous client then pulls a private image through the agent\'s own credentials', async t => {
  const bot = { username: 'mirror-bot', password: 'b0t-s3cret' }
  const registry = await startRegistry({ auth: { kind: 'htpasswd', users: [bot] } })
  t.teardown(registry.stop)
  const layer = layerFixture({ size: 100_000, seed: 6 })
  const image = await pushImage(registry, { name: 'team/private', tag: 'v1', format: 'oci', layers: [layer], auth: bot })
  const proxy = await startCountingProxy(registry)
  t.teardown(proxy.stop)
  const o: Origin = { proxy, image, layer, digest: sha256(layer) }
  const dir = await tempDir(t, 'lifecycle-config')
  const config = join(dir, 'agent.yaml')
  await writeFile(config, yaml([o]))
  const agent = await startAgent(t, config)
  t.is((await pullLayer(agent, o)).status, 401, 'without credentials the origin refuses')

  await writeFile(config, yaml([o], `credentials:\n  "${proxy.host}": { username: ${bot.username}, password: ${bot.password} }\n`))
  process.kill(agent.pid, 'SIGHUP')
  await printed(agent, new RegExp(`SIGHUP: configuration reloaded: credentials \\(${proxy.host.replaceAll('.', '\\.')}\\) changed`))
  t.false(agent.stdout().includes(bot.password) || agent.stderr().includes(bot.password), 'the secret is never printed')
  const pulled = await pullLayer(agent, o)
  t.is(pulled.status, 200)
  t.is(pulled.digest, o.digest)
})

test('SIGTERM during a pull: no new connections, the pull finishes within the drain time, then the agent exits 0', async t => {
  const slow = await origin(t, 'lib/slow', 4, SLOW_LAYER_BYTES)
  const dir = await tempDir(t, 'lifecycle-config')
  const config = join(dir, 'agent.yaml')
  await writeFile(config, yaml([slow], 'drainTimeout: 30s\n'))
  const agent = await startAgent(t, config)
  const { pull } = await slowPullUnderWay(agent, slow)

  const termAt = Date.now()
  process.kill(agent.pid, 'SIGTERM')
  await printed(agent, /SIGTERM: draining: 1 requests in flight may take up to 30 s/)
  const refused = await fetchBody(`${agent.url}/healthz`, { signal: AbortSignal.timeout(5_000) })
  t.is(refused.status, 0, 'a new connection is refused while draining')
  const done = await pull
  t.is(done.error, undefined)
  t.is(done.digest, slow.digest)
  t.is(await agent.exited, 0)
  t.regex(agent.stdout(), /drained: every request in flight finished/)
  t.true(Date.now() - termAt < 30_000, 'within the drain time')
})

test('SIGTERM with a pull slower than the drain time: cut off at the drain timeout; a second SIGTERM stops at once', async t => {
  const slow = await origin(t, 'lib/slow', 5, SLOW_LAYER_BYTES)
  const dir = await tempDir(t, 'lifecycle-config')
  const config = join(dir, 'agent.yaml')
  await writeFile(config, yaml([slow]))

  const bounded = await startAgent(t, config, ['--drain-timeout', '1s'])
  slow.proxy.bytesPerSecond = 200 * 1024
  const cut = pullLayer(bounded, slow)
  await waitFor('the pull under way', () => slow.proxy.egressBytes > 64 * 1024)
  const termAt = Date.now()
  process.kill(bounded.pid, 'SIGTERM')
  t.is(await bounded.exited, 0)
  const took = Date.now() - termAt
  t.true(took >= 900 && took < 10_000, `stopped ${took} ms after SIGTERM, at the 1 s drain timeout`)
  t.regex(bounded.stderr(), /drain timeout \(1 s\): 1 requests still in flight are cut off/)
  t.not((await cut).digest, slow.digest, 'the pull did not finish')

  slow.proxy.reset()
  const patient = await startAgent(t, config, ['--drain-timeout', '60s'])
  const pull = pullLayer(patient, slow)
  await waitFor('the pull under way', () => slow.proxy.egressBytes > 64 * 1024)
  process.kill(patient.pid, 'SIGTERM')
  await printed(patient, /SIGTERM: draining/)
  const againAt = Date.now()
  process.kill(patient.pid, 'SIGTERM')
  t.is(await patient.exited, 0)
  t.true(Date.now() - againAt < 5_000, 'the second SIGTERM stopped it at once')
  t.regex(patient.stdout(), /SIGTERM again: stopping at once/)
  t.truthy((await pull).error ?? undefined, 'the pull was cut off')
})
