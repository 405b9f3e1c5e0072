import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { parse, type TomlTable } from 'smol-toml'
import { parseMirror, parseRegistry } from '../../src/configure/endpoint.ts'
import { agentLocation, renderRegistriesConf } from '../../src/configure/podman.ts'

const mirror = parseMirror('127.0.0.1:65001')
const dockerHub = parseRegistry('docker.io')
/** The agent's `[[registry.mirror]]` for one registry: the mirror with the registry as first path component. */
function agentMirror (registry: string): TomlTable {
  return { location: `127.0.0.1:65001/${registry}`, insecure: true }
}

function registry (doc: TomlTable, prefix: string): TomlTable | undefined {
  return (doc.registry as TomlTable[]).find(entry => (entry.prefix ?? entry.location) === prefix)
}

test('a fresh registries.conf mirrors each registry through the agent', t => {
  const doc = parse(renderRegistriesConf(undefined, { registries: [dockerHub, parseRegistry('ghcr.io')], mirror }))
  t.deepEqual(doc, {
    registry: [
      { prefix: 'docker.io', location: 'docker.io', mirror: [agentMirror('docker.io')] },
      { prefix: 'ghcr.io', location: 'ghcr.io', mirror: [agentMirror('ghcr.io')] }
    ]
  })
})

test('a registry with a port is named in the mirror location with "_" for ":"; an IPv6 one is refused', t => {
  const local = parseRegistry('registry.local:5000')
  t.is(agentLocation(mirror, local), '127.0.0.1:65001/registry.local_5000')
  t.is(agentLocation(mirror, parseRegistry('ghcr.io')), '127.0.0.1:65001/ghcr.io')
  t.is(agentLocation(mirror, parseRegistry('localhost')), '127.0.0.1:65001/localhost')
  const doc = parse(renderRegistriesConf(undefined, { registries: [local, dockerHub], mirror }))
  t.deepEqual(doc, {
    registry: [
      { prefix: 'registry.local:5000', location: 'registry.local:5000', mirror: [agentMirror('registry.local_5000')] },
      { prefix: 'docker.io', location: 'docker.io', mirror: [agentMirror('docker.io')] }
    ]
  })
  const err = t.throws(() => renderRegistriesConf(undefined, { registries: [parseRegistry('[fd00::1]:5000')], mirror }), { name: 'ConfigureError' })
  t.regex(err?.message ?? '', /\[fd00::1\]:5000.*IPv6/)
})

test('a bare agent mirror an older version wrote for a registry with a port is replaced by the named one', t => {
  const existing = `[[registry]]
prefix = "registry.local:5000"
location = "registry.local:5000"
[[registry.mirror]]
location = "127.0.0.1:65001"
insecure = true
`
  const doc = parse(renderRegistriesConf(existing, { registries: [parseRegistry('registry.local:5000')], mirror }))
  t.deepEqual(registry(doc, 'registry.local:5000')?.mirror, [agentMirror('registry.local_5000')])
})

const EXISTING = `# site settings
unqualified-search-registries = ["docker.io", "quay.io"]
short-name-mode = "enforcing"

[[registry]]
location = "docker.io"
mirror-by-digest-only = false

[[registry.mirror]]
location = "mirror.gcr.io"

[[registry]]
prefix = "quay.io"
location = "quay.io"
blocked = true

[aliases]
"fedora" = "registry.fedoraproject.org/fedora"
`

test('merging keeps every other setting and puts the agent first among the mirrors', t => {
  const out = renderRegistriesConf(EXISTING, { registries: [dockerHub], mirror })
  const doc = parse(out)
  const before = parse(EXISTING)
  t.deepEqual(doc['unqualified-search-registries'], ['docker.io', 'quay.io'])
  t.is(doc['short-name-mode'], 'enforcing')
  t.deepEqual(doc.aliases, before.aliases)
  t.deepEqual(registry(doc, 'quay.io'), registry(before, 'quay.io'))
  t.deepEqual(registry(doc, 'docker.io'), {
    location: 'docker.io',
    'mirror-by-digest-only': false,
    mirror: [agentMirror('docker.io'), { location: 'mirror.gcr.io' }]
  })
  t.is((doc.registry as TomlTable[]).length, 2)
})

test('a second run returns the content unchanged', t => {
  const once = renderRegistriesConf(EXISTING, { registries: [dockerHub, parseRegistry('ghcr.io')], mirror })
  t.is(renderRegistriesConf(once, { registries: [dockerHub, parseRegistry('ghcr.io')], mirror }), once)
})

test('an agent mirror that is not first is moved first, made insecure and not duplicated', t => {
  const existing = `[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "mirror.gcr.io"
[[registry.mirror]]
location = "127.0.0.1:65001"
pull-from-mirror = "all"
`
  const doc = parse(renderRegistriesConf(existing, { registries: [dockerHub], mirror }))
  t.deepEqual(registry(doc, 'docker.io')?.mirror, [
    { location: '127.0.0.1:65001/docker.io', 'pull-from-mirror': 'all', insecure: true },
    { location: 'mirror.gcr.io' }
  ])
})

test('a version 1 file, invalid TOML and a bad mirror list are ConfigureErrors naming the file', t => {
  const file = '/staging/etc/containers/registries.conf'
  for (const existing of [
    '[registries.search]\nregistries = ["docker.io"]\n',
    'unqualified-search-registries = [',
    '[[registry]]\nlocation = "docker.io"\nmirror = "x"\n'
  ]) {
    const err = t.throws(() => renderRegistriesConf(existing, { registries: [dockerHub], mirror, file }))
    t.is(err?.name, 'ConfigureError')
    t.true(err?.message.includes(file))
  }
})

/** Runs skopeo with the rendered file against a registry that does not exist; returns the mirror's requests. */
async function skopeoThroughMirror (dir: string): Promise<string[]> {
  const seen: string[] = []
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`)
    res.setHeader('docker-distribution-api-version', 'registry/2.0')
    if (req.url === '/v2/') return res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NAME_UNKNOWN","message":"test"}]}')
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  try {
    const port = (server.address() as { port: number }).port
    const conf = join(dir, 'registries.conf')
    await writeFile(conf, renderRegistriesConf(undefined, { registries: [parseRegistry('origin.invalid')], mirror: parseMirror(`127.0.0.1:${port}`) }))
    const child = spawn('skopeo', ['--registries-conf', conf, 'inspect', '--raw', 'docker://origin.invalid/library/alpine:3.20'], { stdio: 'ignore' })
    let spawnError: Error | undefined
    child.on('error', err => { spawnError = err })
    const deadline = Date.now() + 20_000
    while (child.exitCode === null && spawnError === undefined && !seen.some(line => line.includes('/manifests/')) && Date.now() < deadline) {
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    child.kill()
    if (spawnError !== undefined) throw new Error(`cannot run skopeo (${spawnError.message}): run pnpm test:deps`)
    return seen
  } finally {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  }
}

test('skopeo (containers/image) reads the rendered file and asks the agent first, naming the registry in the path', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-podman-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const seen = await skopeoThroughMirror(dir)
  t.true(seen.includes('GET /v2/origin.invalid/library/alpine/manifests/3.20'), `mirror saw: ${seen.join(', ')}`)
})
