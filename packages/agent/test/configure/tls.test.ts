import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test, { type ExecutionContext } from 'ava'
import { parse, type TomlTable } from 'smol-toml'
import { renderContainerdHosts } from '../../src/configure/containerd.ts'
import { renderDaemonJson } from '../../src/configure/docker.ts'
import { parseMirror, parseRegistry } from '../../src/configure/endpoint.ts'
import { configureCommand } from '../../src/configure/index.ts'
import { renderRegistriesConf } from '../../src/configure/podman.ts'

const registry = parseRegistry('ghcr.io')
const plain = parseMirror('10.0.0.5:65001')
const withTls = { ...plain, tls: { caFile: '/etc/shoal/mirror-ca.crt' } }

async function tempDir (t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-configure-tls-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

async function run (args: string[]): Promise<{ code: number, stdout: string[], stderr: string[] }> {
  const stdout: string[] = []
  const stderr: string[] = []
  const code = await configureCommand(args, { stdout: line => stdout.push(line), stderr: line => stderr.push(line) })
  return { code, stdout, stderr }
}

test('containerd: an agent with TLS is [host."https://..."] with ca = the CA file; its plain-HTTP entry goes', t => {
  const before = renderContainerdHosts(undefined, { registry, mirror: plain })
  const after = renderContainerdHosts(before, { registry, mirror: withTls })
  const doc = parse(after)
  t.deepEqual(Object.keys(doc.host as TomlTable), ['https://10.0.0.5:65001'])
  t.deepEqual((doc.host as TomlTable)['https://10.0.0.5:65001'], { capabilities: ['pull', 'resolve'], ca: '/etc/shoal/mirror-ca.crt' })
  // And back: TLS off again drops the https entry with its ca.
  const back = parse(renderContainerdHosts(after, { registry, mirror: plain }))
  t.deepEqual(back.host, { 'http://10.0.0.5:65001': { capabilities: ['pull', 'resolve'] } })
})

test('podman: the agent with TLS is a mirror without insecure = true', t => {
  const before = renderRegistriesConf(undefined, { registries: [registry], mirror: plain })
  const doc = parse(renderRegistriesConf(before, { registries: [registry], mirror: withTls }))
  const [entry] = doc.registry as TomlTable[]
  t.deepEqual(entry?.mirror, [{ location: '10.0.0.5:65001/ghcr.io' }])
})

test('docker: the agent with TLS is https:// in registry-mirrors and not an insecure registry', t => {
  const before = renderDaemonJson(undefined, { mirror: plain })
  t.deepEqual(JSON.parse(before)['insecure-registries'], ['10.0.0.5:65001'])
  const after = JSON.parse(renderDaemonJson(undefined, { mirror: withTls })) as Record<string, unknown>
  t.deepEqual(after['registry-mirrors'], ['https://10.0.0.5:65001'])
  t.is(after['insecure-registries'], undefined)
  t.deepEqual(JSON.parse(renderDaemonJson(renderDaemonJson(undefined, { mirror: plain }), { mirror: withTls }))['registry-mirrors'], ['https://10.0.0.5:65001'])
})

test('shoal configure: --mirror-ca makes containerd point at it, podman and docker get it as certs.d/<mirror>/ca.crt', async t => {
  const root = await tempDir(t)
  const dir = await tempDir(t)
  const caFile = join(dir, 'ca.crt')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'ca.key'), '-out', caFile, '-days', '2', '-subj', '/CN=site CA'], { stdio: 'ignore' })
  const common = ['--mirror', '10.0.0.5:65001', '--mirror-ca', caFile, '--registry', 'ghcr.io', '--root', root]

  t.is((await run(['containerd', ...common])).code, 0)
  const hosts = parse(await readFile(join(root, 'etc/containerd/certs.d/ghcr.io/hosts.toml'), 'utf8'))
  t.deepEqual((hosts.host as TomlTable)['https://10.0.0.5:65001'], { capabilities: ['pull', 'resolve'], ca: caFile })

  t.is((await run(['podman', ...common])).code, 0)
  t.is(await readFile(join(root, 'etc/containers/certs.d/10.0.0.5:65001/ca.crt'), 'utf8'), await readFile(caFile, 'utf8'))
  t.is((await run(['docker', ...common.filter(a => a !== 'ghcr.io' && a !== '--registry')])).code, 0)
  t.is(await readFile(join(root, 'etc/docker/certs.d/10.0.0.5:65001/ca.crt'), 'utf8'), await readFile(caFile, 'utf8'))
  const second = await run(['podman', ...common])
  t.true(second.stdout.every(line => line.startsWith('unchanged')), second.stdout.join('\n'))

  await writeFile(join(dir, 'not.pem'), 'x')
  const bad = await run(['podman', ...common.map(a => a === caFile ? join(dir, 'not.pem') : a)])
  t.is(bad.code, 1)
  t.regex(bad.stderr.join('\n'), /--mirror-ca: .*not\.pem is not a PEM certificate/)
})

test('shoal configure --config: an agent whose YAML has tlsCert is reached over https, without reading its key', async t => {
  const root = await tempDir(t)
  const dir = await tempDir(t)
  const cert = join(dir, 'tls.crt')
  const key = join(dir, 'tls.key')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=mirror'], { stdio: 'ignore' })
  const config = join(dir, 'agent.yaml')
  // The key is the agent's, unreadable here: configure only needs to know that TLS is on.
  await writeFile(config, `listen: 0.0.0.0:65001\ntlsCert: ${cert}\ntlsKey: ${join(dir, 'not-here.key')}\nupstreams: [ghcr.io]\n`)
  t.is((await run(['containerd', '--mirror', 'mirror.site:65001', '--config', config, '--root', root])).code, 0)
  const hosts = parse(await readFile(join(root, 'etc/containerd/certs.d/ghcr.io/hosts.toml'), 'utf8'))
  t.deepEqual(Object.keys(hosts.host as TomlTable), ['https://mirror.site:65001'])
})
