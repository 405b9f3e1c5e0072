import test from 'ava'
import { parse } from 'smol-toml'
import { containerdConfigPathHint, containerdHostsPath, renderContainerdHosts } from '../../src/configure/containerd.ts'
import { parseMirror, parseRegistry } from '../../src/configure/endpoint.ts'

const mirror = parseMirror('127.0.0.1:65001')
const dockerHub = parseRegistry('docker.io')
const AGENT = 'http://127.0.0.1:65001'

/** The `[host."..."]` keys in file order, as containerd reads them (by line number). */
function hostOrder (toml: string): string[] {
  return [...toml.matchAll(/^\[host\."([^"]+)"\]$/gm)].map(match => match[1] ?? '')
}

test('a fresh hosts.toml for Docker Hub names registry-1.docker.io and the agent with pull and resolve', t => {
  const out = renderContainerdHosts(undefined, { registry: dockerHub, mirror })
  const doc = parse(out)
  t.deepEqual(doc, {
    server: 'https://registry-1.docker.io',
    host: { [AGENT]: { capabilities: ['pull', 'resolve'] } }
  })
  t.deepEqual(hostOrder(out), [AGENT])
})

test('another registry gets https://<host:port> as server and a host:port directory', t => {
  const registry = parseRegistry('registry.local:5000')
  t.is(containerdHostsPath(registry), '/etc/containerd/certs.d/registry.local:5000/hosts.toml')
  t.is(containerdHostsPath(dockerHub), '/etc/containerd/certs.d/docker.io/hosts.toml')
  const doc = parse(renderContainerdHosts(undefined, { registry, mirror }))
  t.is(doc.server, 'https://registry.local:5000')
})

const EXISTING = `# company mirror
server = "https://registry-1.docker.io"
skip_verify = false

[host."https://mirror.example.com"]
  capabilities = ["pull", "resolve"]
  ca = "/etc/ssl/mirror.pem"
  [host."https://mirror.example.com".header]
    x-team = ["infra"]

[host."https://backup.example.com"]
  capabilities = ["pull"]
`

test('merging keeps server, other settings and other hosts, and puts the agent first', t => {
  const out = renderContainerdHosts(EXISTING, { registry: dockerHub, mirror })
  const doc = parse(out)
  const before = parse(EXISTING)
  t.is(doc.server, 'https://registry-1.docker.io')
  t.is(doc.skip_verify, false)
  t.deepEqual(hostOrder(out), [AGENT, 'https://mirror.example.com', 'https://backup.example.com'])
  const hosts = doc.host as Record<string, unknown>
  const hostsBefore = before.host as Record<string, unknown>
  t.deepEqual(hosts['https://mirror.example.com'], hostsBefore['https://mirror.example.com'])
  t.deepEqual(hosts['https://backup.example.com'], hostsBefore['https://backup.example.com'])
  t.deepEqual(hosts[AGENT], { capabilities: ['pull', 'resolve'] })
})

test('a second run returns the content unchanged', t => {
  const once = renderContainerdHosts(EXISTING, { registry: dockerHub, mirror })
  t.is(renderContainerdHosts(once, { registry: dockerHub, mirror }), once)
})

test('an agent entry that is not first is moved first, not duplicated, and keeps its settings', t => {
  const existing = `server = "https://ghcr.io"
[host."https://other.example.com"]
  capabilities = ["pull"]
[host."http://127.0.0.1:65001/"]
  capabilities = ["pull"]
  override_path = false
`
  const out = renderContainerdHosts(existing, { registry: parseRegistry('ghcr.io'), mirror })
  t.deepEqual(hostOrder(out), ['http://127.0.0.1:65001/', 'https://other.example.com'])
  const hosts = parse(out).host as Record<string, unknown>
  t.deepEqual(hosts['http://127.0.0.1:65001/'], { capabilities: ['pull', 'resolve'], override_path: false })
})

test('a hand-written file that already says it all is returned byte for byte, comments included', t => {
  const existing = `# ours\nserver = "https://registry-1.docker.io"\n\n[host."http://127.0.0.1:65001"]\n  capabilities = ["pull", "resolve"] # agent\n`
  t.is(renderContainerdHosts(existing, { registry: dockerHub, mirror }), existing)
})

test('a file without server gets the default one', t => {
  const doc = parse(renderContainerdHosts('[host."https://m.example.com"]\ncapabilities = ["pull"]\n', { registry: dockerHub, mirror }))
  t.is(doc.server, 'https://registry-1.docker.io')
})

test('invalid TOML or a "host" that is not a table is a ConfigureError naming the file', t => {
  const file = '/staging/etc/containerd/certs.d/docker.io/hosts.toml'
  const bad = t.throws(() => renderContainerdHosts('server = ', { registry: dockerHub, mirror, file }))
  t.is(bad?.name, 'ConfigureError')
  t.true(bad?.message.includes(file))
  const notTable = t.throws(() => renderContainerdHosts('host = "x"\n', { registry: dockerHub, mirror, file }))
  t.is(notTable?.name, 'ConfigureError')
})

test('config_path hint: a missing config.toml gets both snippets', t => {
  const text = containerdConfigPathHint(undefined).join('\n')
  t.true(text.includes('does not exist'))
  t.true(text.includes('[plugins."io.containerd.cri.v1.images".registry]'))
  t.true(text.includes('[plugins."io.containerd.grpc.v1.cri".registry]'))
})

test('config_path hint: set for containerd 1.x or 2.x is reported as set', t => {
  const v2 = 'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\nconfig_path = "/etc/containerd/certs.d"\n'
  const v3 = "version = 3\n[plugins.'io.containerd.cri.v1.images'.registry]\nconfig_path = '/etc/containerd/certs.d:/etc/docker/certs.d'\n"
  for (const config of [v2, v3]) {
    const lines = containerdConfigPathHint(config)
    t.is(lines.length, 1)
    t.regex(lines[0] ?? '', /includes \/etc\/containerd\/certs\.d/)
  }
})

test('config_path hint: unset in a version 3 config gets the 2.x snippet only', t => {
  const text = containerdConfigPathHint("version = 3\n[plugins.'io.containerd.cri.v1.images'.registry]\nconfig_path = ''\n").join('\n')
  t.true(text.includes('does not set config_path'))
  t.true(text.includes('io.containerd.cri.v1.images'))
  t.false(text.includes('io.containerd.grpc.v1.cri'))
})

test('config_path hint: another directory and deprecated mirrors are warned about', t => {
  const config = `version = 2
[plugins."io.containerd.grpc.v1.cri".registry]
config_path = "/srv/certs.d"
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
endpoint = ["https://mirror.example.com"]
`
  const lines = containerdConfigPathHint(config)
  t.true(lines.some(line => line.startsWith('warning:') && line.includes('mirrors')))
  t.true(lines.some(line => line.startsWith('warning:') && line.includes('"/srv/certs.d"')))
})

test('a known origin sets server: http:// for a plain-HTTP registry, https:// with skip_verify for an insecure TLS one', t => {
  const registry = parseRegistry('registry.local:5000')
  const plain = parse(renderContainerdHosts(undefined, { registry, mirror, origin: { server: 'http://registry.local:5000', insecure: true } }))
  t.is(plain.server, 'http://registry.local:5000')
  t.false('skip_verify' in plain)
  const unverified = parse(renderContainerdHosts(undefined, { registry, mirror, origin: { server: 'https://registry.local:5000', insecure: true } }))
  t.is(unverified.server, 'https://registry.local:5000')
  t.is(unverified.skip_verify, true)
  const verified = parse(renderContainerdHosts(undefined, { registry, mirror, origin: { server: 'https://registry.local:5000', insecure: false } }))
  t.false('skip_verify' in verified)
})

test('a known origin corrects the https:// server an earlier run wrote for a plain-HTTP registry, and keeps the rest', t => {
  const registry = parseRegistry('registry.local:5000')
  const earlier = renderContainerdHosts(undefined, { registry, mirror })
  t.is(parse(earlier).server, 'https://registry.local:5000')
  const fixed = renderContainerdHosts(`skip_verify = false\n${earlier}`, { registry, mirror, origin: { server: 'https://registry.local:5000', insecure: true } })
  t.deepEqual(parse(fixed), { server: 'https://registry.local:5000', skip_verify: true, host: { [AGENT]: { capabilities: ['pull', 'resolve'] } } })
  const again = renderContainerdHosts(fixed, { registry, mirror, origin: { server: 'https://registry.local:5000', insecure: true } })
  t.is(again, fixed)
  t.is(parse(renderContainerdHosts(earlier, { registry, mirror, origin: { server: 'http://registry.local:5000', insecure: true } })).server, 'http://registry.local:5000')
})
