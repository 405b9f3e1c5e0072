import { join } from 'node:path'
import { digestAlgorithm, digestHex } from '@shoal/proto'
import type { Digest } from '@shoal/proto'

/** Where things live under the data dir. Digests are parsed, so file names are safe. */
export class StoreLayout {
  readonly root: string
  constructor (root: string) { this.root = root }
  get index (): string { return join(this.root, 'index') }
  get blobs (): string { return join(this.root, 'blobs') }
  get partial (): string { return join(this.root, 'partial') }
  blobDir (digest: Digest): string { return join(this.blobs, digestAlgorithm(digest)) }
  blobFile (digest: Digest): string { return join(this.blobDir(digest), digestHex(digest)) }
  partialDir (digest: Digest): string { return join(this.partial, digestAlgorithm(digest)) }
  partialFile (digest: Digest): string { return join(this.partialDir(digest), digestHex(digest)) }
}
