import { createHash } from 'node:crypto'
import { Agent, request } from 'undici'
import { PULL_TIMEOUT_MS } from './constants.ts'
import { BlobVerificationError } from './errors.ts'
import type { BenchBlob } from './blobs.ts'

export interface PullOptions {
  signal?: AbortSignal
}

export interface PullResult {
  /** Wall time from the first request to the last verified byte. */
  seconds: number
  bytes: number
  /** Per blob request, in the order given: time to its last verified byte. */
  perBlobSeconds: number[]
}

/**
 * One client pulling blobs the way a runtime pulls layers: all requests at once, each on its own
 * connection, every byte read as fast as it comes and hashed; a blob whose status, length or
 * digest is wrong fails the pull. The same code pulls from the agent and from the origin.
 * A blob listed twice is requested twice (several clients of one blob).
 */
export async function pullBlobs (baseUrl: string, repository: string, blobs: BenchBlob[], opts: PullOptions = {}): Promise<PullResult> {
  const signal = opts.signal ?? AbortSignal.timeout(PULL_TIMEOUT_MS)
  // Fresh connections per pull, on both sides alike.
  const dispatcher = new Agent({ connections: null, pipelining: 1 })
  const started = performance.now()
  try {
    const perBlobSeconds = await Promise.all(blobs.map(async blob => {
      await pullOne(dispatcher, new URL(`/v2/${repository}/blobs/${blob.digest}`, baseUrl), blob, signal)
      return (performance.now() - started) / 1000
    }))
    const seconds = (performance.now() - started) / 1000
    return { seconds, bytes: blobs.reduce((n, b) => n + b.size, 0), perBlobSeconds }
  } finally {
    await dispatcher.destroy()
  }
}

async function pullOne (dispatcher: Agent, url: URL, blob: BenchBlob, signal: AbortSignal): Promise<void> {
  const res = await request(url, { dispatcher, signal, headers: { accept: '*/*' } })
  if (res.statusCode !== 200) {
    const text = await res.body.text().catch(() => '')
    throw new BlobVerificationError(`GET ${url.href} answered ${res.statusCode}: ${text.slice(0, 300)}`)
  }
  const length = res.headers['content-length']
  if (length != null && Number(length) !== blob.size) {
    await res.body.dump()
    throw new BlobVerificationError(`GET ${url.href}: Content-Length ${String(length)}, expected ${blob.size}`)
  }
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    hash.update(chunk)
    bytes += chunk.length
  }
  const digest = `sha256:${hash.digest('hex')}`
  if (bytes !== blob.size || digest !== blob.digest) {
    throw new BlobVerificationError(`GET ${url.href}: got ${bytes} bytes hashing to ${digest}, expected ${blob.size} bytes of ${blob.digest}`)
  }
}
