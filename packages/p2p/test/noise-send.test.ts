import test from 'ava'
import { noise } from '@chainsafe/libp2p-noise'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { MessageStream } from '@libp2p/interface'
import { multiaddrConnectionPair } from '@libp2p/utils'
import { noiseCrypto } from '../src/noise-crypto.ts'

interface Log { (...args: unknown[]): void, error: (...args: unknown[]) => void, trace: (...args: unknown[]) => void, enabled: boolean, newScope: () => Log }
const log: Log = Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false, newScope: () => log })

/** Two ends of a Noise session over an in-memory connection that pauses past `capacity` queued messages. */
async function securedPair (capacity: number): Promise<[MessageStream, MessageStream]> {
  const [outbound, inbound] = multiaddrConnectionPair({ capacity })
  const side = async (): Promise<ReturnType<ReturnType<typeof noise>>> => noise({ crypto: noiseCrypto })({
    privateKey: await generateKeyPair('Ed25519'),
    logger: { forComponent: () => log },
    upgrader: { getStreamMuxers: () => new Map() }
  } as never)
  const [a, b] = await Promise.all([side(), side()])
  const [out, into] = await Promise.all([a.secureOutbound(outbound), b.secureInbound(inbound)])
  return [out.connection, into.connection]
}

test('the patched Noise encrypts in send(): bytes handed over while the connection is paused may be overwritten at once', async t => {
  const [sender, receiver] = await securedPair(2)
  const received: Uint8Array[] = []
  receiver.addEventListener('message', evt => { received.push(evt.data.subarray()) })
  // Fill the connection until it pauses: what follows waits in Noise's write buffer.
  const filler = new Uint8Array(64 * 1024)
  let sent = 0
  while (sender.send(filler)) sent += filler.byteLength
  sent += filler.byteLength
  const marker = new Uint8Array(100_000).fill(0xaa)
  t.false(sender.send(marker))
  t.true(sender.writeBufferLength > 0, 'the marker waits in Noise\'s write buffer: the connection is paused')
  marker.fill(0x55)
  const total = sent + 100_000
  while (received.reduce((n, c) => n + c.byteLength, 0) < total) await new Promise(resolve => setTimeout(resolve, 10))
  const all = Buffer.concat(received)
  t.is(all.byteLength, total)
  t.true(all.subarray(sent).every(byte => byte === 0xaa), 'the bytes as they were handed over, not as they were later')
})
