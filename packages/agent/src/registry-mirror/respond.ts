import type { ServerResponse } from 'node:http'
import { reasonPhrase, sendOciError } from './oci-errors.ts'

/** Upstream headers a client needs to see on an answer that is passed through (challenges above all). */
const PASSED_HEADERS = ['content-type', 'www-authenticate', 'docker-content-digest', 'docker-distribution-api-version', 'retry-after', 'link', 'warning']

/**
 * Passes an upstream answer (status, the headers above, a buffered body) to the client. A server
 * error says in its status line which endpoint answered it and what it said.
 */
export function sendUpstreamAnswer (res: ServerResponse, answer: { status: number, headers: Record<string, string | undefined>, body?: Buffer, endpoint?: string }): void {
  const headers: Record<string, string | number> = {}
  for (const name of PASSED_HEADERS) {
    const value = answer.headers[name]
    if (value != null) headers[name] = value
  }
  const body = answer.body ?? Buffer.alloc(0)
  const who = answer.endpoint != null ? `the upstream registry at ${answer.endpoint}` : 'the upstream registry'
  if (answer.status >= 500 && !/\bjson\b/i.test(answer.headers['content-type'] ?? '')) {
    // A proxy or load balancer in front of the registry answers in plain text or HTML: clients
    // parse OCI error bodies, so say the same thing as one.
    const { 'content-type': _type, ...rest } = headers
    const text = body.toString('utf8').replace(/\s+/g, ' ').trim().slice(0, 200)
    sendOciError(res, answer.status, 'UNAVAILABLE', `${who} answered ${answer.status}${text === '' ? '' : `: ${text}`}`, rest as Record<string, string>)
    return
  }
  if (answer.status >= 500) res.statusMessage = reasonPhrase(answer.status, `${who} answered ${answer.status}${upstreamMessage(body)}`) ?? ''
  if (res.req.method === 'HEAD' && answer.headers['content-length'] != null) headers['content-length'] = answer.headers['content-length']
  else headers['content-length'] = body.byteLength
  res.writeHead(answer.status, headers)
  res.end(res.req.method === 'HEAD' ? undefined : body)
}

/** `: <message>` of the first error in an OCI error body, or nothing. */
function upstreamMessage (body: Buffer): string {
  try {
    const message = (JSON.parse(body.toString('utf8')) as { errors?: Array<{ message?: unknown }> }).errors?.[0]?.message
    return typeof message === 'string' && message !== '' ? `: ${message.slice(0, 200)}` : ''
  } catch {
    return ''
  }
}
