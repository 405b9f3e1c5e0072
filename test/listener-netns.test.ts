import { join } from 'node:path'
import { createInterface } from 'node:readline'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { netnsAvailable, Topology } from '../bench/src/swarm/netns.ts'
import type { Machine } from '../bench/src/swarm/netns.ts'
import { spawnAt } from '../bench/src/swarm/places.ts'
import { issueServerCert, makeCa } from './fixtures/index.ts'
import { SHOAL_CLI, shoalEnv } from './helpers/shoal-process.ts'
import { tempDir } from './helpers/temp.ts'

const READY_TIMEOUT_MS = 20_000
const MIRROR_PORT = 65001

const netns = await netnsAvailable()
const netnsTest = netns.ok ? test.serial : test.serial.skip

/** `shoal agent` in `machine` listening on its own address with `args`: its ready line and stderr once it mirrors. */
async function agentOn (t: ExecutionContext, machine: Machine, args: string[]): Promise<{ ready: string, stderr: string }> {
  const dataDir = await tempDir(t, 'listener-netns')
  const proc = spawnAt(machine, process.execPath, [
    SHOAL_CLI, 'agent', '--listen', `${machine.ip}:${MIRROR_PORT}`, '--data-dir', dataDir, '--upstream', 'http://127.0.0.1:9', '--insecure-registry', '127.0.0.1:9',
    '--docker-config', join(dataDir, 'none.json'), '--certs-dir', join(dataDir, 'certs.d'), '--no-p2p', ...args
  ], { env: shoalEnv({ SHOAL_LOG: 'silent' }), stdout: true })
  t.teardown(async () => { await proc.stop() })
  const stdout = proc.child.stdout
  if (stdout == null) throw new Error('no stdout')
  const timer = setTimeout(() => { stdout.destroy() }, READY_TIMEOUT_MS)
  let ready = ''
  for await (const line of createInterface({ input: stdout })) {
    if (/shoal agent: mirroring/.test(line)) { ready = line; break }
  }
  clearTimeout(timer)
  stdout.resume()
  if (ready === '') throw new Error(`agent ${proc.ended() ?? 'did not start'}: ${proc.stderr()}`)
  return { ready, stderr: proc.stderr() }
}

netnsTest('on a host address: --insecure-listen starts plain HTTP with a warning at start; TLS starts https with none', async t => {
  t.timeout(120_000)
  const topology = await Topology.create()
  t.teardown(async () => { await topology.remove() })
  const [open, secure] = await Promise.all([topology.addMachine({ name: 'open', octet: 10 }), topology.addMachine({ name: 'secure', octet: 20 })])

  const plain = await agentOn(t, open, ['--insecure-listen'])
  t.true(plain.ready.includes(`at http://${open.ip}:${MIRROR_PORT}`), plain.ready)
  t.regex(plain.stderr, /shoal agent: warning: --listen: the mirror listens on .* without TLS \(--insecure-listen\): anyone who reaches the port can pull through it/)

  const caDir = await tempDir(t, 'listener-netns-ca')
  const cert = await issueServerCert(await makeCa(caDir), { ipAddresses: [secure.ip] })
  const tls = await agentOn(t, secure, ['--tls-cert', cert.certFile, '--tls-key', cert.keyFile])
  t.true(tls.ready.includes(`at https://${secure.ip}:${MIRROR_PORT}`), tls.ready)
  t.notRegex(tls.stderr, /warning/)
})
