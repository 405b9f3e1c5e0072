/** A parsed `WWW-Authenticate` challenge: `Bearer realm="...",service="...",scope="..."` or `Basic realm=...`. */
export interface Challenge {
  scheme: 'bearer' | 'basic' | string
  params: Record<string, string>
}

export function parseChallenge (header: string | undefined): Challenge | undefined {
  if (header == null) return undefined
  const match = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header)
  if (match == null) return undefined
  const params: Record<string, string> = {}
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?/g
  let m: RegExpExecArray | null
  while ((m = re.exec(match[2] ?? '')) != null) {
    params[(m[1] ?? '').toLowerCase()] = (m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1')
  }
  return { scheme: (match[1] ?? '').toLowerCase(), params }
}
