import { createServer, connect } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { multiaddr } from '@multiformats/multiaddr'
import { PieceExchangeClient } from '../../src/piece-exchange/client.ts'
import { blobFixture, describeBlob, MiB, openStore, putBlob, startNode, startServer, swarmKey } from './fixtures.ts'

/**
 * A TCP proxy to `port` whose way back (target to client) runs at `bytesPerSecond`: the target's
 * socket fills, so its connection pauses and queues what its streams hand it.
 */
async function slowWayBack (t: ExecutionContext, port: number, bytesPerSecond: number): Promise<number> {
  const sockets = new Set<Socket>()
  const server = createServer(client => {
    const target = connect(port, '127.0.0.1')
    sockets.add(client).add(target)
    client.pipe(target)
    const perTick = bytesPerSecond / 50
    let sent = 0
    const tick = setInterval(() => {
      sent = 0
      if (target.isPaused()) target.resume()
    }, 20)
    target.on('data', (chunk: Buffer) => {
      client.write(chunk)
      sent += chunk.byteLength
      if (sent >= perTick) target.pause()
    })
    const end = (): void => {
      clearInterval(tick)
      client.destroy()
      target.destroy()
    }
    for (const s of [client, target]) s.on('close', end).on('error', end)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await new Promise(resolve => server.close(resolve))
  })
  return (server.address() as AddressInfo).port
}

// The guarantee itself (Noise holds no plaintext once send() returns) is checked deterministically in
// packages/p2p/test/noise-send.test.ts; this runs the reuse end to end, where without it a piece
// whose last frame waited in a paused connection went out overwritten (caught here in some runs).
test('an uploader that reuses its piece memory sends every piece right to a peer behind a slow link', async t => {
  const key = swarmKey()
  const a = await startNode(t, key)
  const b = await startNode(t, key)
  const store = await openStore(t)
  const blob = describeBlob(blobFixture(16 * MiB, 'reuse'))
  await putBlob(store, blob)
  const { served } = await startServer(t, a, store)
  const aPort = Number(/\/tcp\/(\d+)/.exec(a.getMultiaddrs()[0]!.toString())?.[1])
  const via = multiaddr(`/ip4/127.0.0.1/tcp/${await slowWayBack(t, aPort, 8 * MiB)}/p2p/${a.peerId.toString()}`)
  const client = new PieceExchangeClient({ node: b })
  t.teardown(() => { client.close() })
  const signal = AbortSignal.timeout(60_000)
  // Every piece asked at once, again while answered BUSY: the server reads into the buffers the
  // pieces before them were sent from, while the connection is paused with those queued.
  const all = async (): Promise<Uint8Array[][]> => Promise.all(blob.cids.map(async (cid, index) => {
    for (;;) {
      try {
        return await client.piece(via, { digest: blob.digest, size: blob.size, index, cid }, { signal })
      } catch (err) {
        if ((err as Error & { status?: string }).status !== 'BUSY') throw err
        await new Promise(resolve => setTimeout(resolve, 5))
      }
    }
  }))
  for (let round = 0; round < 2; round++) t.true(Buffer.concat((await all()).flat()).equals(blob.bytes))
  t.true(served.length >= blob.cids.length)
})
