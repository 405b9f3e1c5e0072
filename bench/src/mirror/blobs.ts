import { createCipheriv, createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { Agent, request } from 'undici'
import type { Dispatcher } from 'undici'
import { GENERATE_CHUNK_BYTES, PUSH_TIMEOUT_MS } from './constants.ts'
import { BlobPushError } from './errors.ts'

/** A blob on the origin: what a client asks for and what it must hash to. */
export interface BenchBlob {
  digest: string
  size: number
  seed: number
}

export interface BlobSpec {
  size: number
  seed: number
}

/**
 * Deterministic pseudo-random bytes, generated chunk by chunk: the AES-128-CTR keystream of a key
 * derived from the seed. Same { size, seed }, same bytes, on any machine; a few GB/s with AES-NI,
 * and never more than one chunk in memory.
 */
export function * deterministicChunks (spec: BlobSpec, chunkBytes = GENERATE_CHUNK_BYTES): Generator<Buffer> {
  const key = createHash('sha256').update(`shoal-bench-blob:${spec.seed}`).digest().subarray(0, 16)
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16))
  const zeros = Buffer.alloc(Math.min(chunkBytes, Math.max(spec.size, 1)))
  for (let left = spec.size; left > 0; left -= zeros.length) {
    yield cipher.update(left >= zeros.length ? zeros : zeros.subarray(0, left))
  }
}

export interface PushBlobOptions {
  signal?: AbortSignal
}

/**
 * Uploads one generated blob through the registry API without holding it: POST an upload, PATCH
 * the bytes as one streamed (chunked) body while hashing them, then PUT ?digest= to commit.
 */
export async function pushGeneratedBlob (registryUrl: string, repository: string, spec: BlobSpec, opts: PushBlobOptions = {}): Promise<BenchBlob> {
  const signal = opts.signal ?? AbortSignal.timeout(PUSH_TIMEOUT_MS)
  const dispatcher = new Agent()
  try {
    const started = await call(dispatcher, 'POST', new URL(`/v2/${repository}/blobs/uploads/`, registryUrl), signal)
    expect(started, 202, 'start upload')
    const hash = createHash('sha256')
    let sent = 0
    const body = (function * () {
      for (const chunk of deterministicChunks(spec)) {
        hash.update(chunk)
        sent += chunk.length
        yield chunk
      }
    })()
    const patched = await call(dispatcher, 'PATCH', location(started, registryUrl), signal, Readable.from(body, { objectMode: false }))
    expect(patched, 202, 'upload bytes')
    if (sent !== spec.size) throw new BlobPushError(`generated ${sent} bytes, expected ${spec.size}`)
    const digest = `sha256:${hash.digest('hex')}`
    const commit = location(patched, registryUrl)
    commit.searchParams.set('digest', digest)
    const done = await call(dispatcher, 'PUT', commit, signal)
    expect(done, 201, `commit ${digest}`)
    return { digest, size: spec.size, seed: spec.seed }
  } finally {
    await dispatcher.close()
  }
}

interface Reply { status: number, headers: Record<string, string | string[] | undefined>, text: string }

async function call (dispatcher: Dispatcher, method: Dispatcher.HttpMethod, url: URL, signal: AbortSignal, body?: Readable): Promise<Reply> {
  const headers: Record<string, string> = body == null ? { 'content-length': '0' } : { 'content-type': 'application/octet-stream' }
  try {
    const res = await request(url, { method, headers, body, dispatcher, signal })
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
  } catch (err) {
    throw new BlobPushError(`${method} ${url.pathname} failed: ${(err as Error).message}`, { cause: err })
  }
}

function location (reply: Reply, base: string): URL {
  const value = reply.headers.location
  const next = Array.isArray(value) ? value[0] : value
  if (next == null) throw new BlobPushError(`registry answered ${reply.status} without a Location header`)
  return new URL(next, base)
}

function expect (reply: Reply, status: number, what: string): void {
  if (reply.status !== status) throw new BlobPushError(`${what}: registry answered ${reply.status}: ${reply.text.slice(0, 500)}`)
}
