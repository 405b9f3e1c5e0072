import { readFile } from 'node:fs/promises'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { peerIdText } from '@shoal/proto'
import { MEMBERS_FILE_MAX_PEERS } from '../constants.ts'
import { ConfigError } from '../errors.ts'

/** A Members message of one scheduler, parsed (peer ids as binary multihashes). */
export interface MembersUpdate {
  full: boolean
  added: Uint8Array[]
  removed: Uint8Array[]
}

/**
 * The peers this agent may connect to and serve: the union of what each source (a scheduler by
 * its key, or the members file) says, plus the schedulers themselves (always: an agent must reach
 * a scheduler to be admitted; those found behind `--scheduler dns:` while they are found). A
 * scheduler that goes away keeps its last set: the swarm goes on through the DHT meanwhile. Every
 * change returns the peers no longer allowed, for the caller to hang up on at once.
 */
export class MemberSet {
  readonly #always: Set<string>
  /** Schedulers found at run time (`--scheduler dns:`): allowed like the configured ones while found. */
  #found = new Set<string>()
  readonly #bySource = new Map<string, Set<string>>()

  constructor (always: Iterable<string> = []) {
    this.#always = new Set(always)
  }

  allows (peer: PeerId | string): boolean {
    const id = peer.toString()
    if (this.#always.has(id) || this.#found.has(id)) return true
    for (const set of this.#bySource.values()) if (set.has(id)) return true
    return false
  }

  /** The schedulers found behind `--scheduler dns:` now; returns the peers no longer allowed. */
  setFoundSchedulers (ids: Iterable<string>): string[] {
    const before = [...this.#found]
    this.#found = new Set(ids)
    return before.filter(id => !this.allows(id))
  }

  /** Members a scheduler pushed (the whole set, or a delta); returns the peers no longer allowed. */
  apply (source: string, update: MembersUpdate): string[] {
    const before = this.#snapshot()
    const set = update.full ? new Set<string>() : this.#bySource.get(source) ?? new Set<string>()
    for (const bytes of update.added) set.add(peerIdText(bytes))
    for (const bytes of update.removed) set.delete(peerIdText(bytes))
    this.#bySource.set(source, set)
    return before.filter(id => !this.allows(id))
  }

  /** The whole set of one source (the members file); returns the peers no longer allowed. */
  replace (source: string, ids: Iterable<string>): string[] {
    const before = this.#snapshot()
    this.#bySource.set(source, new Set(ids))
    return before.filter(id => !this.allows(id))
  }

  get size (): number {
    return new Set([...this.#bySource.values()].flatMap(set => [...set])).size
  }

  #snapshot (): string[] {
    return [...new Set([...this.#bySource.values()].flatMap(set => [...set]))]
  }
}

/** `--members FILE`: peer ids, one a line; `#` starts a comment. ConfigError names the line. */
export async function readMembersFile (path: string): Promise<string[]> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new ConfigError(`members: cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
  const ids: string[] = []
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.replace(/#.*/, '').trim()
    if (line === '') continue
    try {
      ids.push(peerIdFromString(line).toString())
    } catch (err) {
      throw new ConfigError(`members: ${path}:${i + 1}: "${line.slice(0, 80)}" is not a peer id (the agent prints its own at start)`, { cause: err })
    }
    if (ids.length > MEMBERS_FILE_MAX_PEERS) throw new ConfigError(`members: ${path} lists more than ${MEMBERS_FILE_MAX_PEERS} peers`)
  }
  return ids
}

/** `--join-token FILE`: one token, no spaces. */
export async function readJoinToken (path: string): Promise<string> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new ConfigError(`joinToken: cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
  const token = text.trim()
  if (token === '' || /\s/.test(token) || token.length > 256) throw new ConfigError(`joinToken: ${path} must hold one token (no spaces, at most 256 characters), as the scheduler operator handed it out`)
  return token
}
