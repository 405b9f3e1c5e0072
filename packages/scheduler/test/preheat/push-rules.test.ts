import test from 'ava'
import { parseSchedulerFileConfig } from '../../src/preheat/config.ts'
import { pushEvents } from '../../src/preheat/push-events.ts'
import { matchPushes } from '../../src/preheat/push-rules.ts'

const digest = `sha256:${'ef'.repeat(32)}`
const manifest = 'application/vnd.oci.image.manifest.v1+json'

function envelope (...targets: Array<Record<string, unknown>>): unknown {
  return { events: targets.map(target => ({ id: 'e', action: 'push', target: { mediaType: manifest, digest, repository: 'team/app', url: `http://reg.lan:5000/v2/team/app/manifests/${digest}`, tag: 'v1', ...target }, request: { host: 'reg.lan:5000' } })) }
}

test('the Distribution envelope yields manifest and index pushes only', t => {
  const events = pushEvents({
    events: [
      ...(envelope({}) as { events: unknown[] }).events,
      { action: 'push', target: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, repository: 'team/app' } },
      { action: 'pull', target: { mediaType: manifest, digest, repository: 'team/app', tag: 'v1' } },
      { action: 'push', target: { mediaType: 'application/vnd.oci.image.index.v1+json', digest, repository: 'team/multi', tag: 'v2' }, request: { host: 'reg.lan:5000' } },
      { action: 'push', target: { mediaType: manifest, digest, repository: '../etc', tag: 'v1' }, request: { host: 'reg.lan:5000' } }
    ]
  })
  t.deepEqual(events, [
    { registry: 'reg.lan:5000', repository: 'team/app', tag: 'v1', digest },
    { registry: 'reg.lan:5000', repository: 'team/multi', tag: 'v2', digest }
  ])
  t.throws(() => pushEvents({ something: 'else' }), { name: 'JobRequestError' })
  t.throws(() => pushEvents([]), { name: 'JobRequestError' })
})

test('Harbor\'s untagged push carries the digest as its tag: no tag, no job', t => {
  const events = pushEvents({ type: 'PUSH_ARTIFACT', event_data: { resources: [{ digest, tag: digest, resource_url: `harbor.lan/library/app@${digest}` }], repository: { repo_full_name: 'library/app' } } })
  t.deepEqual(events, [{ registry: 'harbor.lan', repository: 'library/app', tag: undefined, digest }])
  t.deepEqual(matchPushes(events, [{ repository: '*', scope: 'all' }]), [])
})

test('the first matching rule decides; repository globs cross /; one job per image in a body', t => {
  const { webhooks } = parseSchedulerFileConfig({
    webhooks: {
      rules: [
        { repository: 'team/*', tags: 'v*', scope: 'site:edge', replicas: 2, spread: 'blobs' },
        { repository: 'team/*', scope: 'all', registry: 'mirror.lan' }
      ]
    }
  }, 'scheduler.yaml')
  const matched = matchPushes(pushEvents(envelope({}, {}, { tag: 'dev' }, { repository: 'team/a/b', tag: 'v9' }, { repository: 'other/app' })), webhooks.rules)
  t.deepEqual(matched.map(m => [m.rule, m.request.images[0]?.reference, m.request.scope, m.request.replicas, m.request.spread]), [
    [0, `reg.lan:5000/team/app:v1@${digest}`, { kind: 'site', site: 'edge' }, 2, 'blobs'],
    [1, `mirror.lan/team/app:dev@${digest}`, { kind: 'all' }, 1, 'blobs'],
    [0, `reg.lan:5000/team/a/b:v9@${digest}`, { kind: 'site', site: 'edge' }, 2, 'blobs']
  ])
})

test('the config file is checked field by field', t => {
  const refused = (doc: unknown, message: RegExp): void => {
    const err = t.throws(() => parseSchedulerFileConfig(doc, 'f.yaml'), { name: 'SchedulerConfigError' })
    t.regex(err?.message ?? '', message)
  }
  refused({ prehaet: {} }, /unknown key "prehaet"/)
  refused({ preheat: { clusters: { one: 'edge' } } }, /preheat\.clusters: "one"/)
  refused({ preheat: { clusters: { 1: 'bad site!' } } }, /preheat\.clusters\.1/)
  refused({ preheat: { seedReplicas: 0 } }, /preheat\.seedReplicas/)
  refused({ webhooks: { rules: [{ repository: 'Team/*', scope: 'all' }] } }, /rules\[0\]\.repository/)
  refused({ webhooks: { rules: [{ repository: 'team/*', tags: 'v1 2', scope: 'all' }] } }, /rules\[0\]\.tags/)
  refused({ webhooks: { rules: [{ repository: 'team/*', scope: 'site:' }] } }, /rules\[0\]\.scope/)
  refused({ webhooks: { rules: [{ repository: 'team/*', scope: 'all', registry: 'https://x' }] } }, /rules\[0\]\.registry/)
  refused({ webhooks: { rules: [{ repository: 'team/*', scope: 'site:edge', spread: 'halves' }] } }, /rules\[0\]\.spread/)
  t.deepEqual(parseSchedulerFileConfig(null, 'f.yaml').webhooks.rules, [], 'an empty file is no rules')
})
