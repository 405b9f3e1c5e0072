import type { IncomingMessage, ServerResponse } from 'node:http'
import { parsePeerKey } from '../types.ts'
import type { Membership } from './membership.ts'

/**
 * The members on the admin listener: GET /members (every record, removed ones marked with
 * `removedAt`), DELETE /members/<peer id> (removes it: every agent closes its connections at once,
 * and it cannot register again). Errors are `{ "error": "..." }` with 400, 404 or 405; without
 * membership (no join tokens), 404 saying so. The caller has checked the admin token. Returns
 * false for a path that is not under /members.
 */
export function handleMemberRoute (membership: Membership | undefined, req: IncomingMessage, res: ServerResponse, path: string): boolean {
  const match = /^\/members(?:\/([^/]+))?\/?$/.exec(path)
  if (match == null) return false
  const id = match[1]
  void (async () => {
    try {
      if (membership == null) {
        send(res, 404, { error: 'this scheduler admits no members: start it with --join-tokens FILE (docs/membership.md)' })
      } else if (id == null && req.method === 'GET') {
        send(res, 200, { members: membership.list() })
      } else if (id != null && req.method === 'DELETE') {
        send(res, 200, await membership.remove(parsePeerKey(decodeURIComponent(id))))
      } else {
        res.setHeader('allow', id == null ? 'GET' : 'DELETE')
        send(res, 405, { error: `${req.method ?? ''} is not allowed on ${path}` })
      }
    } catch (err) {
      const name = (err as Error).name
      const status = name === 'UnknownMemberError' ? 404 : name === 'InvalidPeerKeyError' ? 400 : 500
      send(res, status, { error: (err as Error).message })
    }
  })()
  return true
}

function send (res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body, null, 2) + '\n')
}
