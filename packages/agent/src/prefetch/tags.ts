import { TAG_LIST_MAX_PAGE_BYTES, TAG_LIST_MAX_PAGES, TAG_LIST_MAX_TAGS } from './constants.ts'
import { InvalidManifestError, MirrorAnswerError } from './errors.ts'
import type { MirrorClient } from './mirror-client.ts'
import { readCapped } from './read-body.ts'
import { formatRepository } from './reference.ts'

export interface ListTagsOptions {
  registry: string
  repository: string
  /** Tags per page to ask for (`?n=`); the registry's own page size when not given. */
  pageSize?: number
  signal: AbortSignal
}

/**
 * Every tag of a repository, through the mirror's tag list, following `Link: <...>; rel="next"`
 * pages (on the mirror, whatever host the link names) up to TAG_LIST_MAX_PAGES and TAG_LIST_MAX_TAGS.
 */
export async function listTags (client: MirrorClient, opts: ListTagsOptions): Promise<string[]> {
  const path = `/v2/${opts.repository}/tags/list`
  const what = `tags of ${formatRepository(opts)}`
  const tags: string[] = []
  let query = new URLSearchParams()
  if (opts.pageSize != null) query.set('n', String(opts.pageSize))
  const seen = new Set<string>()
  for (let page = 0; ; page++) {
    if (page >= TAG_LIST_MAX_PAGES) throw new MirrorAnswerError('failed', `${what}: more than ${TAG_LIST_MAX_PAGES} pages; narrow the request to a tag or a digest`)
    const res = await client.get({ path, registry: opts.registry, repository: opts.repository, query, what, signal: opts.signal })
    const body = await readCapped(res.body, { maxBytes: TAG_LIST_MAX_PAGE_BYTES, contentLength: res.headers['content-length'], what })
    tags.push(...parseTagList(body, what))
    if (tags.length > TAG_LIST_MAX_TAGS) throw new MirrorAnswerError('failed', `${what}: more than ${TAG_LIST_MAX_TAGS} tags; narrow the request to a tag or a digest`)
    const next = nextPage(res.headers.link, res.url)
    if (next == null) return tags
    if (next.pathname !== path) throw new MirrorAnswerError('invalid', `${what}: the next page's link leads to ${next.pathname.slice(0, 100)}, not the tag list`)
    const key = next.search
    if (seen.has(key)) throw new MirrorAnswerError('invalid', `${what}: the tag list's pages go round in a circle`)
    seen.add(key)
    query = next.searchParams
  }
}

function parseTagList (body: Buffer, what: string): string[] {
  let json: unknown
  try {
    json = JSON.parse(body.toString('utf8'))
  } catch (err) {
    throw new InvalidManifestError(`${what}: the tag list is not JSON`, { cause: err })
  }
  const tags = (json as { tags?: unknown } | null)?.tags
  // Distribution answers `"tags": null` for a repository without tags.
  if (tags == null) return []
  if (!Array.isArray(tags) || !tags.every(tag => typeof tag === 'string')) throw new InvalidManifestError(`${what}: "tags" is not a list of strings`)
  return tags
}

/** The `rel="next"` target of a Link header, resolved against the page it came with. */
function nextPage (link: string | undefined, base: URL): URL | undefined {
  if (link == null) return undefined
  for (const part of link.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>(.*)$/.exec(part)
    if (m == null) continue
    if (!/;\s*rel="?next"?(?:\s*;|\s*$)/i.test(m[2] ?? '')) continue
    try {
      return new URL(m[1] ?? '', base)
    } catch {
      return undefined
    }
  }
  return undefined
}
