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

/**
 * Pieces of partial blobs that this process wrote and recorded itself: every piece is checked
 * before it is stored (its recorded CID is the hash of the bytes written), so reading one back for
 * a peer needs no second hash. Marked once a commit made the piece durable and indexed; forgotten
 * with the blob (completed, dropped, evicted) or with the process. Like VerifiedBlobs it cannot see
 * bytes that change below the file system while the process runs.
 */
export class WrittenPieces {
  readonly #pieces = new Map<Digest, Set<number>>()

  add (digest: Digest, indexes: number[]): void {
    let set = this.#pieces.get(digest)
    if (set == null) this.#pieces.set(digest, set = new Set())
    for (const index of indexes) set.add(index)
  }

  /**
   * A mark for piece `index` taken before its bytes are read, or undefined when it is not marked:
   * pass it to `holds` after the read. Marks are per blob generation: the blob forgotten in between
   * (and perhaps written again) leaves the old mark invalid.
   */
  mark (digest: Digest, index: number): object | undefined {
    const set = this.#pieces.get(digest)
    return set?.has(index) === true ? set : undefined
  }

  /** Whether a mark taken before a read still holds after it. */
  holds (digest: Digest, mark: object | undefined): boolean {
    return mark != null && this.#pieces.get(digest) === mark
  }

  /** Forgets the blob, or one piece of it; either way marks taken before no longer hold. */
  delete (digest: Digest, index?: number): void {
    const set = this.#pieces.get(digest)
    if (set == null) return
    if (index == null) {
      this.#pieces.delete(digest)
      return
    }
    // A new set, so that a read in flight across the drop (and a rewrite) is not taken as checked.
    const rest = new Set(set)
    rest.delete(index)
    this.#pieces.set(digest, rest)
  }
}
