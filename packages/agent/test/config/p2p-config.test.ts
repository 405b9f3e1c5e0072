import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { resolveAgentConfig } from '../../src/config/index.ts'

const PEER = '/ip4/10.0.0.5/tcp/65002/p2p/12D3KooWEBAyrjmBMVB4jK8gufgbqknrYcCSoqkovSdBz1QZVcSW'

test('p2p is on by default on every interface at port 65002; --no-p2p (or SHOAL_NO_P2P, noP2p) turns it off', async t => {
  const config = await resolveAgentConfig({ argv: [], env: {} })
  t.deepEqual(config.p2p, { listen: ['/ip4/0.0.0.0/tcp/65002'], bootstrap: [], bootstrapDns: [], announce: [], swarmKeyFile: undefined, schedulers: [], schedulerDns: [], site: undefined, zone: undefined, embeddedScheduler: false, membership: { kind: 'loopback' }, sharePrivate: 'members' })
  t.true(config.originFallback)
  t.is((await resolveAgentConfig({ argv: ['--no-p2p'], env: {} })).p2p, undefined)
  t.is((await resolveAgentConfig({ argv: [], env: { SHOAL_NO_P2P: 'true' } })).p2p, undefined)
  const dir = await mkdtemp(join(tmpdir(), 'shoal-config-'))
  await writeFile(join(dir, 'agent.yaml'), 'noP2p: true\n')
  t.is((await resolveAgentConfig({ argv: ['--config', join(dir, 'agent.yaml')], env: {} })).p2p, undefined)
})

test('--no-origin-fallback keeps blob bytes to peers; it needs the peer network', async t => {
  t.false((await resolveAgentConfig({ argv: ['--no-origin-fallback'], env: {} })).originFallback)
  t.false((await resolveAgentConfig({ argv: [], env: { SHOAL_NO_ORIGIN_FALLBACK: '1' } })).originFallback)
  await t.throwsAsync(resolveAgentConfig({ argv: ['--no-p2p', '--no-origin-fallback'], env: {} }), { name: 'ConfigError', message: /noOriginFallback/ })
})

test('p2p flags, environment and YAML keys', async t => {
  const config = await resolveAgentConfig({
    argv: ['--p2p-listen', '/ip4/0.0.0.0/tcp/65002', '--p2p-listen', '/ip6/::/tcp/65002', '--bootstrap', PEER, '--announce', '/ip4/203.0.113.7/tcp/4001', '--swarm-key', 'swarm.key'],
    env: {}
  })
  t.deepEqual(config.p2p?.listen, ['/ip4/0.0.0.0/tcp/65002', '/ip6/::/tcp/65002'])
  t.deepEqual(config.p2p?.bootstrap, [PEER])
  t.deepEqual(config.p2p?.announce, ['/ip4/203.0.113.7/tcp/4001'])
  t.is(config.p2p?.swarmKeyFile, join(process.cwd(), 'swarm.key'))
  const fromEnv = await resolveAgentConfig({ argv: [], env: { SHOAL_P2P_LISTEN: '/ip4/127.0.0.1/tcp/0', SHOAL_BOOTSTRAP: `${PEER}, ${PEER}` } })
  t.deepEqual(fromEnv.p2p?.bootstrap, [PEER, PEER])
  const dir = await mkdtemp(join(tmpdir(), 'shoal-config-'))
  await writeFile(join(dir, 'agent.yaml'), `p2pListen: [/ip4/127.0.0.1/tcp/7002]\nbootstrap: ["${PEER}"]\nswarmKey: /etc/shoal/swarm.key\n`)
  const fromFile = await resolveAgentConfig({ argv: ['--config', join(dir, 'agent.yaml')], env: {} })
  t.deepEqual(fromFile.p2p, { listen: ['/ip4/127.0.0.1/tcp/7002'], bootstrap: [PEER], bootstrapDns: [], announce: [], swarmKeyFile: '/etc/shoal/swarm.key', schedulers: [], schedulerDns: [], site: undefined, zone: undefined, embeddedScheduler: false, membership: { kind: 'loopback' }, sharePrivate: 'members' })
})

test('schedulers, site and zone: flags, environment and YAML; each scheduler names its peer id', async t => {
  const SCHEDULER = PEER.replace('65002', '65003')
  const config = await resolveAgentConfig({ argv: ['--scheduler', SCHEDULER, '--scheduler', PEER, '--site', 'edge-1', '--zone', 'eu-west'], env: {} })
  t.deepEqual(config.p2p?.schedulers, [SCHEDULER, PEER])
  t.is(config.p2p?.site, 'edge-1')
  t.is(config.p2p?.zone, 'eu-west')
  const fromEnv = await resolveAgentConfig({ argv: [], env: { SHOAL_SCHEDULER: SCHEDULER, SHOAL_SITE: 'lab' } })
  t.deepEqual(fromEnv.p2p?.schedulers, [SCHEDULER])
  t.is(fromEnv.p2p?.site, 'lab')
  const dir = await mkdtemp(join(tmpdir(), 'shoal-config-'))
  await writeFile(join(dir, 'agent.yaml'), `schedulers: ["${SCHEDULER}"]\nzone: z1\n`)
  const fromFile = await resolveAgentConfig({ argv: ['--config', join(dir, 'agent.yaml')], env: {} })
  t.deepEqual(fromFile.p2p?.schedulers, [SCHEDULER])
  t.is(fromFile.p2p?.zone, 'z1')
  t.true((await resolveAgentConfig({ argv: ['--embedded-scheduler'], env: {} })).p2p?.embeddedScheduler)
  t.true((await resolveAgentConfig({ argv: [], env: { SHOAL_EMBEDDED_SCHEDULER: 'true' } })).p2p?.embeddedScheduler)
  await t.throwsAsync(resolveAgentConfig({ argv: ['--no-p2p', '--embedded-scheduler'], env: {} }), { name: 'ConfigError', message: /--embedded-scheduler.*--no-p2p/ })
})

test('--bootstrap and --scheduler take dns:NAME[:PORT] too, mixed with multiaddrs; the port defaults to the agent\'s and the scheduler\'s', async t => {
  const SCHEDULER = PEER.replace('65002', '65003')
  const config = await resolveAgentConfig({
    argv: ['--bootstrap', 'dns:Shoal-Agent.shoal.svc.cluster.local.', '--bootstrap', PEER, '--bootstrap', 'dns:localhost:7002',
      '--scheduler', 'dns:shoal-scheduler.shoal.svc.cluster.local', '--scheduler', SCHEDULER, '--scheduler', 'dns:sched:4100'],
    env: {}
  })
  t.deepEqual(config.p2p?.bootstrap, [PEER])
  t.deepEqual(config.p2p?.bootstrapDns, [{ name: 'shoal-agent.shoal.svc.cluster.local', port: 65002 }, { name: 'localhost', port: 7002 }])
  t.deepEqual(config.p2p?.schedulers, [SCHEDULER])
  t.deepEqual(config.p2p?.schedulerDns, [{ name: 'shoal-scheduler.shoal.svc.cluster.local', port: 65003 }, { name: 'sched', port: 4100 }])
  const fromEnv = await resolveAgentConfig({ argv: [], env: { SHOAL_SCHEDULER: 'dns:a.example:1, dns:b.example', SHOAL_BOOTSTRAP: 'dns:peers' } })
  t.deepEqual(fromEnv.p2p?.schedulerDns, [{ name: 'a.example', port: 1 }, { name: 'b.example', port: 65003 }])
  t.deepEqual(fromEnv.p2p?.bootstrapDns, [{ name: 'peers', port: 65002 }])
  const dir = await mkdtemp(join(tmpdir(), 'shoal-config-'))
  await writeFile(join(dir, 'agent.yaml'), 'schedulers: ["dns:shoal-scheduler:65003"]\nbootstrap: [dns:shoal-agent]\n')
  const fromFile = await resolveAgentConfig({ argv: ['--config', join(dir, 'agent.yaml')], env: {} })
  t.deepEqual(fromFile.p2p?.schedulerDns, [{ name: 'shoal-scheduler', port: 65003 }])
  t.deepEqual(fromFile.p2p?.bootstrapDns, [{ name: 'shoal-agent', port: 65002 }])
  // A join token needs a scheduler: a dns: one counts.
  const joined = await resolveAgentConfig({ argv: ['--scheduler', 'dns:shoal-scheduler', '--join-token', '/etc/shoal/join-token'], env: {} })
  t.deepEqual(joined.p2p?.membership, { kind: 'scheduler', joinTokenFile: '/etc/shoal/join-token' })
})

test('--scheduler dns: with a join token and no swarm key is warned about: the token goes to whoever answers', async t => {
  const warned = await resolveAgentConfig({ argv: ['--scheduler', 'dns:shoal-scheduler', '--join-token', 'token'], env: {} })
  t.true(warned.warnings.some(w => /scheduler dns:.*join token.*--swarm-key/.test(w)))
  for (const argv of [['--scheduler', 'dns:shoal-scheduler', '--join-token', 'token', '--swarm-key', 'swarm.key'], ['--scheduler', PEER, '--join-token', 'token'], ['--scheduler', 'dns:shoal-scheduler']]) {
    t.false((await resolveAgentConfig({ argv, env: {} })).warnings.some(w => /scheduler dns:/.test(w)), argv.join(' '))
  }
})

test('a dns: name of one label is warned about: no search domain is added', async t => {
  const config = await resolveAgentConfig({ argv: ['--bootstrap', 'dns:shoal-agent', '--scheduler', 'dns:shoal-scheduler.shoal.svc.cluster.local'], env: {} })
  t.deepEqual(config.warnings.filter(w => /search domain/.test(w)).map(w => w.split(':').slice(0, 2).join(':')), ['dns:shoal-agent'])
})

test('bad dns: targets are ConfigErrors that name the flag', async t => {
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [['--scheduler', 'dns:'], {}, /--scheduler\[0\].*not a host name/],
    [['--scheduler', 'dns:shoal scheduler'], {}, /--scheduler\[0\].*not a host name/],
    [['--bootstrap', 'dns:10.0.0.5:65002'], {}, /--bootstrap\[0\].*not a host name: an IP address is given as a multiaddr/],
    [['--bootstrap', 'dns:[::1]:65002'], {}, /--bootstrap\[0\].*dns:NAME or dns:NAME:PORT.*\/ip6\//],
    [['--bootstrap', 'dns:peers:0'], {}, /--bootstrap\[0\].*port 0 must be 1 to 65535/],
    [['--bootstrap', 'dns:peers:70000'], {}, /--bootstrap\[0\].*port 70000/],
    [['--scheduler', 'dns:sched:http'], {}, /--scheduler\[0\].*dns:NAME or dns:NAME:PORT/],
    [['--scheduler', 'dns:-bad-.example'], {}, /--scheduler\[0\].*not a host name/],
    [['--scheduler', `dns:${'a'.repeat(64)}.example`], {}, /--scheduler\[0\].*not a host name/],
    [['--scheduler', PEER, '--scheduler', 'dns:a..b'], {}, /--scheduler\[1\].*not a host name/],
    [[], { SHOAL_BOOTSTRAP: 'dns:ok, dns:not ok' }, /SHOAL_BOOTSTRAP\[1\]/],
    [['--p2p-listen', 'dns:localhost:7002'], {}, /--p2p-listen\[0\].*not a multiaddr/],
    [['--no-p2p', '--scheduler', 'dns:sched'], {}, /--scheduler\[0\].*--no-p2p/]
  ]
  for (const [argv, env, message] of cases) {
    await t.throwsAsync(resolveAgentConfig({ argv, env }), { name: 'ConfigError', message }, [...argv, JSON.stringify(env)].join(' '))
  }
})

test('invalid p2p values are ConfigErrors that name the field', async t => {
  const listen = ['--p2p-listen', '/ip4/127.0.0.1/tcp/0']
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [['--p2p-listen', 'not-a-multiaddr'], {}, /--p2p-listen\[0\]/],
    [['--p2p-listen', '/ip4/127.0.0.1/udp/4001'], {}, /--p2p-listen\[0\].*TCP/],
    [[...listen, '--bootstrap', '/ip4/10.0.0.5/tcp/65002'], {}, /--bootstrap\[0\].*\/p2p\/.*dns:NAME/],
    [[...listen, '--announce', '/dns4/'], {}, /--announce\[0\]/],
    [['--no-p2p', '--bootstrap', PEER], {}, /--bootstrap\[0\].*--no-p2p turns the peer network off/],
    [['--swarm-key', 'swarm.key'], { SHOAL_NO_P2P: 'yes' }, /--swarm-key.*SHOAL_NO_P2P/],
    [['--no-p2p', ...listen], {}, /--p2p-listen\[0\].*--no-p2p/],
    [[], { SHOAL_P2P_LISTEN: 'x' }, /SHOAL_P2P_LISTEN\[0\]/],
    [['--scheduler', '/ip4/10.0.0.2/tcp/65003'], {}, /--scheduler\[0\].*\/p2p\//],
    [['--site', 'my site'], {}, /--site.*letters, digits/],
    [['--no-p2p', '--scheduler', PEER], {}, /--scheduler\[0\].*--no-p2p/]
  ]
  for (const [argv, env, message] of cases) {
    await t.throwsAsync(resolveAgentConfig({ argv, env }), { name: 'ConfigError', message }, argv.join(' '))
  }
})

test('membership: --join-token with --scheduler, or --members; neither is loopback only; bad combinations name the field', async t => {
  const joined = await resolveAgentConfig({ argv: ['--scheduler', PEER, '--join-token', '/etc/shoal/join-token'], env: {} })
  t.deepEqual(joined.p2p?.membership, { kind: 'scheduler', joinTokenFile: '/etc/shoal/join-token' })
  const listed = await resolveAgentConfig({ argv: [], env: { SHOAL_MEMBERS: '/etc/shoal/members' } })
  t.deepEqual(listed.p2p?.membership, { kind: 'static', membersFile: '/etc/shoal/members' })
  t.is((await resolveAgentConfig({ argv: ['--share-private', 'none'], env: {} })).p2p?.sharePrivate, 'none')
  t.is((await resolveAgentConfig({ argv: ['--share-private', 'anonymous'], env: {} })).p2p?.sharePrivate, 'anonymous')
  const cases: Array<[string[], RegExp]> = [
    [['--join-token', 't'], /--join-token.*--scheduler/],
    [['--scheduler', PEER, '--join-token', 't', '--members', 'm'], /--members.*--join-token/],
    [['--scheduler', PEER, '--join-token', 't', '--embedded-scheduler'], /--join-token.*embedded/],
    [['--no-p2p', '--members', 'm'], /--members.*--no-p2p/],
    [['--share-private', 'everyone'], /--share-private.*members.*anonymous.*none/]
  ]
  for (const [argv, message] of cases) {
    await t.throwsAsync(resolveAgentConfig({ argv, env: {} }), { name: 'ConfigError', message }, argv.join(' '))
  }
})
