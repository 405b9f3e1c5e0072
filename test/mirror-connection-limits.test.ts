import { once } from 'node:events'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import test from 'ava'
import { layerFixture, pushImage, startRegistry } from './fixtures/index.ts'
import { startTestAgent } from './helpers/agent.ts'
import { fetchBody, scrapeMetric } from './helpers/http.ts'

/** A raw connection to the agent, connected. */
async function open (url: string): Promise<Socket> {
  const { hostname, port } = new URL(url)
  const socket = connect({ host: hostname, port: Number(port) })
  await once(socket, 'connect')
  return socket
}

test('past the connections one client may keep open, a request is answered 503 with Retry-After; a freed slot is taken again', async t => {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const agent = await startTestAgent({ upstreams: [registry.url], args: ['--max-client-connections', '3'] })
  t.teardown(agent.stop)
  const held = await Promise.all([1, 2, 3].map(async () => open(agent.url)))
  t.teardown(() => { for (const s of held) s.destroy() })

  const refused = await fetchBody(`${agent.url}/v2/`)
  t.is(refused.status, 503)
  t.is(refused.headers['retry-after'], '5')
  t.is(refused.headers.connection, 'close')
  const errors = (JSON.parse(refused.body.toString()) as { errors: Array<{ code: string, message: string }> }).errors
  t.is(errors[0]?.code, 'UNAVAILABLE')
  t.regex(errors[0]?.message ?? '', /3 connections open, the most one client may \(maxClientConnections\)/)

  const one = held.pop()
  one?.destroy()
  if (one != null) await once(one, 'close')
  // The server sees the close a moment after the client.
  await new Promise(resolve => setTimeout(resolve, 200))
  const ok = await fetchBody(`${agent.url}/healthz`)
  t.is(ok.status, 200, 'a slot freed is taken again')
  for (const s of held) s.destroy()
  await new Promise(resolve => setTimeout(resolve, 200))
  t.is(await scrapeMetric(agent.url, 'shoal_agent_connections_refused_total'), 1)
})

test('a client that stops reading a blob is cut off once nothing has moved for the idle timeout', async t => {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const image = await pushImage(registry, { name: 'team/big', tag: 'v1', format: 'oci', layers: [layerFixture({ size: 24 * 1024 * 1024, seed: 5 })] })
  const agent = await startTestAgent({ upstreams: [registry.url], args: ['--client-idle-timeout', '1s'] })
  t.teardown(agent.stop)
  const path = `/v2/team/big/blobs/${image.layers[0]?.digest ?? ''}`
  const warm = await fetchBody(`${agent.url}${path}`)
  t.is(warm.body.byteLength, 24 * 1024 * 1024, 'the blob is in the store')

  const socket = await open(agent.url)
  t.teardown(() => socket.destroy())
  socket.on('error', () => {})
  socket.write(`GET ${path} HTTP/1.1\r\nHost: agent\r\n\r\n`)
  await once(socket, 'data')
  socket.pause()
  // Stalled well past the idle timeout; then it reads again, and finds the body cut off.
  await new Promise(resolve => setTimeout(resolve, 3000))
  const closed = once(socket, 'close')
  socket.resume()
  await closed
  t.true(socket.bytesRead < 24 * 1024 * 1024, `the body was cut off after ${socket.bytesRead} bytes`)
})
