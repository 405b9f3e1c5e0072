import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { digestOf } from '@shoal/proto'
import { parseUpstream } from '../../src/config/index.ts'
import { SharePolicy } from '../../src/p2p/share-policy.ts'

const PUBLIC = digestOf(new TextEncoder().encode('public'))
const PRIVATE = digestOf(new TextEncoder().encode('private'))

test('anonymous: only blobs recorded as served to anyone (kept across restarts) or of a public repository; members: all', async t => {
  const dataDir = await mkdtemp(join(tmpdir(), 'shoal-share-'))
  t.teardown(async () => { await rm(dataDir, { recursive: true, force: true }) })
  await writeFile(join(dataDir, 'anonymous-blobs'), `${PUBLIC}\nnot a digest\n`)
  const none = new SharePolicy({}, { policy: 'anonymous', dataDir, publicRepositories: ['registry.example/library/*'] })
  await none.start()
  t.true(none.shareable(PUBLIC))
  t.false(none.shareable(PRIVATE), 'unknown is private')
  const registry = parseUpstream('upstream', 'https://registry.example', [])
  none.observe({ registry, repository: 'team/app', digest: PRIVATE })
  await new Promise(resolve => setTimeout(resolve, 50))
  t.false(none.shareable(PRIVATE), 'no upstream to ask: still private')
  const again = new SharePolicy({}, { policy: 'anonymous', dataDir, publicRepositories: ['registry.example/library/*'] })
  await again.start()
  again.observe({ registry, repository: 'library/alpine', digest: PRIVATE })
  await new Promise(resolve => setTimeout(resolve, 50))
  t.true(again.shareable(PRIVATE), 'a public repository counts as served to anyone, and is recorded')
  const members = new SharePolicy({}, { policy: 'members', dataDir })
  await members.start()
  t.true(members.shareable(PRIVATE))
  const nothing = new SharePolicy({}, { policy: 'none', dataDir })
  await nothing.start()
  t.false(nothing.shareable(PUBLIC), 'none: not even a blob served to anyone')
})

test('settled: waits for the anonymous HEAD of a blob first asked for, asks once for concurrent asks, and never rejects', async t => {
  const dataDir = await mkdtemp(join(tmpdir(), 'shoal-share-'))
  t.teardown(async () => { await rm(dataDir, { recursive: true, force: true }) })
  const registry = parseUpstream('upstream', 'https://registry.example', [])
  const heads: string[] = []
  let answer: (status: number) => void = () => {}
  const upstream = {
    send: async (req: { path: string, useAgentCredentials?: boolean }) => {
      heads.push(req.path)
      t.false(req.useAgentCredentials, 'the HEAD goes without credentials')
      const status = await new Promise<number>(resolve => { answer = resolve })
      return { status, body: { dump: async () => {} } }
    }
  }
  const policy = new SharePolicy({ upstream: upstream as never }, { policy: 'anonymous', dataDir })
  await policy.start()
  const first = policy.settled({ registry, repository: 'team/app', digest: PUBLIC })
  const second = policy.settled({ registry, repository: 'team/app', digest: PUBLIC })
  await new Promise(resolve => setTimeout(resolve, 20))
  t.false(policy.shareable(PUBLIC), 'not known before the origin answers')
  answer(200)
  t.deepEqual(await Promise.all([first, second]), [true, true])
  t.is(heads.length, 1, 'one HEAD for both')
  t.true(await policy.settled({ registry, repository: 'team/app', digest: PUBLIC }), 'kept: no HEAD again')
  t.is(heads.length, 1)
  const refused = policy.settled({ registry, repository: 'team/app', digest: PRIVATE })
  await new Promise(resolve => setTimeout(resolve, 20))
  answer(401)
  t.false(await refused)
  const failing = new SharePolicy({ upstream: { send: async () => { throw new Error('connection refused') } } }, { policy: 'anonymous', dataDir })
  t.false(await failing.settled({ registry, repository: 'team/app', digest: PRIVATE }), 'an error counts as private')
  t.false(await new SharePolicy({}, { policy: 'none', dataDir }).settled({ registry, repository: 'team/app', digest: PUBLIC }))
  t.true(await new SharePolicy({}, { policy: 'members', dataDir }).settled({ registry, repository: 'team/app', digest: PRIVATE }))
})
