/**
 * The HTTP Accept header as a manifest request uses it: which media types a client takes. A
 * registry picks what it answers by it (Distribution converts a schema2 manifest to schema1 for a
 * client that does not list schema2, and answers an OCI manifest only to one that lists it).
 */

/** How a media range matched: a type named exactly beats `type/*`, which beats `*\/*`. */
export type Specificity = 0 | 1 | 2

interface MediaRange { type: string, subtype: string, q: number }

function parseRanges (accept: string): MediaRange[] {
  const ranges: MediaRange[] = []
  for (const part of accept.split(',')) {
    const [range = '', ...params] = part.split(';').map(s => s.trim().toLowerCase())
    const slash = range.indexOf('/')
    if (slash <= 0 || slash === range.length - 1) continue
    const qParam = params.find(p => p.startsWith('q='))
    const q = qParam === undefined ? 1 : Number(qParam.slice(2))
    ranges.push({ type: range.slice(0, slash), subtype: range.slice(slash + 1), q: Number.isFinite(q) ? q : 1 })
  }
  return ranges
}

/**
 * How specifically `accept` admits `mediaType`, or undefined when it does not (no range matches,
 * or the most specific match has q=0). An absent or empty Accept admits anything (HTTP's meaning;
 * the registry would pick), as `*\/*`.
 */
export function admits (accept: string | undefined, mediaType: string): Specificity | undefined {
  const ranges = accept === undefined ? [] : parseRanges(accept)
  if (ranges.length === 0) return 0
  const [type, subtype] = mediaType.toLowerCase().split('/')
  let best: { specificity: Specificity, q: number } | undefined
  for (const range of ranges) {
    const specificity: Specificity | undefined = range.type === type && range.subtype === subtype
      ? 2
      : range.type === type && range.subtype === '*' ? 1 : range.type === '*' && range.subtype === '*' ? 0 : undefined
    if (specificity === undefined) continue
    if (best === undefined || specificity > best.specificity) best = { specificity, q: range.q }
  }
  return best === undefined || best.q <= 0 ? undefined : best.specificity
}

/** Media types in Accept, without parameters, sorted: clients list the same set in different orders. */
export function acceptKey (accept: string | undefined): string {
  if (accept == null) return ''
  return [...new Set(accept.split(',').map(s => s.split(';')[0]?.trim().toLowerCase() ?? '').filter(Boolean))].sort().join(',')
}
