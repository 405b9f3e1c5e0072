/**
 * The swarm key of a libp2p private network, in the file format go-ipfs/kubo and @libp2p/pnet
 * share:
 *
 * ```
 * /key/swarm/psk/1.0.0/
 * /base16/
 * <64 hex characters: 32 bytes>
 * ```
 *
 * Every agent of a cluster gets the same file; a host without it cannot connect to any of them.
 */
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { SwarmKeyError } from './errors.ts'

const PSK_HEADER = '/key/swarm/psk/1.0.0/'
const BASE16_HEADER = '/base16/'
const KEY_BYTES = 32

/**
 * Checks a swarm key file's text and returns it in canonical form (lowercase hex, no trailing
 * newline): the bytes `preSharedKey({ psk })` of @libp2p/pnet takes. pnet itself ignores the two
 * header lines and reports any fault as "invalid PSK"; this names the file and the fault.
 */
export function parseSwarmKey (content: string | Uint8Array, file: string): Uint8Array {
  const text = typeof content === 'string' ? content : Buffer.from(content).toString('utf8')
  const lines = text.replace(/\s+$/, '').split(/\r?\n/)
  if (lines.length !== 3) {
    throw new SwarmKeyError(`swarm key ${file}: expected 3 lines (${PSK_HEADER}, ${BASE16_HEADER}, the key in hex), found ${lines.length}`)
  }
  const [header, codec, hex] = lines as [string, string, string]
  if (header.trim() !== PSK_HEADER) {
    throw new SwarmKeyError(`swarm key ${file}: first line must be ${PSK_HEADER}, not "${header.slice(0, 40)}"`)
  }
  if (codec.trim() !== BASE16_HEADER) {
    throw new SwarmKeyError(`swarm key ${file}: second line must be ${BASE16_HEADER} (the only encoding supported), not "${codec.slice(0, 40)}"`)
  }
  const key = hex.trim()
  if (!/^[0-9a-fA-F]*$/.test(key)) {
    throw new SwarmKeyError(`swarm key ${file}: third line must be hexadecimal (0-9, a-f)`)
  }
  if (key.length !== KEY_BYTES * 2) {
    throw new SwarmKeyError(`swarm key ${file}: the key must be ${KEY_BYTES * 2} hex characters (${KEY_BYTES} bytes), found ${key.length}`)
  }
  return new TextEncoder().encode(`${PSK_HEADER}\n${BASE16_HEADER}\n${key.toLowerCase()}`)
}

/** The 32 key bytes of a swarm key file that parseSwarmKey accepted. */
export function swarmKeyBytes (file: Uint8Array): Uint8Array {
  const hex = Buffer.from(file).toString('utf8').trim().split(/\r?\n/).at(-1)?.trim() ?? ''
  const key = Buffer.from(hex, 'hex')
  if (key.byteLength !== KEY_BYTES) throw new SwarmKeyError(`a swarm key has ${KEY_BYTES} bytes, this one ${key.byteLength}`)
  return key
}

/** Reads and checks a swarm key file (`--swarm-key FILE`). */
export async function loadSwarmKey (file: string, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
  let content: Buffer
  try {
    content = await readFile(file, { signal: options.signal })
  } catch (err) {
    throw new SwarmKeyError(`swarm key ${file}: cannot read it (${(err as Error).message})`, { cause: err })
  }
  return parseSwarmKey(content, file)
}

/** The text of a new swarm key file, from 32 random bytes (`shoal swarm-key > swarm.key`). */
export function generateSwarmKey (): string {
  return `${PSK_HEADER}\n${BASE16_HEADER}\n${randomBytes(KEY_BYTES).toString('hex')}\n`
}
