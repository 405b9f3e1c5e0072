import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent, createLogger, parseLogLevel, resolveAgentConfig } from '@shoal/agent'
import type { DnsResolver, EmbeddedSchedulerFactory, Logger } from '@shoal/agent'
import { freePort } from '../fixtures/index.ts'

/**
 * Agents in tests log nothing unless asked: `SHOAL_TEST_LOG=info pnpm exec ava FILE` writes their
 * JSON lines to stderr (the same levels as SHOAL_LOG).
 */
export function testLogger (): Logger | undefined {
  const level = process.env.SHOAL_TEST_LOG
  return level == null || level === '' ? undefined : createLogger('shoal:agent', { level: parseLogLevel(level) })
}

export interface TestAgentOptions {
  /** Upstream URLs; hosts of http:// URLs are listed as insecure. */
  upstreams: string[]
  dataDir?: string
  /** Extra `shoal agent` flags. */
  args?: string[]
  env?: NodeJS.ProcessEnv
  /** What `shoal` composes for `--embedded-scheduler`. */
  embeddedScheduler?: EmbeddedSchedulerFactory
  /** Where the agent's log lines go (a test that reads them); default: testLogger(). */
  logger?: Logger
  /** What resolves `dns:` targets (a Resolver pointed at the test's DNS server), and how often. */
  dnsResolver?: DnsResolver
  dnsResolveIntervalMs?: number
  /** How long after the last whole blob its scheduler directed the agent tells the DHT (default 30 s). */
  announceQuietMs?: number
}

export interface TestAgent {
  agent: Agent
  url: string
  /** host:port of the mirror, as a registries.conf mirror location. */
  host: string
  dataDir: string
  stop: () => Promise<void>
}

/**
 * `shoal agent` flags for a test: a free loopback port, the given data dir, nothing from this
 * machine's docker config or CA directory, and the hosts of http:// upstreams listed as insecure.
 * The peer network is off unless `extra` gives a `--p2p-listen` (its default port is one per host).
 */
export function testAgentArgs (dataDir: string, upstreams: string[], extra: string[] = []): string[] {
  const insecure = upstreams.filter(u => u.startsWith('http://')).flatMap(u => ['--insecure-registry', new URL(u).host])
  return [
    '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--docker-config', join(dataDir, 'no-docker-config.json'),
    '--certs-dir', join(dataDir, 'certs.d'), ...insecure, ...upstreams.flatMap(u => ['--upstream', u]),
    ...(extra.includes('--p2p-listen') ? [] : ['--no-p2p']), ...extra
  ]
}

/** A real agent in this process, on a free loopback port and a temp data dir of its own. */
export async function startTestAgent (opts: TestAgentOptions): Promise<TestAgent> {
  const ownDir = opts.dataDir == null
  const dataDir = opts.dataDir ?? await mkdtemp(join(tmpdir(), 'shoal-agent-'))
  const config = await resolveAgentConfig({ argv: testAgentArgs(dataDir, opts.upstreams, opts.args), env: opts.env ?? {} })
  const agent = new Agent({ config, logger: opts.logger ?? testLogger(), embeddedScheduler: opts.embeddedScheduler, dnsResolver: opts.dnsResolver, dnsResolveIntervalMs: opts.dnsResolveIntervalMs, announceQuietMs: opts.announceQuietMs })
  await agent.start()
  const url = agent.url
  return {
    agent,
    url,
    host: new URL(url).host,
    dataDir,
    stop: async () => {
      await agent.stop()
      if (ownDir) await rm(dataDir, { recursive: true, force: true })
    }
  }
}

/**
 * A loopback address and port with nothing listening: an image "hosted" there can only be pulled
 * through a mirror. Not 127.0.0.1, where every test's servers bind: a port found free there can be
 * taken by another test file a moment later (once, a registry answered "manifest unknown" in place
 * of the connection refused a test expected); nothing in the tests binds 127.255.255.254.
 */
export const DEAD_HOST_ADDRESS = '127.255.255.254'
export async function deadRegistryHost (): Promise<string> {
  return `${DEAD_HOST_ADDRESS}:${await freePort()}`
}
