import type { IncomingMessage, ServerResponse } from 'node:http'
import type { UpstreamConfig } from '../config/index.ts'
import { MAX_TAG_LIST_BYTES } from '../constants.ts'
import type { UpstreamClient } from '../upstream/client.ts'
import { readCapped } from './read-capped.ts'
import { sendUpstreamAnswer } from './respond.ts'

/**
 * `GET /v2/<name>/tags/list`, passed through with the client's credentials (the origin decides who
 * may list). The body is bounded; a `Link` to the next page keeps the client's `?ns=`, so a client
 * that follows it stays on the same registry.
 */
export async function handleTags (upstream: UpstreamClient, req: IncomingMessage, res: ServerResponse, m: { registry: UpstreamConfig, name: string, ns: string | null }): Promise<void> {
  const query = new URL(req.url ?? '/', 'http://mirror').searchParams
  query.delete('ns')
  const search = query.size > 0 ? `?${query.toString()}` : ''
  const answer = await upstream.send({ registry: m.registry, method: req.method as 'GET' | 'HEAD', path: `/v2/${m.name}/tags/list${search}`, repository: m.name, authorization: req.headers.authorization })
  const body = await readCapped(answer.body, MAX_TAG_LIST_BYTES, 'tag list')
  const link = answer.headers.link
  const headers = { ...answer.headers, link: link == null || m.ns == null ? link : withNs(link, m.ns) }
  sendUpstreamAnswer(res, { status: answer.status, headers, body, endpoint: answer.endpoint })
}

/** `</v2/x/tags/list?last=a&n=10>; rel="next"` -> the same path with `ns=` added to its query. */
export function withNs (link: string, ns: string): string {
  return link.replace(/<([^>]*)>/, (_, target: string) => {
    const url = new URL(target, 'http://mirror')
    url.searchParams.set('ns', ns)
    return `<${url.pathname}${url.search}>`
  })
}
