/** Numbers as people read them: sizes in binary units, rates, elapsed time. */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

export function formatBytes (bytes: number): string {
  let value = Math.max(0, bytes)
  let unit = 0
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit] ?? ''}`
}

export function formatRate (bytesPerSecond: number): string {
  return `${formatBytes(Math.round(bytesPerSecond))}/s`
}

/** `0:07`, `12:30`, `1:02:03`. */
export function formatElapsed (ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000))
  const s = total % 60
  const m = Math.floor(total / 60) % 60
  const h = Math.floor(total / 3600)
  const pad = (n: number): string => String(n).padStart(2, '0')
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`
}

export function percent (done: number, total: number): string {
  if (total <= 0) return '  0%'
  return `${String(Math.floor(Math.min(1, done / total) * 100)).padStart(3)}%`
}

/** A digest shortened for a line: `sha256:0123456789ab`. */
export function shortDigest (digest: string): string {
  const colon = digest.indexOf(':')
  return colon < 0 ? digest.slice(0, 12) : digest.slice(0, colon + 13)
}
