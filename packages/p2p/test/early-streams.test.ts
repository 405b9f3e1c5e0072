import test from 'ava'
import type { Stream } from '@libp2p/interface'
import { P2P_MAX_EARLY_STREAMS } from '../src/constants.ts'
import { startTestNode } from './helpers.ts'

const PROTOCOL = '/shoal-test/echo/1.0.0'
const OP_TIMEOUT_MS = 20_000

// A rollout from a warm site starts with every client asking its holders for many pieces at once,
// each request on a stream of its own. The first streams on a new connection can reach the
// listener before libp2p has handed it the connection; yamux counted them as "early" and, past
// its default of 10, aborted the whole connection with every request on it.
test('a burst of streams on a brand-new connection is served, not taken as an attack', async t => {
  const server = await startTestNode(t)
  const client = await startTestNode(t)
  let served = 0
  await server.handle(PROTOCOL, (stream: Stream) => {
    served++
    stream.addEventListener('message', evt => {
      stream.send(evt.data)
      void stream.close()
    }, { once: true })
  }, { maxInboundStreams: P2P_MAX_EARLY_STREAMS })
  // More than yamux's default of 10 early streams, fewer than libp2p's 64 per protocol and connection.
  const burst = 40
  for (let round = 0; round < 5; round++) {
    const connection = await client.dial(server.getMultiaddrs(), { signal: AbortSignal.timeout(OP_TIMEOUT_MS) })
    // Every stream opened at once, before any of them is answered.
    const streams = await Promise.all(Array.from({ length: burst }, async () => connection.newStream(PROTOCOL, { signal: AbortSignal.timeout(OP_TIMEOUT_MS), negotiateFully: false })))
    const echoes = await Promise.all(streams.map(async (stream, i) => {
      const reply = new Promise<number>((resolve, reject) => {
        stream.addEventListener('message', evt => { resolve(evt.data.subarray()[0] ?? -1) }, { once: true })
        stream.addEventListener('close', evt => { reject(evt.error ?? new Error('closed without a reply')) }, { once: true })
      })
      stream.send(Uint8Array.of(i))
      return reply
    }))
    t.deepEqual(echoes, streams.map((_, i) => i))
    t.is(connection.status, 'open')
    await connection.close()
  }
  t.is(served, 5 * burst)
})
