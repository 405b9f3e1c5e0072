/**
 * Who may hold a connection to this node: the operator's membership decision, checked by libp2p's
 * connection gater at every connection, in both directions (a connection carries streams both
 * ways, so a node we dial can ask us for pieces just as well as one that dials us).
 *
 * - `loopback` (the default: no membership configured): only connections whose remote address is
 *   on 127.0.0.0/8 or ::1, checked on the raw socket before any handshake. Dials elsewhere are
 *   refused before they start.
 * - `members`: the remote peer id must be a member (`allows`), checked right after the Noise
 *   handshake (the first moment the peer id is authenticated) and before the muxer: a non-member
 *   never gets a stream, so no piece table, piece, bitfield or DHT record. Dials to non-members are
 *   refused before they start.
 *   With `trustsAddress`, an outbound connection to an address it accepts is allowed whatever peer
 *   id answers (an agent's `--scheduler dns:NAME`: the scheduler's id is learned at that
 *   handshake); that is the only way around the member check, and only for connections this node
 *   dialled.
 * - `any`: everyone who completes the handshake (and holds the swarm key, when one is set). For a
 *   scheduler that admits agents by their join token: the registration decides, not the connection.
 */
import type { ConnectionGater, MultiaddrConnection, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export type Admission =
  | { kind: 'loopback' }
  | { kind: 'members', allows: (peer: PeerId) => boolean, trustsAddress?: (remote: Multiaddr) => boolean }
  | { kind: 'any' }

/** Whether a multiaddr's host is on 127.0.0.0/8 or ::1 (or `localhost`); a unix socket counts as local too. */
export function isLoopbackAddr (addr: Multiaddr): boolean {
  for (const c of addr.getComponents()) {
    if (c.name === 'ip4') return c.value?.startsWith('127.') === true
    if (c.name === 'ip6') {
      const v = (c.value ?? '').toLowerCase()
      return v === '::1' || v === '0:0:0:0:0:0:0:1' || v.startsWith('::ffff:127.')
    }
    if (c.name === 'dns' || c.name === 'dns4' || c.name === 'dns6') return c.value === 'localhost'
    if (c.name === 'unix') return true
  }
  return false
}

/**
 * The IP address and TCP port of a multiaddr as one string (`/ip6/::1/tcp/4001`), without any
 * /p2p/ part: what a `trustsAddress` set is keyed by. undefined for anything else.
 */
export function tcpAddressKey (addr: Multiaddr): string | undefined {
  const parts = addr.getComponents()
  const ip = parts.find(c => c.name === 'ip4' || c.name === 'ip6')
  const port = parts.find(c => c.name === 'tcp')
  if (ip?.value == null || port?.value == null) return undefined
  return `/${ip.name}/${ip.value.toLowerCase()}/tcp/${port.value}`
}

/** The connection gater that enforces `admission` (see the module comment). */
export function admissionGater (admission: Admission): ConnectionGater {
  if (admission.kind === 'any') return {}
  if (admission.kind === 'loopback') {
    return {
      denyDialMultiaddr: addr => !isLoopbackAddr(addr),
      denyInboundConnection: (maConn: MultiaddrConnection) => !isLoopbackAddr(maConn.remoteAddr),
      denyOutboundConnection: (_peer: PeerId, maConn: MultiaddrConnection) => !isLoopbackAddr(maConn.remoteAddr)
    }
  }
  const deny = (peer: PeerId): boolean => !admission.allows(peer)
  const trusts = admission.trustsAddress
  const denyOutbound = trusts == null ? deny : (peer: PeerId, maConn: MultiaddrConnection): boolean => deny(peer) && !trusts(maConn.remoteAddr)
  return {
    denyDialPeer: deny,
    denyInboundEncryptedConnection: deny,
    denyOutboundEncryptedConnection: denyOutbound,
    // Checked again once upgraded: a member removed during the muxer negotiation is caught here.
    denyInboundUpgradedConnection: deny,
    denyOutboundUpgradedConnection: denyOutbound
  }
}
