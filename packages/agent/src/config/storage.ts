import { MIN_STORAGE_QUOTA_BYTES, STORAGE_QUOTA_WARN_BYTES } from '../constants.ts'
import { ConfigError } from '../errors.ts'

/**
 * Checks a storage quota given as `field`: below MIN_STORAGE_QUOTA_BYTES (it cannot hold one piece)
 * it is a ConfigError; below STORAGE_QUOTA_WARN_BYTES it is accepted and the warning to tell the
 * operator at start is returned.
 */
export function checkStorageQuota (field: string, quotaBytes: number): string | undefined {
  if (quotaBytes < MIN_STORAGE_QUOTA_BYTES) {
    throw new ConfigError(`${field}: ${quotaBytes} bytes cannot hold one piece (pieces are at least ${formatSize(MIN_STORAGE_QUOTA_BYTES)}); give a size with a unit, such as 20GiB`)
  }
  if (quotaBytes < STORAGE_QUOTA_WARN_BYTES) {
    return `${field}: ${formatSize(quotaBytes)} holds only a few image layers; the store will evict layers it has just fetched (a unit missing? such as 20GiB)`
  }
  return undefined
}

/** `1.5 MiB`, `512 MiB`, `12 B`: for messages. */
export function formatSize (bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit] ?? 'B'}`
}
