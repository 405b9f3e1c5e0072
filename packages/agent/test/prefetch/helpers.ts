import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ExecutionContext } from 'ava'
import { request } from 'undici'
import { layerFixture, startCountingProxy, startRegistry } from '../../../../test/fixtures/index.ts'
import type { CountingProxy, Credentials, OriginRegistry, RegistryAuth } from '../../../../test/fixtures/index.ts'
import { startTestAgent } from '../../../../test/helpers/agent.ts'
import type { TestAgent } from '../../../../test/helpers/agent.ts'

export interface PrefetchCluster {
  registry: OriginRegistry
  /** The counting proxy in front of the registry: the agent's only upstream. */
  origin: CountingProxy
  agent: TestAgent
  mirror: { url: string }
}

/** A real Distribution registry, a counting proxy in front of it and a real agent whose upstream it is; torn down with the test. */
export async function startCluster (t: ExecutionContext, opts: { auth?: RegistryAuth, credentials?: Credentials } = {}): Promise<PrefetchCluster> {
  const registry = await startRegistry({ auth: opts.auth })
  t.teardown(registry.stop)
  const origin = await startCountingProxy(registry)
  t.teardown(origin.stop)
  const args: string[] = []
  if (opts.credentials != null) {
    // The agent's own credentials for the origin, from its config file.
    const dir = await mkdtemp(join(tmpdir(), 'shoal-prefetch-'))
    t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
    const configFile = join(dir, 'agent.yaml')
    const { username, password } = opts.credentials
    await writeFile(configFile, `credentials:\n  ${JSON.stringify(origin.host)}:\n    username: ${JSON.stringify(username)}\n    password: ${JSON.stringify(password)}\n`)
    args.push('--config', configFile)
  }
  const agent = await startTestAgent({ upstreams: [origin.url], args })
  t.teardown(agent.stop)
  return { registry, origin, agent, mirror: { url: agent.url } }
}

/** Deterministic layers of the given sizes. */
export function layers (seed: number, sizes: number[]): Buffer[] {
  return sizes.map((size, i) => layerFixture({ size, seed: seed * 100 + i }))
}

export interface MirrorProxy {
  url: string
  /** Most blob GETs under way at once so far. */
  readonly maxInFlight: number
  readonly blobGets: number
  stop: () => Promise<void>
}

/** Changes an answer of the mirror on its way to the client: a new body and headers, or undefined to pass it. */
export type Rewrite = (path: string, answer: { status: number, headers: Record<string, string>, body: Buffer }) => { headers: Record<string, string>, body: Buffer } | undefined

/**
 * A proxy in front of a mirror: counts the blob GETs under way at once, and lets a test change the
 * mirror's manifest answers (`rewrite`; blob bodies always stream through untouched).
 */
export async function startMirrorProxy (target: string, opts: { rewrite?: Rewrite } = {}): Promise<MirrorProxy> {
  let inFlight = 0
  let maxInFlight = 0
  let blobGets = 0
  const server = http.createServer((req, res) => {
    const path = req.url ?? '/'
    const blob = /\/blobs\/sha256:/.test(path)
    if (blob) {
      blobGets++
      maxInFlight = Math.max(maxInFlight, ++inFlight)
      res.once('close', () => { inFlight-- })
    }
    request(new URL(path, target), { method: 'GET', headers: { accept: req.headers.accept ?? '*/*' }, signal: AbortSignal.timeout(60_000) })
      .then(async upstream => {
        const headers: Record<string, string> = {}
        for (const [name, value] of Object.entries(upstream.headers)) if (typeof value === 'string') headers[name] = value
        if (!blob && opts.rewrite != null) {
          const body = Buffer.from(await upstream.body.arrayBuffer())
          const changed = opts.rewrite(path, { status: upstream.statusCode, headers, body }) ?? { headers, body }
          res.writeHead(upstream.statusCode, { ...changed.headers, 'content-length': String(changed.body.length) }).end(changed.body)
          return
        }
        res.writeHead(upstream.statusCode, headers)
        for await (const chunk of upstream.body) res.write(chunk)
        res.end()
      })
      .catch(() => { res.destroy() })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get maxInFlight () { return maxInFlight },
    get blobGets () { return blobGets },
    stop: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => { server.close(() => { resolve() }) })
    }
  }
}

export interface PagingProxy {
  url: string
  /** Tag list pages served. */
  readonly pages: string[]
  stop: () => Promise<void>
}

/**
 * Distribution 2.8 ignores `?n=` on tag lists (paging came in v3): this proxy in front of a real
 * registry pages them as v3 does (sorted, `n` per page, `Link: <...?last=...&n=...>; rel="next"`)
 * and passes everything else through.
 */
export async function startPagingProxy (target: string): Promise<PagingProxy> {
  const pages: string[] = []
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy')
    const headers: Record<string, string> = {}
    for (const name of ['accept', 'authorization']) if (typeof req.headers[name] === 'string') headers[name] = req.headers[name]
    const tagList = /^\/v2\/(.+)\/tags\/list$/.test(url.pathname) && url.searchParams.has('n')
    request(new URL(tagList ? url.pathname : `${url.pathname}${url.search}`, target), { method: req.method === 'HEAD' ? 'HEAD' : 'GET', headers, signal: AbortSignal.timeout(30_000) })
      .then(async upstream => {
        const out: Record<string, string> = {}
        for (const [name, value] of Object.entries(upstream.headers)) if (typeof value === 'string') out[name] = value
        if (!tagList || upstream.statusCode !== 200) {
          res.writeHead(upstream.statusCode, out)
          for await (const chunk of upstream.body) res.write(chunk)
          res.end()
          return
        }
        const list = await upstream.body.json() as { name: string, tags: string[] }
        const n = Number(url.searchParams.get('n'))
        const last = url.searchParams.get('last')
        const sorted = [...list.tags].sort()
        const from = last == null ? 0 : sorted.findIndex(tag => tag > last)
        const page = from < 0 ? [] : sorted.slice(from, from + n)
        pages.push(url.search)
        const body = JSON.stringify({ name: list.name, tags: page })
        const reply: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
        if (from >= 0 && from + n < sorted.length) reply.link = `<${url.pathname}?last=${encodeURIComponent(page.at(-1) ?? '')}&n=${n}>; rel="next"`
        res.writeHead(200, reply).end(body)
      })
      .catch(() => { res.destroy() })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    pages,
    stop: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => { server.close(() => { resolve() }) })
    }
  }
}
