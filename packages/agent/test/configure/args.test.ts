import test from 'ava'
import { parseConfigureArgs } from '../../src/configure/args.ts'
import { parseMirror, parseRegistry } from '../../src/configure/endpoint.ts'

test('defaults: the agent on 127.0.0.1:65001, docker.io, root /', t => {
  const opts = parseConfigureArgs(['containerd'])
  t.not(opts, 'help')
  if (opts === 'help') return
  t.is(opts.runtime, 'containerd')
  t.is(opts.mirror.authority, '127.0.0.1:65001')
  t.deepEqual(opts.registries.map(r => r.authority), ['docker.io'])
  t.is(opts.root, '/')
  t.false(opts.dryRun)
})

test('flags: repeated --registry is deduplicated and Docker Hub aliases become docker.io', t => {
  const opts = parseConfigureArgs(['podman', '--registry', 'index.docker.io', '--registry=GHCR.io', '--registry', 'docker.io', '--mirror', '10.0.0.5:7000', '--root', '/tmp/stage', '--dry-run'])
  if (opts === 'help') return t.fail()
  t.deepEqual(opts.registries.map(r => r.authority), ['docker.io', 'ghcr.io'])
  t.is(opts.mirror.authority, '10.0.0.5:7000')
  t.is(opts.root, '/tmp/stage')
  t.true(opts.dryRun)
})

test('--help wins over everything else', t => {
  t.is(parseConfigureArgs(['--help']), 'help')
  t.is(parseConfigureArgs(['docker', '--help']), 'help')
})

test('bad command lines are UsageErrors', t => {
  for (const args of [[], ['kubelet'], ['docker', 'podman'], ['docker', '--force'], ['docker', '--mirror'], ['docker', '--mirror', 'http://127.0.0.1:65001'], ['docker', '--registry', 'ghcr.io/org']]) {
    const err = t.throws(() => parseConfigureArgs(args), undefined, args.join(' '))
    t.is(err?.name, 'UsageError', args.join(' '))
  }
})

test('mirror addresses: HOST:PORT with a port in range; IPv6 in brackets', t => {
  t.deepEqual(parseMirror('[::1]:65001'), { host: '::1', port: 65001, authority: '[::1]:65001' })
  t.deepEqual(parseMirror('Agent.Local:80'), { host: 'agent.local', port: 80, authority: 'agent.local:80' })
  for (const bad of ['127.0.0.1', '127.0.0.1:0', '127.0.0.1:65536', '::1:65001', 'bad_host:1', '-x.example:1', '']) {
    t.is(t.throws(() => parseMirror(bad))?.name, 'UsageError', bad)
  }
})

test('registries: HOST[:PORT] without scheme or path', t => {
  t.is(parseRegistry('registry.local:5000').authority, 'registry.local:5000')
  t.is(parseRegistry('registry-1.docker.io').authority, 'docker.io')
  t.is(parseRegistry('docker.io:443').authority, 'docker.io:443')
  for (const bad of ['https://ghcr.io', 'ghcr.io/', 'ghcr.io:99999', 'a b']) {
    t.is(t.throws(() => parseRegistry(bad))?.name, 'UsageError', bad)
  }
})

test('agent settings: without --registry the registries are left to the agent\'s upstreams', t => {
  const opts = parseConfigureArgs(['containerd', '--config', '/etc/shoal/agent.yaml', '--insecure-registry', 'r.local:5000', '--upstream', 'ghcr.io'])
  if (opts === 'help') return t.fail()
  t.deepEqual(opts.registries, [])
  t.deepEqual(opts.agent, { configFile: '/etc/shoal/agent.yaml', upstreams: ['ghcr.io'], insecureRegistries: ['r.local:5000'] })
  const named = parseConfigureArgs(['containerd', '--insecure-registry', 'r.local:5000', '--registry', 'r.local:5000'])
  if (named === 'help') return t.fail()
  t.deepEqual(named.registries.map(r => r.authority), ['r.local:5000'])
  t.throws(() => parseConfigureArgs(['containerd', '--config', '']), { name: 'UsageError' })
})
