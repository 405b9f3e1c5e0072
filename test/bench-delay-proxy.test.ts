import { once } from 'node:events'
import { connect, createServer } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import test from 'ava'
import { startDelayProxy } from '../bench/src/swarm/delay-proxy.ts'
import { freePort } from './fixtures/index.ts'

test('the origin delay proxy passes every byte on, in order, each way no sooner than its delay', async t => {
  // An echo server: what the proxy delays on the way in comes back and is delayed again on the way out.
  const echo = createServer(socket => { socket.pipe(socket) })
  echo.listen(0, '127.0.0.1')
  await once(echo, 'listening')
  t.teardown(() => { echo.close() })
  const port = await freePort()
  const proxy = await startDelayProxy({ listen: { host: '127.0.0.1', port }, target: { host: '127.0.0.1', port: (echo.address() as AddressInfo).port }, oneWayMs: 60 })
  t.teardown(proxy.close)
  const client: Socket = connect({ host: '127.0.0.1', port })
  await once(client, 'connect')
  const sent = Buffer.from(Array.from({ length: 3 * 1024 * 1024 }, (_, i) => (i * 7) & 0xff))
  const received: Buffer[] = []
  let firstAt: number | undefined
  const done = new Promise<void>(resolve => {
    let bytes = 0
    client.on('data', (chunk: Buffer) => {
      firstAt ??= performance.now()
      received.push(chunk)
      bytes += chunk.byteLength
      if (bytes >= sent.byteLength) resolve()
    })
  })
  const start = performance.now()
  client.write(sent)
  await done
  client.destroy()
  t.true(Buffer.concat(received).equals(sent))
  t.true(firstAt! - start >= 115, `the first byte came back after ${(firstAt! - start).toFixed(0)} ms, under the round trip`)
})
