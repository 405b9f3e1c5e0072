import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'
import { request } from 'undici'
import { layerFixture, pushImage, startCountingProxy, startRegistry } from '../fixtures/index.ts'
import type { CountingProxy, Credentials, PushedImage } from '../fixtures/index.ts'
import { startTestAgent } from './agent.ts'
import type { TestAgent, TestAgentOptions } from './agent.ts'
import type { EmbeddedSchedulerFactory, Logger } from '@shoal/agent'

export const LOOPBACK = '/ip4/127.0.0.1/tcp/0'
export const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

export interface Cluster {
  origin: CountingProxy
  image: PushedImage
  layers: Buffer[]
  digests: string[]
  swarmKey: string
}

/** A fresh swarm key file in a temp dir removed at teardown. */
export async function writeSwarmKey (t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-swarm-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = join(dir, 'swarm.key')
  await writeFile(file, `/key/swarm/psk/1.0.0/\n/base16/\n${randomBytes(32).toString('hex')}\n`)
  return file
}

/** A registry behind a counting proxy with one image `lib/p2p:v1` of two multi-piece layers, and a swarm key file. */
export async function setupCluster (t: ExecutionContext, auth?: Credentials): Promise<Cluster> {
  const registry = await startRegistry(auth == null ? {} : { auth: { kind: 'htpasswd', users: [auth] } })
  t.teardown(registry.stop)
  const origin = await startCountingProxy(registry)
  t.teardown(origin.stop)
  const layers = [layerFixture({ size: 6 * 1024 * 1024 + 5, seed: 7 }), layerFixture({ size: 3 * 1024 * 1024 + 11, seed: 8 })]
  const image = await pushImage(registry, { name: 'lib/p2p', tag: 'v1', format: 'oci', layers, auth })
  return { origin, image, layers, digests: image.layers.map(l => l.digest), swarmKey: await writeSwarmKey(t) }
}

export interface StartPeerOptions {
  bootstrap?: TestAgent
  /** The swarm key file; the cluster's when absent, none at all when null. */
  swarmKey?: string | null
  /** More `shoal agent` flags. */
  args?: string[]
  embeddedScheduler?: EmbeddedSchedulerFactory
  /** What resolves `dns:` targets, and how often (startTestAgent). */
  dns?: Pick<TestAgentOptions, 'dnsResolver' | 'dnsResolveIntervalMs'>
  announceQuietMs?: number
  /** Where its log lines go (a test that reads them). */
  logger?: Logger
}

/** A real in-process agent with p2p on loopback, stopped at teardown. */
export async function startPeer (t: ExecutionContext, cluster: Cluster, opts: StartPeerOptions = {}): Promise<TestAgent> {
  const args = opts.args?.includes('--p2p-listen') === true ? [] : ['--p2p-listen', LOOPBACK]
  const swarmKey = opts.swarmKey === undefined ? cluster.swarmKey : opts.swarmKey
  if (swarmKey != null) args.push('--swarm-key', swarmKey)
  if (opts.bootstrap != null) args.push('--bootstrap', opts.bootstrap.agent.p2pAddresses[0] ?? '')
  args.push(...opts.args ?? [])
  const agent = await startTestAgent({ upstreams: [cluster.origin.url], args, embeddedScheduler: opts.embeddedScheduler, logger: opts.logger, announceQuietMs: opts.announceQuietMs, ...opts.dns })
  t.teardown(agent.stop)
  return agent
}

export async function pullBlob (agent: Pick<TestAgent, 'url'>, digest: string, headers: Record<string, string> = {}): Promise<Buffer> {
  const res = await request(`${agent.url}/v2/lib/p2p/blobs/${digest}`, { headers })
  if (res.statusCode !== 200) throw new Error(`GET ${digest} from ${agent.url}: ${res.statusCode}`)
  return Buffer.from(await res.body.arrayBuffer())
}
