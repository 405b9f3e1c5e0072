/**
 * Worker thread of link-proxy.ts: runs the test fixtures' counting proxy, throttled, on its own
 * event loop, so that the client hashing in the benchmark's main thread does not slow the link.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { startCountingProxy } from '@shoal/test/fixtures/index.ts'
import type { LinkProxyReply, LinkProxyRequest, LinkProxyWorkerData } from './link-proxy.ts'

const port = parentPort
if (port == null) throw new Error('link-proxy-worker.ts runs as a worker thread only')
const { target, bytesPerSecond } = workerData as LinkProxyWorkerData
const send = (reply: LinkProxyReply): void => { port.postMessage(reply) }

try {
  const proxy = await startCountingProxy(target, { bytesPerSecond })
  port.on('message', (request: LinkProxyRequest) => {
    switch (request.type) {
      case 'egress':
        send({ type: 'egress', id: request.id, bytes: proxy.egressBytes })
        return
      case 'stop':
        // Closing the port once the proxy is down leaves the thread nothing to do: it exits.
        proxy.stop().catch((err: unknown) => {
          send({ type: 'error', message: `stopping the proxy failed: ${(err as Error).message}` })
        }).finally(() => { port.close() })
    }
  })
  send({ type: 'ready', url: proxy.url, host: proxy.host })
} catch (err) {
  send({ type: 'error', message: `the proxy did not start: ${(err as Error).message}` })
  port.close()
}
