import { mkdir } from 'node:fs/promises'
import { Level } from 'level'
import type { Digest } from '@shoal/proto'
import { DATA_DIR_DIR_MODE } from '../constants.ts'
import { acceptKey, admits } from './accept.ts'

export { acceptKey, admits } from './accept.ts'

export interface CachedManifest {
  digest: Digest
  mediaType: string
  body: Buffer
}

interface StoredManifest { mediaType: string, body: string }
interface StoredTag { digest: Digest, fetchedAt: number }

export interface ManifestCacheInit {
  path: string
  tagTtlMs: number
  now?: () => number
}

export interface TagRef { registry: string, name: string, tag: string }

/** What the cache can give for a tag while the origin cannot be asked. */
export type StaleAnswer =
  | { kind: 'manifest', manifest: CachedManifest }
  /** Answers are cached, of these media types, but the client's Accept admits none of them. */
  | { kind: 'not-acceptable', mediaTypes: string[] }

/**
 * Manifests by digest (immutable, byte for byte, with their media type) and the registry's answers
 * for a tag, kept two ways:
 * - by the client's Accept (`t:`), with a short TTL: while the origin is up, a fresh answer is reused
 *   only for the same Accept, because the registry answers a tag differently by Accept;
 * - by the answer's media type (`s:`), the latest of each: while the origin is down, any client whose
 *   Accept admits a cached type gets it (a manifest fetched for containerd serves skopeo too).
 */
export class ManifestCache {
  private readonly init: ManifestCacheInit
  private readonly now: () => number
  private db?: Level<string, StoredManifest | StoredTag>

  constructor (init: ManifestCacheInit) {
    this.init = init
    this.now = init.now ?? Date.now
  }

  async start (): Promise<void> {
    // level makes its files with the process's umask; the dir made here keeps other users out.
    await mkdir(this.init.path, { recursive: true, mode: DATA_DIR_DIR_MODE })
    this.db = new Level(this.init.path, { valueEncoding: 'json' })
    await this.db.open()
  }

  async stop (): Promise<void> {
    await this.db?.close()
    this.db = undefined
  }

  async get (digest: Digest): Promise<CachedManifest | undefined> {
    const stored = await this.db?.get(`m:${digest}`) as StoredManifest | undefined
    return stored == null ? undefined : { digest, mediaType: stored.mediaType, body: Buffer.from(stored.body, 'base64') }
  }

  /** The cached answer for a tag to this very Accept, and whether it is still fresh. */
  async getTag (ref: TagRef, accept: string | undefined): Promise<{ manifest: CachedManifest, fresh: boolean } | undefined> {
    const stored = await this.db?.get(tagKey(ref, accept)) as StoredTag | undefined
    if (stored == null) return undefined
    const manifest = await this.get(stored.digest)
    return manifest == null ? undefined : { manifest, fresh: this.now() - stored.fetchedAt < this.init.tagTtlMs }
  }

  /**
   * For a client while the origin is down: the cached answer for the tag whose media type its Accept
   * admits, a type it names exactly before one matched by a wildcard, then the latest fetched.
   * Undefined when nothing is cached for the tag.
   */
  async getStale (ref: TagRef, accept: string | undefined): Promise<StaleAnswer | undefined> {
    const db = this.db
    if (db == null) return undefined
    const prefix = `${staleKey(ref, '')}`
    const candidates: Array<{ mediaType: string, stored: StoredTag, specificity: number }> = []
    const mediaTypes: string[] = []
    for await (const [key, value] of db.iterator({ gte: prefix, lt: `${prefix}\uffff` })) {
      const mediaType = key.slice(prefix.length)
      mediaTypes.push(mediaType)
      const specificity = admits(accept, mediaType)
      if (specificity !== undefined) candidates.push({ mediaType, stored: value as StoredTag, specificity })
    }
    candidates.sort((a, b) => b.specificity - a.specificity || b.stored.fetchedAt - a.stored.fetchedAt)
    for (const candidate of candidates) {
      const manifest = await this.get(candidate.stored.digest)
      if (manifest != null) return { kind: 'manifest', manifest }
    }
    if (mediaTypes.length > 0) return { kind: 'not-acceptable', mediaTypes }
    // Cached before answers were kept by media type: the answer to this very Accept.
    const exact = await this.getTag(ref, accept)
    return exact == null ? undefined : { kind: 'manifest', manifest: exact.manifest }
  }

  /** Stores a manifest whose digest the caller verified against its bytes. */
  async put (manifest: CachedManifest, tag?: TagRef & { accept: string | undefined }): Promise<void> {
    const ops: Array<{ type: 'put', key: string, value: StoredManifest | StoredTag }> = [
      { type: 'put', key: `m:${manifest.digest}`, value: { mediaType: manifest.mediaType, body: manifest.body.toString('base64') } }
    ]
    if (tag != null) {
      const answer = { digest: manifest.digest, fetchedAt: this.now() }
      ops.push({ type: 'put', key: tagKey(tag, tag.accept), value: answer })
      ops.push({ type: 'put', key: staleKey(tag, manifest.mediaType.toLowerCase()), value: answer })
    }
    await this.db?.batch(ops)
  }
}

function tagKey (ref: TagRef, accept: string | undefined): string {
  return `t:${ref.registry}/${ref.name}:${ref.tag}\u0000${acceptKey(accept)}`
}

function staleKey (ref: TagRef, mediaType: string): string {
  return `s:${ref.registry}/${ref.name}:${ref.tag}\u0000${mediaType}`
}
