import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { JoinTokens, Membership, MemberStore, peerKeyBytes } from '../../src/index.ts'
import type { PeerKey } from '../../src/index.ts'
import { base58btc, peerKey } from '../helpers.ts'

const TOKEN = 'a-join-token-of-enough-length'
const OTHER = 'another-join-token-long-enough'

async function dir (t: ExecutionContext): Promise<string> {
  const path = await mkdtemp(join(tmpdir(), 'shoal-membership-'))
  t.teardown(async () => { await rm(path, { recursive: true, force: true }) })
  return path
}

/** A Membership on `path`, with a clock the test moves (the token file is rechecked at most every second). */
function membershipOn (t: ExecutionContext, path: string, clock: { now: number }): Membership {
  const membership = new Membership({ tokens: new JoinTokens(join(path, 'join-tokens'), { now: () => clock.now }), store: new MemberStore(join(path, 'members')) })
  t.teardown(async () => { await membership.stop() })
  return membership
}

test('a valid token admits and records a member; no token, a wrong one or a removed peer is refused; all of it survives a restart', async t => {
  const path = await dir(t)
  await writeFile(join(path, 'join-tokens'), `# tokens\n${TOKEN} site-a\n${OTHER}\n`)
  const clock = { now: 0 }
  const membership = membershipOn(t, path, clock)
  await membership.start()
  const changes: Array<{ added: PeerKey[], removed: PeerKey[] }> = []
  membership.on('change', change => changes.push(change))

  await membership.admit(peerKey(1), TOKEN, 'host-1')
  await membership.admit(peerKey(2), OTHER, 'host-2')
  await t.throwsAsync(membership.admit(peerKey(3), undefined, 'host-3'), { name: 'NotAdmittedError', message: /no join token/ })
  await t.throwsAsync(membership.admit(peerKey(3), 'not-a-token-we-handed-out', 'host-3'), { name: 'NotAdmittedError', message: /not \(or no longer\) valid/ })
  t.deepEqual(membership.members().sort(), [peerKey(1), peerKey(2)].sort())
  t.like(membership.list().find(m => m.peer === peerKey(1)), { hostName: 'host-1', token: 'site-a' })
  t.like(membership.list().find(m => m.peer === peerKey(2)), { token: 'line 3' })

  t.like(await membership.remove(peerKey(2)), { peer: peerKey(2) })
  await t.throwsAsync(membership.remove(peerKey(2)), { name: 'UnknownMemberError' })
  await t.throwsAsync(membership.admit(peerKey(2), OTHER, 'host-2'), { name: 'NotAdmittedError', message: /removed/ })
  t.deepEqual(changes, [{ added: [peerKey(1)], removed: [] }, { added: [peerKey(2)], removed: [] }, { added: [], removed: [peerKey(2)] }])
  await membership.stop()

  const again = membershipOn(t, path, clock)
  await again.start()
  t.deepEqual(again.members(), [peerKey(1)])
  await again.admit(peerKey(1), undefined, 'host-1') // a member registers again without its token
  await t.throwsAsync(again.admit(peerKey(2), OTHER, 'host-2'), { name: 'NotAdmittedError', message: /removed/ })
})

test('a token deleted from the file, or the whole file, admits nobody new; members stay', async t => {
  const path = await dir(t)
  const file = join(path, 'join-tokens')
  await writeFile(file, `${TOKEN}\n${OTHER}\n`)
  const clock = { now: 0 }
  const membership = membershipOn(t, path, clock)
  await membership.start()
  await membership.admit(peerKey(1), TOKEN, 'host-1')
  await writeFile(file, `${OTHER}\n`)
  clock.now += 1_000
  await new Promise(resolve => setTimeout(resolve, 20)) // a new modification time
  await writeFile(file, `${OTHER}\n`)
  await t.throwsAsync(membership.admit(peerKey(2), TOKEN, 'host-2'), { name: 'NotAdmittedError' })
  await membership.admit(peerKey(3), OTHER, 'host-3')
  await unlink(file)
  clock.now += 1_000
  await t.throwsAsync(membership.admit(peerKey(4), OTHER, 'host-4'), { name: 'NotAdmittedError' })
  t.deepEqual(membership.members().sort(), [peerKey(1), peerKey(3)].sort())
})

test('a bad token line is a SchedulerConfigError naming the line', async t => {
  const path = await dir(t)
  await writeFile(join(path, 'join-tokens'), `${TOKEN}\nshort\n`)
  await t.throwsAsync(membershipOn(t, path, { now: 0 }).start(), { name: 'SchedulerConfigError', message: /join-tokens:2: a token must be/ })
})

test('peer keys go out in their wire form', t => {
  t.is(base58btc(peerKeyBytes(peerKey(5))), peerKey(5))
})
