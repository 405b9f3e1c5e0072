import { createHash } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { JOIN_TOKEN_MIN_LENGTH, JOIN_TOKENS_RECHECK_MS } from '../constants.ts'
import { SchedulerConfigError } from '../errors.ts'

/**
 * The join tokens an operator hands out (`--join-tokens FILE`): one a line, `TOKEN [LABEL]`, `#`
 * starts a comment. The file is read again when it changes (its modification time, checked at most
 * every second), so a token is revoked by deleting its line: no agent can join with it any more
 * (members it admitted stay until removed). Tokens are kept as their sha256, and looked up by the
 * hash of what an agent presents.
 */
export class JoinTokens {
  readonly #path: string
  readonly #now: () => number
  #byHash = new Map<string, string>()
  #mtimeMs = -1
  #checkedAt = -Infinity

  constructor (path: string, init: { now?: () => number } = {}) {
    this.#path = path
    this.#now = init.now ?? Date.now
  }

  get path (): string {
    return this.#path
  }

  /** Reads the file; SchedulerConfigError names the line. */
  async load (): Promise<number> {
    let text: string
    try {
      text = await readFile(this.#path, 'utf8')
    } catch (err) {
      throw new SchedulerConfigError(`--join-tokens: cannot read ${this.#path}: ${(err as Error).message}`, { cause: err })
    }
    const byHash = new Map<string, string>()
    for (const [i, raw] of text.split('\n').entries()) {
      const line = raw.replace(/#.*/, '').trim()
      if (line === '') continue
      const [token = '', ...label] = line.split(/\s+/)
      if (token.length < JOIN_TOKEN_MIN_LENGTH || token.length > 256) {
        throw new SchedulerConfigError(`--join-tokens: ${this.#path}:${i + 1}: a token must be ${JOIN_TOKEN_MIN_LENGTH} to 256 characters (for example: openssl rand -base64 32)`)
      }
      byHash.set(hash(token), label.join(' ') || `line ${i + 1}`)
    }
    this.#byHash = byHash
    return byHash.size
  }

  /**
   * The label of a valid token, or undefined. Re-reads the file first when it changed; a deleted
   * file revokes every token; an unreadable or malformed one throws (the registration is refused).
   */
  async check (token: string | undefined): Promise<string | undefined> {
    if (this.#now() - this.#checkedAt >= JOIN_TOKENS_RECHECK_MS) {
      this.#checkedAt = this.#now()
      let mtimeMs: number
      try {
        mtimeMs = (await stat(this.#path)).mtimeMs
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
        mtimeMs = 0
        this.#byHash = new Map()
      }
      if (mtimeMs !== 0 && mtimeMs !== this.#mtimeMs) await this.load()
      this.#mtimeMs = mtimeMs
    }
    if (token == null || token === '') return undefined
    return this.#byHash.get(hash(token))
  }
}

function hash (token: string): string {
  return createHash('sha256').update(token).digest('hex')
}
