import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { peerIdFromString } from '@libp2p/peer-id'
import { MemberSet, readMembersFile } from '../../src/p2p/members.ts'

const A = '12D3KooWEBAyrjmBMVB4jK8gufgbqknrYcCSoqkovSdBz1QZVcSW'
const B = '12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq'
const S = '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK'
const bytes = (id: string): Uint8Array => peerIdFromString(id).toMultihash().bytes

test('the members are the union of the sources plus the schedulers; a change returns whom to hang up on', t => {
  const set = new MemberSet([S])
  t.true(set.allows(S), 'a scheduler always')
  t.false(set.allows(A))
  t.deepEqual(set.apply('s1', { full: true, added: [bytes(A), bytes(B)], removed: [] }), [])
  t.true(set.allows(peerIdFromString(A)))
  t.deepEqual(set.replace('file', [B]), [])
  t.deepEqual(set.apply('s1', { full: false, added: [], removed: [bytes(B)] }), [], 'still listed by the file')
  t.deepEqual(set.apply('s1', { full: false, added: [], removed: [bytes(A)] }), [A])
  t.false(set.allows(A))
  t.deepEqual(set.replace('file', []), [B])
  t.deepEqual(set.apply('s1', { full: true, added: [bytes(A)], removed: [] }), [])
  t.deepEqual(set.apply('s1', { full: true, added: [bytes(B)], removed: [] }), [A], 'a full set replaces the last one')
})

test('schedulers found behind --scheduler dns: are allowed while found; one no longer found is hung up on unless a member', t => {
  const set = new MemberSet([S])
  t.deepEqual(set.setFoundSchedulers([A, B]), [])
  t.true(set.allows(A))
  t.true(set.allows(B))
  t.is(set.size, 0, 'found schedulers are not members pushed to anyone')
  set.apply('s1', { full: true, added: [bytes(B)], removed: [] })
  t.deepEqual(set.setFoundSchedulers([]), [A], 'B stays: a member')
  t.false(set.allows(A))
  t.true(set.allows(B))
  t.true(set.allows(S), 'a configured scheduler is never dropped')
})

test('a members file: peer ids one a line with comments; a bad line is a ConfigError naming it', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-members-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = join(dir, 'members')
  await writeFile(file, `# swarm\n${A}  # host a\n\n${B}\n`)
  t.deepEqual(await readMembersFile(file), [A, B])
  await writeFile(file, `${A}\nnot-a-peer-id\n`)
  await t.throwsAsync(readMembersFile(file), { name: 'ConfigError', message: /members:2: "not-a-peer-id" is not a peer id/ })
})
