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
