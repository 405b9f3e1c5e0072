/**
 * The agent's persistent peer identity: an Ed25519 private key in `<dataDir>/peer.key`, as the
 * libp2p protobuf encoding. The same file gives the same peer id after every restart, so the
 * `/p2p/<peer id>` that other agents bootstrap from stays valid.
 */
import { randomBytes } from 'node:crypto'
import { link, mkdir, open, readFile, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { PeerIdentityError } from './errors.ts'

export const PEER_KEY_FILE = 'peer.key'

/**
 * Loads the identity from the data dir, or creates it on first start. A file that exists but does
 * not decode is an error, never replaced: a new key would silently give the host a new peer id.
 */
export async function loadOrCreatePeerKey (dataDir: string): Promise<PrivateKey> {
  const file = join(dataDir, PEER_KEY_FILE)
  const existing = await readPeerKey(file)
  if (existing != null) return existing
  const key = await generateKeyPair('Ed25519')
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 })
    if (await publishNew(file, privateKeyToProtobuf(key))) return key
  } catch (err) {
    throw new PeerIdentityError(`peer identity ${file}: cannot create it (${(err as Error).message})`, { cause: err })
  }
  // Another process created it first: use that one, so both agree on one peer id.
  const winner = await readPeerKey(file)
  if (winner == null) throw new PeerIdentityError(`peer identity ${file}: vanished while it was being created`)
  return winner
}

/** The key in `file`, or undefined when there is no such file. */
async function readPeerKey (file: string): Promise<PrivateKey | undefined> {
  let bytes: Buffer
  try {
    bytes = await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new PeerIdentityError(`peer identity ${file}: cannot read it (${(err as Error).message})`, { cause: err })
  }
  let key: PrivateKey
  try {
    key = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new PeerIdentityError(`peer identity ${file}: not a libp2p private key (${(err as Error).message}); restore it from a backup, or delete it to give this host a new peer id`, { cause: err })
  }
  if (key.type !== 'Ed25519') {
    throw new PeerIdentityError(`peer identity ${file}: an ${key.type} key, the agent uses Ed25519; delete it to give this host a new peer id`)
  }
  return key
}

/**
 * Writes a temp file (mode 0600), fsyncs it and links it into place, then fsyncs the directory.
 * A link, unlike a rename, fails when the target exists: returns false then, and never replaces
 * an identity another process wrote meanwhile.
 */
async function publishNew (file: string, bytes: Uint8Array): Promise<boolean> {
  const temp = `${file}.shoal-tmp-${process.pid}-${randomBytes(4).toString('hex')}`
  try {
    const handle = await open(temp, 'wx', 0o600)
    try {
      await handle.writeFile(bytes)
      await handle.sync()
    } finally {
      await handle.close()
    }
    try {
      await link(temp, file)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw err
    }
  } finally {
    await rm(temp, { force: true })
  }
  const dir = await open(dirname(file), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
  return true
}
