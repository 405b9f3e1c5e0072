import test from 'ava'
import {
  AgentMessage, decodeAgentMessage, decodeSchedulerMessage, digestOf, parseJobId, PREFETCH_BLOB_STATES, PrefetchBlobState, prefetchBlob, prefetchFailure, SchedulerMessage
} from '../src/index.ts'
import type { AgentMessage as AgentMessageType, SchedulerMessage as SchedulerMessageType } from '../src/index.ts'

const digest = digestOf(new TextEncoder().encode('layer'))
const blob = { registry: '127.0.0.1:5000', repository: 'team/app', digest, size: 1234, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }

function fromAgent (message: Partial<AgentMessageType>): ReturnType<typeof decodeAgentMessage> {
  return decodeAgentMessage(AgentMessage.encode(message as AgentMessageType))
}

function fromScheduler (message: Partial<SchedulerMessageType>): ReturnType<typeof decodeSchedulerMessage> {
  return decodeSchedulerMessage(SchedulerMessage.encode(message as SchedulerMessageType))
}

test('prefetch orders and cancels decode to their parsed form', t => {
  const resolve = fromScheduler({ prefetch: { job: 'j-1', images: [{ reference: 'registry.local/app:1', tags: '' }, { reference: 'registry.local/app', tags: 'v1.*' }], platforms: ['linux/arm64/v8'], blobs: [], concurrency: 4, timeoutMs: 0, authorization: '' } })
  t.deepEqual(resolve, { kind: 'prefetch', job: parseJobId('j-1'), images: [{ reference: 'registry.local/app:1', tags: undefined }, { reference: 'registry.local/app', tags: 'v1.*' }], platforms: ['linux/arm64/v8'], blobs: [], concurrency: 4, timeoutMs: undefined, authorization: undefined })
  const fetch = fromScheduler({ prefetch: { job: 'j-1', images: [], platforms: [], blobs: [prefetchBlob(blob)], concurrency: 2, timeoutMs: 5000, authorization: 'Bearer eyJ.a-b_c.d' } })
  t.deepEqual(fetch, { kind: 'prefetch', job: parseJobId('j-1'), images: [], platforms: [], blobs: [blob], concurrency: 2, timeoutMs: 5000, authorization: 'Bearer eyJ.a-b_c.d' })
  const striped = { ...blob, stripe: { index: 2, count: 3 } }
  t.deepEqual(fromScheduler({ prefetch: { job: 'j-1', images: [], platforms: [], blobs: [prefetchBlob(striped)], concurrency: 2, timeoutMs: 0, authorization: '' } }), { kind: 'prefetch', job: parseJobId('j-1'), images: [], platforms: [], blobs: [striped], concurrency: 2, timeoutMs: undefined, authorization: undefined }, 'a stripe of the pieces')
  t.deepEqual(fromScheduler({ prefetchCancel: { job: 'j-1' } }), { kind: 'prefetchCancel', job: parseJobId('j-1') })
})

test('resolved images and progress decode to their parsed form', t => {
  const failure = { reason: 'unauthorized' as const, message: 'the origin refused the agent\'s credentials' }
  t.deepEqual(fromAgent({ prefetchResolved: { job: 'j-2', images: [{ reference: 'r/app:1', manifestDigest: digest, blobs: [prefetchBlob(blob)] }, { reference: 'r/private:1', manifestDigest: '', blobs: [], failure: prefetchFailure(failure) }] } }), {
    kind: 'prefetchResolved',
    job: parseJobId('j-2'),
    images: [{ reference: 'r/app:1', manifestDigest: digest, blobs: [blob], failure: undefined }, { reference: 'r/private:1', manifestDigest: undefined, blobs: [], failure }]
  })
  t.deepEqual(fromAgent({ prefetchProgress: { job: 'j-2', blobs: [{ digest, state: PREFETCH_BLOB_STATES.done, bytes: 1234n, stripe: 2, stripes: 8 }, { digest, state: PREFETCH_BLOB_STATES.failed, bytes: 0n, failure: prefetchFailure({ reason: 'not-found', message: 'no such blob' }), stripe: 0, stripes: 0 }] } }), {
    kind: 'prefetchProgress',
    job: parseJobId('j-2'),
    blobs: [{ digest, state: 'done', bytes: 1234, failure: undefined, stripe: { index: 2, count: 8 } }, { digest, state: 'failed', bytes: 0, failure: { reason: 'not-found', message: 'no such blob' } }]
  })
})

test('malformed prefetch messages are rejected by name', t => {
  const invalid = { name: 'InvalidMessageError' }
  const order = { job: 'j', images: [], platforms: [], blobs: [prefetchBlob(blob)], concurrency: 1, timeoutMs: 0, authorization: '' }
  t.throws(() => fromScheduler({ prefetch: { ...order, job: '../etc' } }), invalid)
  for (const authorization of ['Bearer', 'Bearer abc\r\nX-Evil: 1', 'tok-without-scheme', `Bearer ${'a'.repeat(9000)}`]) {
    const err = t.throws(() => fromScheduler({ prefetch: { ...order, authorization } }), invalid)
    t.false(err?.message.includes('abc') ?? true, 'the message does not repeat the credential')
  }
  t.throws(() => fromScheduler({ prefetch: { ...order, concurrency: 0 } }), invalid)
  t.throws(() => fromScheduler({ prefetch: { ...order, images: [{ reference: 'a', tags: '' }] } }), invalid, 'resolve and fetch in one order')
  t.throws(() => fromScheduler({ prefetch: { ...order, platforms: ['linux'] } }), invalid)
  t.throws(() => fromScheduler({ prefetch: { ...order, blobs: [{ ...prefetchBlob(blob), repository: 'UPPER/../x' }] } }), invalid)
  t.throws(() => fromScheduler({ prefetch: { ...order, blobs: [{ ...prefetchBlob(blob), registry: 'host/with/path' }] } }), invalid)
  t.throws(() => fromScheduler({ prefetch: { ...order, blobs: [{ ...prefetchBlob(blob), digest: 'sha256:abc' }] } }), invalid)
  t.throws(() => fromScheduler({ prefetch: { ...order, blobs: [{ ...prefetchBlob(blob), stripe: 4, stripes: 4 }] } }), invalid, 'a stripe outside its count')
  t.throws(() => fromScheduler({ prefetch: { ...order, blobs: [{ ...prefetchBlob(blob), stripe: 1, stripes: 0 }] } }), invalid, 'a stripe of no stripes')
  t.throws(() => fromAgent({ prefetchProgress: { job: 'j', blobs: [{ digest, state: PrefetchBlobState.PREFETCH_BLOB_UNSPECIFIED, bytes: 0n, stripe: 0, stripes: 0 }] } }), invalid, 'no state')
  t.throws(() => fromAgent({ prefetchProgress: { job: 'j', blobs: [{ digest, state: PREFETCH_BLOB_STATES.failed, bytes: 0n, stripe: 0, stripes: 0 }] } }), invalid, 'failed without a reason')
  t.throws(() => fromAgent({ prefetchProgress: { job: 'j', blobs: [{ digest, state: PREFETCH_BLOB_STATES.done, bytes: 2n ** 60n, stripe: 0, stripes: 0 }] } }), invalid)
})
