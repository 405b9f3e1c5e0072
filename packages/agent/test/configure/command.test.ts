import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import test, { type ExecutionContext } from 'ava'
import { parse } from 'smol-toml'
import { configureCommand } from '../../src/configure/index.ts'

const NOW = new Date('2025-03-04T05:06:07.890Z')
const STAMP = '20250304T050607Z'

async function stagingRoot (t: ExecutionContext): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'shoal-configure-'))
  t.teardown(async () => { await rm(root, { recursive: true, force: true }) })
  return root
}

async function run (args: string[]): Promise<{ code: number, stdout: string[], stderr: string[] }> {
  const stdout: string[] = []
  const stderr: string[] = []
  const code = await configureCommand(args, { stdout: line => stdout.push(line), stderr: line => stderr.push(line), now: () => NOW })
  return { code, stdout, stderr }
}

async function put (root: string, path: string, content: string): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true })
  await writeFile(join(root, path), content)
}

/** Every file under `root`, relative, sorted. */
async function tree (root: string): Promise<string[]> {
  return (await readdir(root, { recursive: true, withFileTypes: true }))
    .filter(entry => entry.isFile())
    .map(entry => join(entry.parentPath, entry.name).slice(root.length))
    .sort()
}

test('containerd: one hosts.toml per registry, a backup only of the file that existed, nothing on a second run', async t => {
  const root = await stagingRoot(t)
  const existing = 'server = "https://registry-1.docker.io"\n[host."https://mirror.example.com"]\ncapabilities = ["pull"]\n'
  await put(root, '/etc/containerd/certs.d/docker.io/hosts.toml', existing)
  const first = await run(['containerd', '--root', root, '--registry', 'docker.io', '--registry', 'ghcr.io'])
  t.is(first.code, 0, first.stderr.join('\n'))
  const hub = `${root}/etc/containerd/certs.d/docker.io/hosts.toml`
  t.deepEqual(await tree(root), [
    '/etc/containerd/certs.d/docker.io/hosts.toml',
    `/etc/containerd/certs.d/docker.io/hosts.toml.shoal-backup-${STAMP}`,
    '/etc/containerd/certs.d/ghcr.io/hosts.toml'
  ])
  t.is(await readFile(`${hub}.shoal-backup-${STAMP}`, 'utf8'), existing)
  t.deepEqual(Object.keys(parse(await readFile(hub, 'utf8')).host as object), ['http://127.0.0.1:65001', 'https://mirror.example.com'])
  t.true(first.stdout.includes(`wrote ${hub} (backup: ${hub}.shoal-backup-${STAMP})`))
  t.true(first.stdout.includes(`wrote ${root}/etc/containerd/certs.d/ghcr.io/hosts.toml (new file)`))
  t.true(first.stderr.some(line => line.includes('does not exist') && line.includes('config.toml')))

  const second = await run(['containerd', '--root', root, '--registry', 'docker.io', '--registry', 'ghcr.io'])
  t.is(second.code, 0)
  t.deepEqual(second.stdout, [`unchanged ${hub}`, `unchanged ${root}/etc/containerd/certs.d/ghcr.io/hosts.toml`])
  t.is((await tree(root)).length, 3)
})

test('containerd: reports config_path set in the staged config.toml', async t => {
  const root = await stagingRoot(t)
  await put(root, '/etc/containerd/config.toml', 'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\nconfig_path = "/etc/containerd/certs.d"\n')
  const { code, stderr } = await run(['containerd', '--root', root])
  t.is(code, 0)
  t.true(stderr.some(line => line.includes('includes /etc/containerd/certs.d')))
})

test('podman: merges registries.conf and keeps the previous content as a backup', async t => {
  const root = await stagingRoot(t)
  const existing = 'unqualified-search-registries = ["docker.io"]\n'
  await put(root, '/etc/containers/registries.conf', existing)
  const { code } = await run(['podman', '--root', root])
  t.is(code, 0)
  const path = `${root}/etc/containers/registries.conf`
  const doc = parse(await readFile(path, 'utf8'))
  t.deepEqual(doc['unqualified-search-registries'], ['docker.io'])
  t.deepEqual(doc.registry, [{ prefix: 'docker.io', location: 'docker.io', mirror: [{ location: '127.0.0.1:65001/docker.io', insecure: true }] }])
  t.is(await readFile(`${path}.shoal-backup-${STAMP}`, 'utf8'), existing)
})

test('docker: writes daemon.json, warns about registries dockerd cannot mirror, hints a restart', async t => {
  const root = await stagingRoot(t)
  const { code, stdout, stderr } = await run(['docker', '--root', root, '--registry', 'docker.io', '--registry', 'ghcr.io'])
  t.is(code, 0)
  const path = `${root}/etc/docker/daemon.json`
  t.deepEqual(JSON.parse(await readFile(path, 'utf8')), { 'registry-mirrors': ['http://127.0.0.1:65001'] })
  t.deepEqual(await tree(root), ['/etc/docker/daemon.json'])
  t.deepEqual(stdout, [`wrote ${path} (new file)`])
  t.true(stderr.some(line => line.startsWith('warning:') && line.includes('ghcr.io')))
  t.true(stderr.some(line => line.includes('systemctl restart docker')))
})

test('docker: invalid JSON exits 1 naming the file and writes nothing', async t => {
  const root = await stagingRoot(t)
  await put(root, '/etc/docker/daemon.json', '{"debug": true,}')
  const { code, stderr } = await run(['docker', '--root', root])
  t.is(code, 1)
  t.true(stderr.some(line => line.includes(`${root}/etc/docker/daemon.json`)))
  t.is(await readFile(`${root}/etc/docker/daemon.json`, 'utf8'), '{"debug": true,}')
  t.deepEqual(await tree(root), ['/etc/docker/daemon.json'])
})

test('docker: only other registries exits 1 and writes nothing', async t => {
  const root = await stagingRoot(t)
  const { code } = await run(['docker', '--root', root, '--registry', 'ghcr.io'])
  t.is(code, 1)
  t.deepEqual(await tree(root), [])
})

test('--dry-run prints each file with its path and writes nothing', async t => {
  const root = await stagingRoot(t)
  await put(root, '/etc/containers/registries.conf', '# ours\nunqualified-search-registries = ["docker.io"]\n')
  const before = await tree(root)
  const { code, stdout } = await run(['podman', '--root', root, '--registry', 'quay.io', '--dry-run'])
  t.is(code, 0)
  t.deepEqual(await tree(root), before)
  t.is(await readFile(`${root}/etc/containers/registries.conf`, 'utf8'), '# ours\nunqualified-search-registries = ["docker.io"]\n')
  const header = stdout.findIndex(line => line.startsWith(`--- would write ${root}/etc/containers/registries.conf`))
  t.true(header >= 0)
  t.regex(stdout[header] ?? '', /comments/)
  const body = stdout.slice(header + 1, stdout.indexOf('dry run: nothing was written')).join('\n')
  t.deepEqual(parse(body).registry, [{ prefix: 'quay.io', location: 'quay.io', mirror: [{ location: '127.0.0.1:65001/quay.io', insecure: true }] }])

  const fresh = await run(['docker', '--root', root, '--dry-run'])
  t.true(fresh.stdout.includes(`--- would write ${root}/etc/docker/daemon.json (new file)`))
  t.deepEqual(await tree(root), before)
})

test('bad arguments exit 2 with usage on stderr; --help exits 0', async t => {
  for (const args of [[], ['docker', '--nope'], ['lxd'], ['docker', '--mirror', 'nope']]) {
    const { code, stderr, stdout } = await run(args)
    t.is(code, 2, args.join(' '))
    t.true(stderr[0]?.startsWith('shoal configure: '))
    t.deepEqual(stdout, [])
  }
  const help = await run(['--help'])
  t.is(help.code, 0)
  t.true(help.stdout[0]?.startsWith('Usage: shoal configure'))
})

test('containerd with the agent\'s config file: its upstreams are configured, each with the scheme the agent uses', async t => {
  const root = await stagingRoot(t)
  const agentConfig = join(root, 'agent.yaml')
  await writeFile(agentConfig, 'upstreams: ["docker.io", "registry.local:5000", "https://tls.local:5443"]\ninsecureRegistries: ["registry.local:5000", "tls.local:5443"]\n')
  const { code, stderr } = await run(['containerd', '--root', root, '--config', agentConfig])
  t.is(code, 0, stderr.join('\n'))
  const read = async (registry: string) => parse(await readFile(join(root, `/etc/containerd/certs.d/${registry}/hosts.toml`), 'utf8'))
  t.like(await read('registry.local:5000'), { server: 'http://registry.local:5000' })
  t.false('skip_verify' in await read('registry.local:5000'))
  t.like(await read('tls.local:5443'), { server: 'https://tls.local:5443', skip_verify: true })
  t.like(await read('docker.io'), { server: 'https://registry-1.docker.io' })
  t.deepEqual(await tree(root), ['/agent.yaml', '/etc/containerd/certs.d/docker.io/hosts.toml', '/etc/containerd/certs.d/registry.local:5000/hosts.toml', '/etc/containerd/certs.d/tls.local:5443/hosts.toml'])
})

test('--insecure-registry alone gives http:// and warns that the agent does not mirror the registry', async t => {
  const root = await stagingRoot(t)
  const { code, stderr } = await run(['containerd', '--root', root, '--registry', 'registry.local:5000', '--insecure-registry', 'registry.local:5000'])
  t.is(code, 0)
  const doc = parse(await readFile(join(root, '/etc/containerd/certs.d/registry.local:5000/hosts.toml'), 'utf8'))
  t.is(doc.server, 'http://registry.local:5000')
  t.true(stderr.some(line => line.startsWith('warning: registry.local:5000 is not an upstream of the agent')), stderr.join('\n'))
})

test('podman with the agent\'s settings marks a registry the agent reaches insecurely as insecure', async t => {
  const root = await stagingRoot(t)
  const { code } = await run(['podman', '--root', root, '--upstream', 'registry.local:5000', '--upstream', 'ghcr.io', '--insecure-registry', 'registry.local:5000'])
  t.is(code, 0)
  const doc = parse(await readFile(join(root, '/etc/containers/registries.conf'), 'utf8'))
  t.deepEqual(doc.registry, [
    { prefix: 'registry.local:5000', location: 'registry.local:5000', insecure: true, mirror: [{ location: '127.0.0.1:65001/registry.local_5000', insecure: true }] },
    { prefix: 'ghcr.io', location: 'ghcr.io', mirror: [{ location: '127.0.0.1:65001/ghcr.io', insecure: true }] }
  ])
})

test('agent settings that the agent would refuse are refused, naming the field; an unreadable file exits 1', async t => {
  const root = await stagingRoot(t)
  const plain = await run(['containerd', '--root', root, '--upstream', 'http://registry.local:5000'])
  t.is(plain.code, 2)
  t.regex(plain.stderr.join('\n'), /--upstream.*plain HTTP.*insecureRegistries/)
  const missing = await run(['containerd', '--root', root, '--config', join(root, 'nope.yaml')])
  t.is(missing.code, 1)
  t.regex(missing.stderr.join('\n'), /--config: cannot read/)
  t.deepEqual(await tree(root), [])
})
