import { Resolver } from 'node:dns/promises'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { DnsTarget } from '../config/index.ts'
import { DNS_RESOLVE_TIMEOUT_MS } from '../constants.ts'
import { DnsResolveError } from '../errors.ts'

/** What resolving needs of node:dns (a `Resolver` pointed at other servers in tests). */
export type DnsResolver = Pick<Resolver, 'resolve4' | 'resolve6' | 'cancel'>

/**
 * The system's DNS servers (/etc/resolv.conf), asked directly: every A and AAAA record comes back,
 * and no libuv thread is held (getaddrinfo behind `lookup` would block one of the four the piece
 * store's file I/O uses while a server is slow).
 */
export function systemResolver (): DnsResolver {
  return new Resolver({ timeout: DNS_RESOLVE_TIMEOUT_MS, tries: 2 })
}

/** Codes that mean the name has no record of that family: an answer, not a failure. */
const NO_RECORDS = new Set(['ENODATA', 'ENOTFOUND'])

/**
 * Every A and AAAA record of the target's name, as TCP multiaddrs at its port (no /p2p/: the peer
 * id is learned at the handshake). An empty list when the name has no address (NXDOMAIN, NODATA);
 * DnsResolveError when a server failed (timeout, SERVFAIL, refused), so the caller keeps what it had.
 */
export async function resolveTarget (resolver: DnsResolver, target: DnsTarget): Promise<Multiaddr[]> {
  const [v4, v6] = await Promise.allSettled([resolver.resolve4(target.name), resolver.resolve6(target.name)])
  const addrs: Multiaddr[] = []
  const failures: Error[] = []
  for (const [result, family] of [[v4, 'ip4'], [v6, 'ip6']] as const) {
    if (result.status === 'fulfilled') {
      for (const ip of result.value) addrs.push(multiaddr(`/${family}/${ip}/tcp/${target.port}`))
    } else if (!NO_RECORDS.has((result.reason as NodeJS.ErrnoException).code ?? '')) {
      failures.push(result.reason as Error)
    }
  }
  // One family failing while the other answered: the answer is kept, the failed family counts as none.
  if (failures.length > 0 && addrs.length === 0) {
    throw new DnsResolveError(`${target.name}: ${failures.map(err => err.message).join('; ')}`, { cause: failures[0] })
  }
  return addrs
}
