import { RangeNotSatisfiableError } from '../errors.ts'

export interface ByteRange { start: number, end: number }

/**
 * Parses a single `bytes=` range against a blob size (RFC 9110): `a-b`, `a-` (containerd's resume)
 * and `-n` (suffix). Anything else, several ranges, or a range past the end is unsatisfiable.
 * Returns undefined when there is no Range header.
 */
export function parseRange (header: string | undefined, size: number): ByteRange | undefined {
  if (header == null) return undefined
  const m = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim())
  if (m == null || (m[1] === '' && m[2] === '')) throw new RangeNotSatisfiableError(`Range "${header.slice(0, 100)}" is not a single bytes range`)
  let start: number
  let end: number
  if (m[1] === '') {
    const suffix = Number(m[2])
    if (suffix === 0) throw new RangeNotSatisfiableError('an empty suffix range is unsatisfiable')
    start = Math.max(0, size - suffix)
    end = size - 1
  } else {
    start = Number(m[1])
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  }
  if (start >= size || start > end) throw new RangeNotSatisfiableError(`Range "${header.slice(0, 100)}" is outside a blob of ${size} bytes`)
  return { start, end }
}
