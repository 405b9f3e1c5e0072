import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { loadOrCreatePeerKey, PEER_KEY_FILE } from '../src/index.ts'

async function tempDir (t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-identity-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

test('the identity is created once (mode 0600) and the same key comes back on the next load', async t => {
  const dataDir = join(await tempDir(t), 'data')
  const first = await loadOrCreatePeerKey(dataDir)
  t.is(first.type, 'Ed25519')
  const info = await stat(join(dataDir, PEER_KEY_FILE))
  t.is(info.mode & 0o777, 0o600)
  const second = await loadOrCreatePeerKey(dataDir)
  t.true(second.equals(first))
  t.true(second.publicKey.equals(first.publicKey))
})

test('two agents starting at once on one data dir agree on one identity', async t => {
  const dataDir = await tempDir(t)
  const keys = await Promise.all([1, 2, 3, 4].map(async () => await loadOrCreatePeerKey(dataDir)))
  for (const key of keys) t.true(key.equals(keys[0]!))
})

test('a corrupt key file is a PeerIdentityError and is left as it was', async t => {
  const dataDir = await tempDir(t)
  const file = join(dataDir, PEER_KEY_FILE)
  await writeFile(file, 'not a key', { mode: 0o600 })
  const err = await t.throwsAsync(loadOrCreatePeerKey(dataDir))
  t.is(err?.name, 'PeerIdentityError')
  t.true(err?.message.includes(file))
  t.is(await readFile(file, 'utf8'), 'not a key')
})
