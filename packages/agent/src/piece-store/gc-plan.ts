import type { Digest } from '@shoal/proto'
import { storedBytes } from './blob-record.ts'
import type { BlobRecord } from './blob-record.ts'

export interface GcLimits {
  /** Bytes counted against the capacity right now. */
  usedBytes: number
  capacityBytes: number
  highWatermark: number
  lowWatermark: number
  maxAgeMs: number
  now: number
  /** Blobs being served or downloaded are never evicted. */
  isPinned: (digest: Digest) => boolean
}

/**
 * Which blobs to evict: every unpinned blob unused for longer than the age limit, then, when usage
 * is above the high watermark, least recently used first until it is at or below the low one.
 * Pure: the caller does the deleting.
 */
export function planEviction (records: Iterable<BlobRecord>, limits: GcLimits): BlobRecord[] {
  const candidates = [...records]
    .filter(r => !limits.isPinned(r.digest))
    .sort((a, b) => a.lastAccessAt - b.lastAccessAt)
  const evict: BlobRecord[] = []
  let used = limits.usedBytes
  const over = used > limits.highWatermark * limits.capacityBytes
  const target = limits.lowWatermark * limits.capacityBytes
  for (const record of candidates) {
    const expired = limits.now - record.lastAccessAt > limits.maxAgeMs
    if (expired || (over && used > target)) {
      evict.push(record)
      used -= storedBytes(record)
    }
  }
  return evict
}
