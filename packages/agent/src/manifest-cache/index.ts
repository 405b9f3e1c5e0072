import { Level } from 'level'
import type { Digest } from '@shoal/proto'

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

/**
 * Manifests by digest (immutable, byte for byte, with their media type) and tag -> digest answers
 * with a short TTL. Tags are keyed by registry, repository and the client's Accept, because the
 * registry answers a tag with a different manifest depending on the media types a client accepts.
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

  /** The cached answer for a tag, and whether it is still fresh. */
  async getTag (registry: string, name: string, tag: string, accept: string | undefined): Promise<{ manifest: CachedManifest, fresh: boolean } | undefined> {
    const stored = await this.db?.get(tagKey(registry, name, tag, accept)) as StoredTag | undefined
    if (stored == null) return undefined
    const manifest = await this.get(stored.digest)
    return manifest == null ? undefined : { manifest, fresh: this.now() - stored.fetchedAt < this.init.tagTtlMs }
  }

  /** Stores a manifest whose digest the caller verified against its bytes. */
  async put (manifest: CachedManifest, tag?: { registry: string, name: string, tag: string, accept: string | undefined }): Promise<void> {
    const ops: Array<{ type: 'put', key: string, value: StoredManifest | StoredTag }> = [
      { type: 'put', key: `m:${manifest.digest}`, value: { mediaType: manifest.mediaType, body: manifest.body.toString('base64') } }
    ]
    if (tag != null) ops.push({ type: 'put', key: tagKey(tag.registry, tag.name, tag.tag, tag.accept), value: { digest: manifest.digest, fetchedAt: this.now() } })
    await this.db?.batch(ops)
  }
}

/** Media types in Accept, without parameters, sorted: clients list the same set in different orders. */
export function acceptKey (accept: string | undefined): string {
  if (accept == null) return ''
  return [...new Set(accept.split(',').map(s => s.split(';')[0]?.trim().toLowerCase() ?? '').filter(Boolean))].sort().join(',')
}

function tagKey (registry: string, name: string, tag: string, accept: string | undefined): string {
  return `t:${registry}/${name}:${tag}\u0000${acceptKey(accept)}`
}
