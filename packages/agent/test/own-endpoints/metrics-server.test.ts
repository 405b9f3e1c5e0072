import { once } from 'node:events'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import test from 'ava'
import { METRICS_MAX_CONNECTIONS } from '../../src/constants.ts'
import { silentLogger } from '../../src/logger.ts'
import { AgentMetrics } from '../../src/metrics.ts'
import { MetricsServer } from '../../src/own-endpoints/metrics-server.ts'

/** Sends raw bytes on a new connection; resolves with all it got back before the server closed it (or after 5 s). */
async function exchange (port: number, bytes: string): Promise<string> {
  const socket = connect(port, '127.0.0.1')
  socket.setTimeout(5_000, () => { socket.destroy() })
  let got = ''
  socket.setEncoding('utf8').on('data', (chunk: string) => { got += chunk })
  socket.on('error', () => {})
  socket.write(bytes)
  await once(socket, 'close')
  return got
}

async function start (t: { teardown: (fn: () => Promise<void>) => void }): Promise<number> {
  const server = new MetricsServer({ metrics: new AgentMetrics(), ready: () => true, logger: silentLogger })
  const { port } = await server.start({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => { await server.stop() })
  return port
}

test('past METRICS_MAX_CONNECTIONS open connections a new one is closed unanswered; once one ends, requests are answered again', async t => {
  const port = await start(t)
  const held: Socket[] = []
  t.teardown(() => { for (const s of held) s.destroy() })
  for (let i = 0; i < METRICS_MAX_CONNECTIONS; i++) {
    const socket = connect(port, '127.0.0.1')
    socket.on('error', () => {})
    held.push(socket)
    await once(socket, 'connect')
  }
  // A request on each held connection proves the server counts them all (it has accepted each).
  await Promise.all(held.map(async s => {
    s.write('GET /healthz HTTP/1.1\r\nHost: m\r\n\r\n')
    await once(s, 'data')
  }))
  t.is(await exchange(port, 'GET /healthz HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n'), '')
  held.pop()?.destroy()
  let answer = ''
  for (let i = 0; i < 50 && !answer.startsWith('HTTP/1.1 200'); i++) {
    answer = await exchange(port, 'GET /healthz HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n')
  }
  t.regex(answer, /^HTTP\/1\.1 200 /)
})

test('garbage and a TLS ClientHello get 400 and a closed connection, never a hang', async t => {
  const port = await start(t)
  t.regex(await exchange(port, 'NOT HTTP\r\n\r\n'), /^HTTP\/1\.1 400 /)
  t.regex(await exchange(port, '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03'), /^HTTP\/1\.1 400 /)
})

test('[::] takes the port on every IPv6 address: /healthz answers on ::1', async t => {
  const server = new MetricsServer({ metrics: new AgentMetrics(), ready: () => true, logger: silentLogger })
  const address = await server.start({ host: '::', port: 0 })
  t.teardown(async () => { await server.stop() })
  t.is(address.host, '::')
  const res = await fetch(`http://[::1]:${address.port}/healthz`)
  t.is(res.status, 200)
  t.is(await res.text(), 'ok\n')
})
