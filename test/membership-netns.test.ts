import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { netnsAvailable, Topology } from '../bench/src/swarm/netns.ts'
import type { Machine } from '../bench/src/swarm/netns.ts'
import { spawnAt } from '../bench/src/swarm/places.ts'
import { agentPeerId } from './helpers/identity.ts'
import { SHOAL_CLI, shoalEnv } from './helpers/shoal-process.ts'
import { tempDir } from './helpers/temp.ts'

const execFileAsync = promisify(execFile)
const DIAL = fileURLToPath(new URL('./helpers/netns-dial.ts', import.meta.url))
const P2P_PORT = 65002
const READY_TIMEOUT_MS = 20_000

const netns = await netnsAvailable()
const netnsTest = netns.ok ? test.serial : test.serial.skip

/** `shoal agent` in `machine` with p2p on its address and `args`; resolves once it prints where peers reach it. */
async function agentAt (t: ExecutionContext, machine: Machine, args: string[]): Promise<void> {
  const dataDir = await tempDir(t, 'netns-agent')
  const proc = spawnAt(machine, process.execPath, [
    SHOAL_CLI, 'agent', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--upstream', 'http://127.0.0.1:9', '--insecure-registry', '127.0.0.1:9',
    '--docker-config', join(dataDir, 'none.json'), '--certs-dir', join(dataDir, 'certs.d'), '--p2p-listen', `/ip4/0.0.0.0/tcp/${P2P_PORT}`, ...args
  ], { env: shoalEnv({ SHOAL_LOG: 'silent' }), stdout: true })
  t.teardown(async () => { await proc.stop() })
  const stdout = proc.child.stdout
  if (stdout == null) throw new Error('no stdout')
  const timer = setTimeout(() => { stdout.destroy() }, READY_TIMEOUT_MS)
  for await (const line of createInterface({ input: stdout })) {
    if (/peers reach this host at/.test(line)) break
  }
  clearTimeout(timer)
  stdout.resume()
  if (proc.ended() != null) throw new Error(`agent ${proc.ended() ?? ''}: ${proc.stderr()}`)
}

/** The dial script in `machine`, with the identity in `dataDir`: did its ping to `addr` get through? */
async function pingFrom (machine: Machine, dataDir: string, addr: string): Promise<{ ok: boolean, error?: string }> {
  const { stdout } = await execFileAsync('ip', ['netns', 'exec', machine.netns, process.execPath, DIAL, dataDir, addr], { timeout: 30_000, env: shoalEnv() })
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { ok: boolean, error?: string }
}

netnsTest('in network namespaces: with no membership an agent refuses a host of another address; listed as a member, that host gets through', async t => {
  t.timeout(120_000)
  const topology = await Topology.create()
  t.teardown(async () => { await topology.remove() })
  const [agentHost, other] = await Promise.all([topology.addMachine({ name: 'agent', octet: 10 }), topology.addMachine({ name: 'other', octet: 20 })])
  const otherDir = await tempDir(t, 'netns-other')
  const otherId = await agentPeerId(otherDir)
  const target = `/ip4/${agentHost.ip}/tcp/${P2P_PORT}`

  await agentAt(t, agentHost, [])
  const refused = await pingFrom(other, otherDir, target)
  t.false(refused.ok, 'no membership: a host on another address is refused')
  t.log(`refused: ${refused.error ?? ''}`)

  // The control: the same host, listed in a member file, gets through (so the refusal above was the gate).
  const listed = await tempDir(t, 'netns-members')
  await writeFile(join(listed, 'members'), `${otherId}\n`)
  const memberHost = await topology.addMachine({ name: 'member', octet: 30 })
  await agentAt(t, memberHost, ['--members', join(listed, 'members')])
  t.deepEqual(await pingFrom(other, otherDir, `/ip4/${memberHost.ip}/tcp/${P2P_PORT}`), { ok: true })
})
