import { mkdir, open, readdir, rename, rm, stat, statfs } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { Level } from 'level'
import { isDigest, pieceCountFor, pieceSizeFor, pieceSpan } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { DATA_DIR_DIR_MODE } from '../constants.ts'
import { DataDirInUseError, DigestMismatchError } from '../errors.ts'
import { raceSignal } from '../race-signal.ts'
import { storedBytes } from './blob-record.ts'
import type { BlobRecord } from './blob-record.ts'
import { fsyncDir, hashFile, hashFilePieces, hashHandle, readSpan, readSpanWithIdentity } from './file-io.ts'
import { StoreLayout } from './layout.ts'
import { PartialBlob } from './partial-blob.ts'
import { fileIdentity, identityOf, VerifiedBlobs, WrittenPieces } from './verified-blobs.ts'
import type { FileIdentity } from './verified-blobs.ts'

export interface PieceStoreInit {
  dataDir: string
  /** Injected clock, for tests of LRU and age limits. */
  now?: () => number
}

/** A blob (or one recorded piece of a partial blob) whose bytes on disk were found wrong and dropped. */
export interface CorruptEvent {
  digest: Digest
  state: BlobRecord['state']
  /** The piece, when a piece check found it. */
  piece?: number
}

/** A present piece's bytes as read from disk. */
export interface StoredPiece {
  bytes: Uint8Array
  /**
   * Whether this process knows the bytes hash to the recorded CID without hashing them again: they
   * come from a complete blob it hashed right and whose file is unchanged since (VerifiedBlobs), or
   * from a piece of a partial blob it wrote itself (WrittenPieces).
   */
  checked: boolean
}

export interface PieceStoreEvents {
  onCorrupt?: (event: CorruptEvent) => void
}

/**
 * Blobs on disk: complete blobs as files, partial blobs as sparse files filled piece by piece, and
 * a `level` index of what is durable. Knows nothing of the network.
 */
export class PieceStore {
  private readonly layout: StoreLayout
  private readonly now: () => number
  private db?: Level<string, BlobRecord>
  private readonly records = new Map<Digest, BlobRecord>()
  private readonly pins = new Map<Digest, number>()
  private readonly partials = new Map<Digest, PartialBlob>()
  /** Blobs whose access time changed since the index last saw them. */
  private readonly touched = new Set<Digest>()
  /** Complete blobs hashed right by this process, while their files stay as hashed. */
  private readonly verified = new VerifiedBlobs()
  /** Pieces of partial blobs this process wrote and recorded. */
  private readonly written = new WrittenPieces()
  private readonly verifying = new Map<Digest, Promise<boolean>>()
  private readonly events: PieceStoreEvents

  constructor (init: PieceStoreInit, events: PieceStoreEvents = {}) {
    this.layout = new StoreLayout(init.dataDir)
    this.now = init.now ?? Date.now
    this.events = events
  }

  async start (): Promise<void> {
    await mkdir(this.layout.blobs, { recursive: true, mode: DATA_DIR_DIR_MODE })
    await mkdir(this.layout.partial, { recursive: true, mode: DATA_DIR_DIR_MODE })
    // level makes its files with the process's umask; the dir made here keeps other users out.
    await mkdir(this.layout.index, { recursive: true, mode: DATA_DIR_DIR_MODE })
    this.db = new Level<string, BlobRecord>(this.layout.index, { valueEncoding: 'json' })
    await this.db.open().catch((err: Error & { cause?: { code?: string } }) => {
      // level says only "Database failed to open"; its cause tells a lock another process holds.
      if (err.cause?.code !== 'LEVEL_LOCKED') throw err
      throw new DataDirInUseError(`${this.layout.root} is in use by another process (its index is locked): stop the other agent, or give this one a --data-dir of its own`, { cause: err })
    })
    for await (const [key, record] of this.db.iterator()) {
      if (isDigest(key)) this.records.set(key, record)
    }
    await this.recover()
  }

  async stop (): Promise<void> {
    for (const partial of [...this.partials.values()]) await partial.close()
    this.partials.clear()
    await this.flushAccessTimes()
    await this.db?.close()
    this.db = undefined
  }

  get dataDir (): string { return this.layout.root }

  get (digest: Digest): BlobRecord | undefined {
    return this.records.get(digest)
  }

  isComplete (digest: Digest): boolean {
    return this.records.get(digest)?.state === 'complete'
  }

  list (): BlobRecord[] {
    return [...this.records.values()]
  }

  /** Bytes the store holds: complete blobs plus the present pieces of partial ones. */
  usedBytes (): number {
    let total = 0
    for (const record of this.records.values()) total += storedBytes(record)
    return total
  }

  async diskSpace (): Promise<{ totalBytes: number, usedBytes: number }> {
    const fs = await statfs(this.layout.root)
    return { totalBytes: fs.blocks * fs.bsize, usedBytes: (fs.blocks - fs.bfree) * fs.bsize }
  }

  /**
   * Opens (or resumes) the partial file of a blob. One open PartialBlob per digest at a time: it
   * stays in the store's map (and pins the blob) until it is closed, by whoever opened it; a
   * closed one (a failed download) is never handed out again, the next call opens a new one that
   * resumes from the pieces the index records.
   */
  async openPartial (digest: Digest, size: number): Promise<PartialBlob> {
    const open = this.partials.get(digest)
    if (open?.isOpen === true) return open
    let record = this.records.get(digest)
    if (record?.state === 'complete') throw new Error(`blob ${digest} is already complete`)
    if (record == null || record.size !== size) {
      this.written.delete(digest)
      const now = this.now()
      record = { digest, size, pieceSize: pieceSizeFor(size), state: 'partial', pieces: new Array(pieceCountFor(size)).fill(null), createdAt: now, lastAccessAt: now }
      await this.save(record)
    }
    await mkdir(this.layout.partialDir(digest), { recursive: true, mode: DATA_DIR_DIR_MODE })
    const partial = new PartialBlob({
      saveRecord: async r => { await this.save(r) },
      onClose: p => { if (this.partials.get(digest) === p) this.partials.delete(digest) }
    }, record, this.layout.partialFile(digest))
    await partial.open()
    partial.onCommitted(indexes => { if (this.records.get(digest) === partial.record) this.written.add(digest, indexes) })
    this.partials.set(digest, partial)
    return partial
  }

  /** Closes the blob's open partial, if any; its recorded pieces stay for the next openPartial. */
  async closePartial (digest: Digest): Promise<void> {
    await this.partials.get(digest)?.close()
  }

  /**
   * Marks a blob complete. `hashed` is the digest the caller computed over the blob's bytes in
   * order; anything else than the blob's own digest is refused and the partial data is dropped.
   */
  async complete (partial: PartialBlob, hashed: Digest): Promise<void> {
    const digest = partial.digest
    if (hashed !== digest) {
      await this.discard(digest)
      throw new DigestMismatchError(`blob ${digest} hashed to ${hashed}; nothing was kept`)
    }
    // Pinned from the close to the index write: GC must not take the file in between.
    const release = this.pin(digest)
    try {
      await partial.close()
      const target = this.layout.blobFile(digest)
      await mkdir(dirname(target), { recursive: true, mode: DATA_DIR_DIR_MODE })
      // The partial file was made 0600; rename keeps its mode.
      await rename(partial.path, target)
      await fsyncDir(dirname(target))
      const record: BlobRecord = { ...partial.record, state: 'complete', lastAccessAt: this.now() }
      await this.save(record)
      // The download hashed these bytes on their way in; the file is trusted while it stays as it is now.
      this.verified.add(digest, identityOf(await stat(target, { bigint: true })))
      this.written.delete(digest)
    } finally {
      release()
    }
  }

  /** Drops a partial blob's data and record (after a digest mismatch). */
  async discard (digest: Digest): Promise<void> {
    await this.partials.get(digest)?.close()
    await rm(this.layout.partialFile(digest), { force: true })
    this.written.delete(digest)
    this.records.delete(digest)
    await this.db?.del(digest)
  }

  /** Opens a complete blob for reading. */
  async openBlob (digest: Digest): Promise<FileHandle> {
    return open(this.layout.blobFile(digest), 'r')
  }

  /** Whether the blob's file, identified as `file` (fileIdentity), is the one this process last hashed right. */
  isVerified (digest: Digest, file: FileIdentity): boolean {
    return this.verified.has(digest, file)
  }

  /**
   * Whether the blob is complete here with bytes that hash to its digest: true at once when this
   * process verified the file as it is now, else the file is hashed in full (one pass shared by
   * concurrent callers). A blob that does not match is dropped (dropCorrupt) and false returned:
   * the caller fetches it again. `signal` only stops the caller's wait.
   */
  async verify (digest: Digest, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    const record = this.records.get(digest)
    if (record?.state !== 'complete') return false
    let running = this.verifying.get(digest)
    if (running == null) {
      running = this.hashStored(record).finally(() => { this.verifying.delete(digest) })
      this.verifying.set(digest, running)
    }
    return raceSignal(running, options.signal)
  }

  /**
   * Drops what was found wrong on disk: a complete blob leaves the index and its file is unlinked at
   * once, pinned or not (new requests fetch it again; a reader that has the file open keeps
   * reading the bytes it opened and its own check decides); of a partial blob only the piece goes.
   * `record` is the record the bytes were read under: a blob fetched again since then is kept.
   * Returns whether anything was dropped.
   */
  async dropCorrupt (digest: Digest, found: { record: BlobRecord, piece?: number }): Promise<boolean> {
    const record = this.records.get(digest)
    if (record == null || record !== found.record) return false
    if (record.state === 'partial') {
      if (found.piece == null || record.pieces[found.piece] == null) return false
      record.pieces[found.piece] = null
      this.written.delete(digest, found.piece)
      await this.save(record)
    } else {
      this.records.delete(digest)
      this.verified.delete(digest)
      this.touched.delete(digest)
      await this.db?.del(digest)
      await rm(this.layout.blobFile(digest), { force: true })
    }
    this.events.onCorrupt?.({ digest, state: record.state, piece: found.piece })
    return true
  }

  /**
   * The bytes of a present piece: of a complete blob, or a recorded (durable) piece of a partial
   * one; undefined when the store does not hold it. Exactly the piece's span is read, or
   * CorruptPieceError is thrown. The bytes are not hashed here: unless `checked` says this process
   * knows them right already, the caller checks them against the recorded CID before they leave the
   * process. With `into`, the bytes are read into that memory (at least the piece's length) and the
   * result is a view of it.
   */
  async readPiece (digest: Digest, index: number, options: { into?: ArrayBuffer } = {}): Promise<StoredPiece | undefined> {
    const release = this.pin(digest)
    try {
      const record = this.records.get(digest)
      if (record == null || !Number.isInteger(index) || index < 0 || index >= record.pieces.length) return undefined
      const span = pieceSpan(record.size, index)
      if (record.state === 'complete') {
        const read = await readSpanWithIdentity(this.layout.blobFile(digest), span, options.into).catch(undefinedIfMissing)
        return read == null ? undefined : { bytes: read.bytes, checked: this.verified.has(digest, read.identity) }
      }
      if (record.pieces[index] == null) return undefined
      // Taken before the read: a piece marked then was durable before the read began.
      const mark = this.written.mark(digest, index)
      // A partial blob's file is renamed into the blob directory a moment before its record says
      // complete (complete() syncs the directory and writes the index in between): try both paths.
      for (const file of [this.layout.partialFile(digest), this.layout.blobFile(digest)]) {
        const bytes = await readSpan(file, span, options.into).catch(undefinedIfMissing)
        if (bytes != null) return { bytes, checked: this.written.holds(digest, mark) }
      }
      return undefined
    } finally {
      release()
    }
  }

  /** Notes a use of the blob for LRU eviction; written to the index lazily. */
  touch (digest: Digest): void {
    const record = this.records.get(digest)
    if (record == null) return
    record.lastAccessAt = this.now()
    this.touched.add(digest)
  }

  pin (digest: Digest): () => void {
    this.pins.set(digest, (this.pins.get(digest) ?? 0) + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      const n = (this.pins.get(digest) ?? 1) - 1
      if (n <= 0) this.pins.delete(digest)
      else this.pins.set(digest, n)
    }
  }

  isPinned (digest: Digest): boolean {
    return this.pins.has(digest) || this.partials.has(digest)
  }

  /** Deletes a blob that is not pinned. Returns whether it was deleted. */
  async evict (digest: Digest): Promise<boolean> {
    const record = this.records.get(digest)
    if (record == null || this.isPinned(digest)) return false
    this.verified.delete(digest)
    this.written.delete(digest)
    // The index forgets the blob before the file goes, so a crash in between leaves an orphan file
    // (removed at the next start), never a record without its data.
    this.records.delete(digest)
    await this.db?.del(digest)
    await rm(record.state === 'complete' ? this.layout.blobFile(digest) : this.layout.partialFile(digest), { force: true })
    return true
  }

  async flushAccessTimes (): Promise<void> {
    if (this.db == null || this.touched.size === 0) return
    const records = [...this.touched].map(d => this.records.get(d)).filter(r => r != null)
    this.touched.clear()
    await this.db.batch(records.map(r => ({ type: 'put' as const, key: r.digest, value: r })))
  }

  private async hashStored (record: BlobRecord): Promise<boolean> {
    const { digest } = record
    const release = this.pin(digest)
    try {
      const file = await this.openBlob(digest).catch(undefinedIfMissing)
      if (file == null) {
        await this.dropCorrupt(digest, { record })
        return false
      }
      try {
        const identity = await fileIdentity(file)
        if (this.verified.has(digest, identity)) return true
        if (await hashHandle(file, digest) === digest) {
          this.verified.add(digest, identity)
          return true
        }
      } finally {
        await file.close()
      }
      await this.dropCorrupt(digest, { record })
      return false
    } finally {
      release()
    }
  }

  private async save (record: BlobRecord): Promise<void> {
    this.records.set(record.digest, record)
    await this.db?.put(record.digest, record)
  }

  /**
   * A record of a version that cut the blob into other pieces: a complete blob has its pieces
   * hashed again (with the whole blob: a file that no longer hashes right is dropped), a partial
   * one is dropped (its recorded pieces are other spans; it is fetched again when asked for).
   */
  private async recut (record: BlobRecord): Promise<void> {
    const file = this.layout.blobFile(record.digest)
    const size = await stat(file).then(s => s.size, () => -1)
    if (record.state === 'complete' && size === record.size) {
      const hashed = await hashFilePieces(file, record.digest, record.size).catch(() => undefined)
      if (hashed?.digest === record.digest) {
        await this.save({ ...record, pieceSize: pieceSizeFor(record.size), pieces: hashed.pieces })
        this.verified.add(record.digest, identityOf(await stat(file, { bigint: true })))
        return
      }
    }
    this.records.delete(record.digest)
    await this.db?.del(record.digest)
  }

  /**
   * After a crash: a complete record whose file is gone is dropped; a blob file the index does not
   * call complete (a crash between rename and index write) is kept only if it hashes right; files
   * the index does not know are removed.
   */
  private async recover (): Promise<void> {
    for (const record of [...this.records.values()]) {
      if (record.pieceSize !== pieceSizeFor(record.size)) {
        await this.recut(record)
        continue
      }
      const file = record.state === 'complete' ? this.layout.blobFile(record.digest) : this.layout.partialFile(record.digest)
      const size = await stat(file).then(s => s.size, () => -1)
      const blobFile = await stat(this.layout.blobFile(record.digest)).then(s => s.size, () => -1)
      if (record.state === 'partial' && blobFile === record.size && await hashFile(this.layout.blobFile(record.digest), record.digest) === record.digest) {
        await this.save({ ...record, state: 'complete' })
        this.verified.add(record.digest, identityOf(await stat(this.layout.blobFile(record.digest), { bigint: true })))
      } else if (record.state === 'complete' ? size !== record.size : size < 0) {
        this.records.delete(record.digest)
        await this.db?.del(record.digest)
      }
    }
    for (const dir of [this.layout.blobs, this.layout.partial]) {
      for (const algorithm of await readdir(dir).catch(() => [])) {
        for (const hex of await readdir(join(dir, algorithm)).catch(() => [])) {
          const digest = `${algorithm}:${hex}`
          const record = isDigest(digest) ? this.records.get(digest) : undefined
          const wanted = record != null && (dir === this.layout.blobs) === (record.state === 'complete')
          if (!wanted) await rm(join(dir, algorithm, hex), { force: true, recursive: true })
        }
      }
    }
  }
}

/** A file that is not there reads as nothing; any other error is thrown. */
function undefinedIfMissing (err: NodeJS.ErrnoException): undefined {
  if (err.code === 'ENOENT') return undefined
  throw err
}
