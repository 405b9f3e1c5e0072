import test from 'ava'
import { renderDaemonJson } from '../../src/configure/docker.ts'
import { parseMirror } from '../../src/configure/endpoint.ts'

const mirror = parseMirror('127.0.0.1:65001')
const AGENT = 'http://127.0.0.1:65001'

test('a fresh daemon.json has the agent as its only mirror and no insecure entry for a loopback mirror', t => {
  const out = renderDaemonJson(undefined, { mirror })
  t.deepEqual(JSON.parse(out), { 'registry-mirrors': [AGENT] })
  t.true(out.endsWith('\n'))
})

const EXISTING = JSON.stringify({
  'log-driver': 'journald',
  'registry-mirrors': ['https://mirror.example.com'],
  'insecure-registries': ['registry.local:5000'],
  features: { buildkit: true }
}, null, 4)

test('merging keeps every other key and mirror, and puts the agent first', t => {
  const out = JSON.parse(renderDaemonJson(EXISTING, { mirror }))
  t.deepEqual(out, {
    'log-driver': 'journald',
    'registry-mirrors': [AGENT, 'https://mirror.example.com'],
    'insecure-registries': ['registry.local:5000'],
    features: { buildkit: true }
  })
  t.deepEqual(Object.keys(out), ['log-driver', 'registry-mirrors', 'insecure-registries', 'features'])
})

test('a second run returns the content unchanged', t => {
  const once = renderDaemonJson(EXISTING, { mirror })
  t.is(renderDaemonJson(once, { mirror }), once)
})

test('an agent mirror later in the list (with a trailing slash) is moved first, not duplicated', t => {
  const existing = JSON.stringify({ 'registry-mirrors': ['https://mirror.example.com', `${AGENT}/`] })
  t.deepEqual(JSON.parse(renderDaemonJson(existing, { mirror }))['registry-mirrors'], [`${AGENT}/`, 'https://mirror.example.com'])
})

test('a file already in shape is returned byte for byte, whatever its formatting', t => {
  const existing = `{"registry-mirrors":["${AGENT}/"],"debug":true}`
  t.is(renderDaemonJson(existing, { mirror }), existing)
})

test('a mirror outside 127.0.0.0/8 is added to insecure-registries, once', t => {
  for (const address of ['10.1.2.3:65001', '[::1]:65001', 'agent.local:65001']) {
    const remote = parseMirror(address)
    const once = renderDaemonJson(EXISTING, { mirror: remote })
    const out = JSON.parse(once)
    t.deepEqual(out['insecure-registries'], ['registry.local:5000', remote.authority])
    t.is(out['registry-mirrors'][0], `http://${remote.authority}`)
    t.is(renderDaemonJson(once, { mirror: remote }), once)
  }
  const local = JSON.parse(renderDaemonJson(undefined, { mirror: parseMirror('localhost:65001') }))
  t.is(local['insecure-registries'], undefined)
})

test('invalid JSON, a non-object and bad lists are ConfigureErrors naming the file', t => {
  const file = '/staging/etc/docker/daemon.json'
  for (const existing of ['{"registry-mirrors": [', '[]', '{"registry-mirrors": "http://x"}', '{"registry-mirrors": [1]}']) {
    const err = t.throws(() => renderDaemonJson(existing, { mirror, file }))
    t.is(err?.name, 'ConfigureError')
    t.true(err?.message.includes(file), err?.message)
  }
  const insecure = t.throws(() => renderDaemonJson('{"insecure-registries": {}}', { mirror: parseMirror('10.0.0.1:1'), file }))
  t.is(insecure?.name, 'ConfigureError')
})

test('an empty file is treated as {}', t => {
  t.deepEqual(JSON.parse(renderDaemonJson('  \n', { mirror })), { 'registry-mirrors': [AGENT] })
})
