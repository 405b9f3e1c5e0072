import type { BigIntStats } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import type { Digest } from '@shoal/proto'

/** What identifies the bytes of a file without reading them: any write, truncate or replacement changes it. */
export interface FileIdentity {
  dev: bigint
  ino: bigint
  size: bigint
  mtimeNs: bigint
  ctimeNs: bigint
}

export function identityOf (stats: BigIntStats): FileIdentity {
  return { dev: stats.dev, ino: stats.ino, size: stats.size, mtimeNs: stats.mtimeNs, ctimeNs: stats.ctimeNs }
}

/** The identity of an open file; taken before its bytes are read, so a write during the read shows. */
export async function fileIdentity (file: FileHandle): Promise<FileIdentity> {
  return identityOf(await file.stat({ bigint: true }))
}

/**
 * Complete blobs this process hashed in full and found right, each with the identity of the file
 * it hashed. A blob counts as verified only while its file still has that identity: a write to the
 * file (a flipped byte), a new file in its place, or a restart (the set lives in memory) makes it
 * unverified again. What this cannot see is a file whose bytes change below the file system
 * (media rot) while the process runs: that is found at the next start.
 */
export class VerifiedBlobs {
  readonly #files = new Map<Digest, FileIdentity>()

  has (digest: Digest, file: FileIdentity): boolean {
    const known = this.#files.get(digest)
    return known != null && known.dev === file.dev && known.ino === file.ino && known.size === file.size &&
      known.mtimeNs === file.mtimeNs && known.ctimeNs === file.ctimeNs
  }

  add (digest: Digest, file: FileIdentity): void {
    this.#files.set(digest, file)
  }

  delete (digest: Digest): void {
    this.#files.delete(digest)
  }
}
