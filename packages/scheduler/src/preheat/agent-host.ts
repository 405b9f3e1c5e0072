import { multiaddr } from '@multiformats/multiaddr'
import type { SchedulerService } from '../service.ts'
import type { PeerKey } from '../types.ts'
import type { AgentHost } from './dragonfly-view.ts'

/** An agent's host name and first IP address as it registered them ('' when it is not connected). */
export function agentHost (service: SchedulerService, agent: string): AgentHost {
  const registration = service.registrationOf(agent as PeerKey)
  if (registration == null) return { hostname: '', ip: '' }
  let ip = ''
  for (const bytes of registration.addresses) {
    try {
      const found = /^\/ip[46]\/([^/]+)/.exec(multiaddr(bytes).toString())?.[1]
      if (found != null) { ip = found; break }
    } catch {}
  }
  return { hostname: registration.hostName, ip }
}
