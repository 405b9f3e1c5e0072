import { PrefetchUsageError } from './errors.ts'

/**
 * The scheduler's admin address (`shoal scheduler --admin`) as an operator writes it, turned into the
 * base URL of the admin API:
 * - `http://host:port` or `https://host:port` (no path, query or fragment),
 * - `host:port` or `[v6]:port` (plain HTTP),
 * - a multiaddr `/ip4/H/tcp/P`, `/ip6/H/tcp/P`, `/dns/H/tcp/P`, `/dns4/H/tcp/P`, `/dns6/H/tcp/P`,
 *   optionally ending in `/http` or `/https`.
 * Not the scheduler's libp2p address (`--listen`, port 65003, ending in /p2p/...): the admin API is HTTP.
 */
export function parseSchedulerAddress (field: string, text: string): string {
  const value = text.trim()
  const bad = (why: string): PrefetchUsageError => new PrefetchUsageError(
    `${field}: "${text}" ${why}; write the scheduler's admin address (shoal scheduler --admin) as http://HOST:PORT, HOST:PORT or /ip4/HOST/tcp/PORT`
  )
  if (value.startsWith('/')) return fromMultiaddr(value, bad)
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    let url: URL
    try {
      url = new URL(value)
    } catch (err) {
      throw new PrefetchUsageError(`${field}: "${text}" is not a URL`, { cause: err })
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad(`uses ${url.protocol.slice(0, -1)}, not http or https`)
    if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') throw bad('has a path, a query or credentials')
    return url.origin
  }
  const match = /^(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?):(\d{1,5})$/i.exec(value)
  if (match == null) throw bad('is not an address')
  return new URL(`http://${match[1] ?? ''}:${checkPort(match[2] ?? '', bad)}`).origin
}

function fromMultiaddr (value: string, bad: (why: string) => PrefetchUsageError): string {
  const parts = value.split('/').slice(1)
  const [proto, host, tcp, port, scheme, ...rest] = parts
  if (tcp !== 'tcp' || host == null || host === '' || port == null) throw bad('is not a multiaddr of the form /ip4/HOST/tcp/PORT')
  if (rest.length > 0 || (scheme != null && scheme !== 'http' && scheme !== 'https')) {
    throw bad(parts.includes('p2p') ? 'is a libp2p address (the agents\' --scheduler), not the admin address' : 'has parts after the port other than /http or /https')
  }
  const p = checkPort(port, bad)
  const protocol = scheme ?? 'http'
  switch (proto) {
    case 'ip4':
      if (!/^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$/.test(host)) throw bad(`has "${host}", not an IPv4 address`)
      return new URL(`${protocol}://${host}:${p}`).origin
    case 'ip6':
      if (!/^[0-9a-f:.]+$/i.test(host) || !host.includes(':')) throw bad(`has "${host}", not an IPv6 address`)
      return new URL(`${protocol}://[${host}]:${p}`).origin
    case 'dns':
    case 'dns4':
    case 'dns6':
      if (!/^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$/i.test(host)) throw bad(`has "${host}", not a host name`)
      return new URL(`${protocol}://${host}:${p}`).origin
    default:
      throw bad(`starts with /${proto ?? ''}, not /ip4, /ip6, /dns, /dns4 or /dns6`)
  }
}

function checkPort (text: string, bad: (why: string) => PrefetchUsageError): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN
  if (!(port >= 1 && port <= 65535)) throw bad(`has port "${text}", not 1-65535`)
  return port
}

/** The agent's mirror: an http(s) URL with no path (`--agent`, default http://127.0.0.1:65001); HOST:PORT means http. */
export function parseAgentUrl (field: string, text: string): string {
  const value = text.trim()
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch (err) {
    throw new PrefetchUsageError(`${field}: "${text}" is not a URL (example: http://127.0.0.1:65001)`, { cause: err })
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.host === '') {
    throw new PrefetchUsageError(`${field}: "${text}" must be the agent's mirror as http://HOST:PORT (example: http://127.0.0.1:65001)`)
  }
  return url.origin
}
