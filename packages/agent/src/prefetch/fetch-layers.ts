import type { Digest } from '@shoal/proto'
import { PROGRESS_REPORT_BYTES } from './constants.ts'
import { InvalidPrefetchOptionError, MirrorAnswerError } from './errors.ts'
import { abortFailure, failureOf } from './failure.ts'
import { mapLimit } from './limit.ts'
import { MirrorClient } from './mirror-client.ts'
import type { MirrorTarget } from './mirror-client.ts'
import { formatRepository } from './reference.ts'
import type { LayerOutcome, PrefetchLayer } from './types.ts'

export interface FetchLayersOptions {
  /** Layers fetched at once, at least 1. */
  concurrency: number
  /** Stops everything: layers under way or not started end `cancelled` (`timeout` for a TimeoutError reason). */
  signal?: AbortSignal
  /** A layer's request is about to be sent. */
  onStart?: (digest: Digest) => void
  /** Bytes of a layer read so far (a running total), about every PROGRESS_REPORT_BYTES and at its end. */
  onBytes?: (digest: Digest, bytes: number) => void
  /** A layer is done or failed; called once per layer, for those never started too. */
  onDone?: (outcome: LayerOutcome) => void
}

/**
 * Fetches layers through the mirror so that the agent stores them: each blob is read to its end and
 * the bytes dropped. The mirror checks the digest and withholds the end of a bad body, so only a
 * body of exactly the layer's size counts as done. One outcome per layer, in their order; a failure
 * stops only its own layer. Callbacks must not throw.
 */
export async function fetchLayers (mirror: MirrorTarget, layers: PrefetchLayer[], opts: FetchLayersOptions): Promise<LayerOutcome[]> {
  if (!Number.isSafeInteger(opts.concurrency) || opts.concurrency < 1) {
    throw new InvalidPrefetchOptionError(`fetchLayers concurrency ${opts.concurrency} is not a whole number of at least 1`)
  }
  const client = new MirrorClient(mirror, { connections: opts.concurrency })
  try {
    return await mapLimit(layers, opts.concurrency, async layer => {
      const outcome = await fetchLayer(client, layer, opts)
      opts.onDone?.(outcome)
      return outcome
    })
  } finally {
    await client.close()
  }
}

async function fetchLayer (client: MirrorClient, layer: PrefetchLayer, opts: FetchLayersOptions): Promise<LayerOutcome> {
  const digest = layer.digest
  // Without a signal of the caller's, the dispatcher's connect, header and body idle timeouts bound each request.
  const signal = opts.signal ?? new AbortController().signal
  if (signal.aborted) return { digest, bytes: 0, error: abortFailure(signal) }
  const what = `blob ${digest} of ${formatRepository(layer)}`
  let bytes = 0
  let reported = 0
  opts.onStart?.(digest)
  try {
    const res = await client.get({ path: `/v2/${layer.repository}/blobs/${digest}`, registry: layer.registry, repository: layer.repository, what, signal })
    const announced = res.headers['content-length'] != null ? Number(res.headers['content-length']) : undefined
    if (announced != null && announced !== layer.size) {
      res.body.destroy()
      throw new MirrorAnswerError('failed', `${what}: the mirror announced ${announced} bytes; the manifest says ${layer.size}`)
    }
    for await (const chunk of res.body) {
      bytes += (chunk as Buffer).byteLength
      if (bytes > layer.size) {
        res.body.destroy()
        throw new MirrorAnswerError('failed', `${what}: the mirror sent more than the ${layer.size} bytes the manifest says`)
      }
      if (bytes - reported >= PROGRESS_REPORT_BYTES) {
        reported = bytes
        opts.onBytes?.(digest, bytes)
      }
    }
    if (bytes !== layer.size) throw new MirrorAnswerError('failed', `${what}: the body ended after ${bytes} of ${layer.size} bytes`)
    if (reported !== bytes) opts.onBytes?.(digest, bytes)
    return { digest, bytes }
  } catch (err) {
    return { digest, bytes, error: failureOf(err, signal, what) }
  }
}
