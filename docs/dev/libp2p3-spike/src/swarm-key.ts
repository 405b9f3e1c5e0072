// Swarm key in the go-ipfs/kubo "swarm.key" text format:
//   /key/swarm/psk/1.0.0/\n/base16/\n<64 lowercase hex chars>\n
import { readFile, writeFile } from 'node:fs/promises'
import { generateKey } from '@libp2p/pnet'

export function newSwarmKey (): Uint8Array {
  // generateKey writes exactly 95 bytes (21 + 1 + 8 + 1 + 64), no trailing newline
  const buf = new Uint8Array(95)
  generateKey(buf)
  return buf
}

export async function loadOrCreateSwarmKey (file: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const key = newSwarmKey()
  await writeFile(file, key, { mode: 0o600, flag: 'wx' })
  return key
}
