/**
 * A TCP proxy that holds every byte for a fixed time each way: a distant origin (an edge site's
 * registry across a WAN) on a machine whose kernel has no netem. Run as a process in the origin's
 * namespace (`node delay-proxy.ts LISTEN TARGET ONE_WAY_MS`), it prints `ready` once listening.
 *
 * What it models: each request waits the round trip before its first byte comes back, and each
 * direction carries at most DELAY_PROXY_WINDOW_BYTES unacknowledged (held and unwritten) at once.
 * What it does not: the TCP between the proxy and a client sees loopback-like round trips, so slow
 * start and loss recovery over the long path are not reproduced; the penalty it shows is a lower
 * bound of a real WAN's.
 */
import { connect, createServer } from 'node:net'
import type { Socket } from 'node:net'

/** Bytes one direction of a connection may hold at once (read from one side, not yet written to the other). */
export const DELAY_PROXY_WINDOW_BYTES = 4 * 1024 * 1024

/** Copies `from` to `to`, each chunk `delayMs` after it was read; pauses `from` while the window is full. */
export function pipeDelayed (from: Socket, to: Socket, delayMs: number, windowBytes = DELAY_PROXY_WINDOW_BYTES): void {
  let held = 0
  from.on('data', (chunk: Buffer) => {
    held += chunk.byteLength
    if (held >= windowBytes) from.pause()
    // Timers of one duration fire in the order they were set: the bytes keep their order.
    setTimeout(() => {
      if (to.destroyed) return
      to.write(chunk, () => {
        held -= chunk.byteLength
        if (held < windowBytes && from.isPaused()) from.resume()
      })
    }, delayMs)
  })
  from.once('end', () => { setTimeout(() => { to.end() }, delayMs) })
  from.once('close', () => { setTimeout(() => { to.destroySoon() }, delayMs) })
  from.on('error', () => { to.destroy() })
}

export interface DelayProxyInit {
  listen: { host: string, port: number }
  target: { host: string, port: number }
  oneWayMs: number
}

/** Starts the proxy; resolves once it listens. */
export async function startDelayProxy (init: DelayProxyInit): Promise<{ close: () => Promise<void> }> {
  const sockets = new Set<Socket>()
  const server = createServer({ noDelay: true }, client => {
    const upstream = connect({ host: init.target.host, port: init.target.port, noDelay: true })
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.once('close', () => { sockets.delete(s) })
    }
    pipeDelayed(client, upstream, init.oneWayMs)
    pipeDelayed(upstream, client, init.oneWayMs)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(init.listen.port, init.listen.host, () => { resolve() })
  })
  return {
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>(resolve => { server.close(() => { resolve() }) })
    }
  }
}

function hostPort (text: string | undefined, what: string): { host: string, port: number } {
  const at = text?.lastIndexOf(':') ?? -1
  const port = Number(text?.slice(at + 1))
  if (text == null || at <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`delay-proxy: ${what} must be HOST:PORT, not ${JSON.stringify(text)}`)
  return { host: text.slice(0, at), port }
}

if (import.meta.main) {
  const [listen, target, ms] = process.argv.slice(2)
  const oneWayMs = Number(ms)
  if (!Number.isFinite(oneWayMs) || oneWayMs < 0) throw new Error(`delay-proxy: ONE_WAY_MS must be a number >= 0, not ${JSON.stringify(ms)}`)
  const proxy = await startDelayProxy({ listen: hostPort(listen, 'LISTEN'), target: hostPort(target, 'TARGET'), oneWayMs })
  process.stdout.write('ready\n')
  process.once('SIGTERM', () => { void proxy.close().then(() => { process.exit(0) }) })
}
