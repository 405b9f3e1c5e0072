import { appendFile, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { isDigest } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import type { UpstreamConfig } from '../config/index.ts'
import { ANONYMOUS_BLOBS_FILE, SHARE_CHECK_TIMEOUT_MS } from '../constants.ts'
import { silentLogger } from '../logger.ts'
import type { Logger } from '../logger.ts'
import { publicRepositoryMatcher } from '../public-repositories.ts'
import type { UpstreamClient } from '../upstream/client.ts'

/**
 * `--share-private`: `members` serves every blob held to members; `anonymous` only those the origin
 * serves to anyone; `none` serves no blob to peers at all (the agent only takes from them).
 */
export type SharePrivatePolicy = 'members' | 'anonymous' | 'none'

export interface SharePolicyComponents {
  /** Without one, nothing is known to be served to anyone. */
  upstream?: Pick<UpstreamClient, 'send'>
  logger?: Logger
}

export interface SharePolicyInit {
  policy: SharePrivatePolicy
  dataDir: string
  /** `--public-repository` globs: their blobs count as served to anyone. */
  publicRepositories?: string[]
}

/** What the agent was asked for: the blob and where it lives. */
export interface BlobOrigin {
  registry: UpstreamConfig
  repository: string
  digest: Digest
}

/**
 * Which blobs this agent offers to members (docs/membership.md, private layers). With `members`,
 * all; with `none`, none. With `anonymous`, only blobs the origin serves without credentials: when a blob is first asked
 * for, the origin is sent a HEAD of it with no credentials at all (no token flow either), and a 200
 * is recorded in `anonymous-blobs` in the data dir; a repository listed as public counts too. Any
 * other answer, an error, or no answer yet counts as private: such a blob is refused to peers as
 * not found. A registry that hands out anonymous tokens (Docker Hub) answers 401 to that HEAD: list
 * its public repositories with --public-repository to share them.
 */
export class SharePolicy {
  readonly #upstream: SharePolicyComponents['upstream']
  readonly #log: Logger
  readonly #policy: SharePrivatePolicy
  readonly #file: string
  readonly #isPublic: (registry: string, repository: string) => boolean
  readonly #anonymous = new Set<Digest>()
  /** Checks under way, each resolving with whether the origin serves the blob to anyone. */
  readonly #checking = new Map<Digest, Promise<boolean>>()

  constructor (components: SharePolicyComponents, init: SharePolicyInit) {
    this.#upstream = components.upstream
    this.#log = components.logger ?? silentLogger
    this.#policy = init.policy
    this.#file = join(init.dataDir, ANONYMOUS_BLOBS_FILE)
    this.#isPublic = publicRepositoryMatcher(init.publicRepositories ?? [])
  }

  get policy (): SharePrivatePolicy {
    return this.#policy
  }

  /** Loads what earlier runs recorded. */
  async start (): Promise<void> {
    if (this.#policy !== 'anonymous') return
    let text = ''
    try {
      text = await readFile(this.#file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    for (const line of text.split('\n')) if (isDigest(line)) this.#anonymous.add(line)
  }

  /** Whether peers may have the blob (its piece table, bitfield, pieces and announcements). */
  shareable (digest: Digest): boolean {
    if (this.#policy === 'anonymous') return this.#anonymous.has(digest)
    return this.#policy === 'members'
  }

  /** A blob was asked for: with `anonymous`, find out once whether the origin serves it to anyone. */
  observe (blob: BlobOrigin): void {
    void this.settled(blob)
  }

  /**
   * Whether peers may have the blob, once the policy knows: with `anonymous` the first ask of a
   * blob waits for the anonymous HEAD (at most SHARE_CHECK_TIMEOUT_MS; no answer counts as private).
   * Never rejects.
   */
  async settled (blob: BlobOrigin): Promise<boolean> {
    if (this.#policy !== 'anonymous' || this.#anonymous.has(blob.digest)) return this.shareable(blob.digest)
    let checking = this.#checking.get(blob.digest)
    if (checking == null) {
      checking = this.#check(blob).then(async anonymous => {
        if (!anonymous || this.#anonymous.has(blob.digest)) return anonymous
        await appendFile(this.#file, `${blob.digest}\n`, { mode: 0o600 })
        this.#anonymous.add(blob.digest)
        return true
      }).catch((err: Error) => {
        this.#log.info('whether the origin serves a blob to anyone is unknown: it is kept from peers', { digest: blob.digest, error: `${err.name}: ${err.message}` })
        return false
      }).finally(() => { this.#checking.delete(blob.digest) })
      this.#checking.set(blob.digest, checking)
    }
    return checking
  }

  async #check (blob: BlobOrigin): Promise<boolean> {
    if (this.#isPublic(blob.registry.host, blob.repository)) return true
    if (this.#upstream == null) return false
    const res = await this.#upstream.send({
      registry: blob.registry,
      method: 'HEAD',
      path: `/v2/${blob.repository}/blobs/${blob.digest}`,
      repository: blob.repository,
      useAgentCredentials: false,
      retries: 0,
      signal: AbortSignal.timeout(SHARE_CHECK_TIMEOUT_MS)
    })
    await res.body.dump()
    return res.status === 200
  }
}
