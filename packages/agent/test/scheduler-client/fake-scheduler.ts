import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { LengthPrefixedStream } from '@libp2p/utils'
import type { ExecutionContext } from 'ava'
import { decodeAgentMessage, MAX_MESSAGE_SIZE, SCHEDULER_PROTOCOL } from '@shoal/proto'
import type { ParsedAgentMessage } from '@shoal/proto'
import type { P2pNode } from '@shoal/p2p'
import { startTestNode } from '../helpers/p2p.ts'

export interface FakeScheduler {
  node: P2pNode
  received: ParsedAgentMessage[]
}

/** A scheduler stand-in: records what agents send and lets the test answer on the stream. */
export async function fakeScheduler (t: ExecutionContext, key: Uint8Array, answer: (message: ParsedAgentMessage, lp: LengthPrefixedStream<Stream>, stream: Stream) => Promise<void>): Promise<FakeScheduler> {
  const node = await startTestNode(t, { swarmKey: key })
  const received: ParsedAgentMessage[] = []
  await node.handle(SCHEDULER_PROTOCOL, (stream) => {
    const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_SIZE })
    void (async () => {
      try {
        for (;;) {
          const message = decodeAgentMessage(await lp.read())
          received.push(message)
          await answer(message, lp, stream)
        }
      } catch {}
    })()
  })
  return { node, received }
}

export async function waitUntil (check: () => boolean, what = 'a condition', timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}
