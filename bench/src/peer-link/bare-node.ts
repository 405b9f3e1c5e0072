/**
 * The bare stack of `bench peer-link` (a): a js-libp2p node with the agent's transport, encryption
 * and muxer at their defaults (TCP, [pnet,] Noise, Yamux) and no shoal code. Run as its own
 * process, one per side:
 *
 *   node bare-node.ts serve [--swarm-key-hex H]                 prints {"addr": "<multiaddr>"}, serves until SIGTERM
 *   node bare-node.ts fetch --addr A --bytes N --runs R [--warmup-bytes W] [--swarm-key-hex H]
 *                                                                prints {"seconds": [...], "cpuSeconds": C} (one per run;
 *                                                                C: its CPU from connecting to the end)
 *
 * The fetcher asks for N bytes; the server writes them in chunks, honouring send() back-pressure
 * and a high-water mark on the stream's write buffer (send() alone does not bound it, see
 * docs/dev/libp2p3.md); the fetcher counts bytes until the server's half-close.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Libp2p, Stream } from '@libp2p/interface'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { parseArgs } from 'node:util'

const PROTOCOL = '/shoal-bench/peer-link/1.0.0'
const CHUNK_BYTES = 64 * 1024
const HIGH_WATER_BYTES = 4 * 1024 * 1024
const DIAL_TIMEOUT_MS = 10_000
const REQUEST_BYTES = 8

async function createNode (swarmKeyHex: string | undefined, listen: boolean): Promise<Libp2p> {
  return createLibp2p({
    addresses: { listen: listen ? ['/ip4/127.0.0.1/tcp/0'] : [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    ...(swarmKeyHex != null ? { connectionProtector: preSharedKey({ psk: Buffer.from(swarmKeyHex, 'hex') }) } : {})
  })
}

/** Resolves on the first of `names`; rejects when the stream closes first. */
async function nextEvent (stream: Stream, names: Array<'drain' | 'idle'>): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error): void => {
      for (const n of names) stream.removeEventListener(n, ok)
      stream.removeEventListener('close', onClose)
      if (err != null) reject(err)
      else resolve()
    }
    const ok = (): void => { done() }
    const onClose = (): void => { done(new Error('stream closed while waiting to write')) }
    for (const n of names) stream.addEventListener(n, ok)
    stream.addEventListener('close', onClose)
  })
}

async function sendBytes (stream: Stream, bytes: number): Promise<void> {
  const chunk = new Uint8Array(CHUNK_BYTES).map((_, i) => (i * 31) & 0xff)
  for (let sent = 0; sent < bytes;) {
    const n = Math.min(CHUNK_BYTES, bytes - sent)
    const ok = stream.send(n === CHUNK_BYTES ? chunk : chunk.subarray(0, n))
    sent += n
    if (!ok) await stream.onDrain({ signal: AbortSignal.timeout(30_000) })
    while (stream.writeBufferLength > HIGH_WATER_BYTES) await nextEvent(stream, ['drain', 'idle'])
  }
}

async function serve (swarmKeyHex: string | undefined): Promise<void> {
  const node = await createNode(swarmKeyHex, true)
  await node.handle(PROTOCOL, async stream => {
    const request = await new Promise<Uint8Array>(resolve => {
      stream.addEventListener('message', evt => { resolve(evt.data.subarray()) }, { once: true })
    })
    const want = Number(new DataView(request.buffer, request.byteOffset, REQUEST_BYTES).getBigUint64(0))
    await sendBytes(stream, want)
    await stream.close()
  })
  process.stdout.write(JSON.stringify({ addr: node.getMultiaddrs()[0]?.toString() }) + '\n')
  await new Promise(resolve => process.once('SIGTERM', resolve))
  await node.stop()
}

async function fetchOnce (node: Libp2p, addr: string, bytes: number): Promise<number> {
  const stream = await node.dialProtocol(multiaddr(addr), PROTOCOL, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
  const request = new Uint8Array(REQUEST_BYTES)
  new DataView(request.buffer).setBigUint64(0, BigInt(bytes))
  let got = 0
  const started = performance.now()
  const done = new Promise<void>((resolve, reject) => {
    stream.addEventListener('message', evt => { got += evt.data.byteLength })
    stream.addEventListener('remoteCloseWrite', () => { resolve() })
    // A stream whose connection dies may close without an error: the byte count below catches it.
    stream.addEventListener('close', evt => { if (evt.error != null) reject(evt.error); else resolve() })
  })
  stream.send(request)
  await done
  const seconds = (performance.now() - started) / 1000
  if (got !== bytes) throw new Error(`received ${got} of ${bytes} bytes`)
  await stream.close()
  return seconds
}

async function fetch (opts: { addr: string, bytes: number, runs: number, warmupBytes: number, swarmKeyHex?: string }): Promise<void> {
  const node = await createNode(opts.swarmKeyHex, false)
  const cpu = process.cpuUsage()
  try {
    if (opts.warmupBytes > 0) await fetchOnce(node, opts.addr, opts.warmupBytes)
    const seconds: number[] = []
    for (let i = 0; i < opts.runs; i++) seconds.push(await fetchOnce(node, opts.addr, opts.bytes))
    const used = process.cpuUsage(cpu)
    process.stdout.write(JSON.stringify({ seconds, cpuSeconds: (used.user + used.system) / 1e6 }) + '\n')
  } finally {
    await node.stop()
  }
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    addr: { type: 'string' },
    bytes: { type: 'string' },
    runs: { type: 'string', default: '1' },
    'warmup-bytes': { type: 'string', default: '0' },
    'swarm-key-hex': { type: 'string' }
  }
})
const role = positionals[0]
const run = role === 'serve'
  ? serve(values['swarm-key-hex'])
  : role === 'fetch'
    ? fetch({ addr: values.addr ?? '', bytes: Number(values.bytes), runs: Number(values.runs), warmupBytes: Number(values['warmup-bytes']), swarmKeyHex: values['swarm-key-hex'] })
    : Promise.reject(new Error(`bare-node: unknown role ${String(role)}`))
run.then(() => { process.exit(0) }, (err: Error) => {
  process.stderr.write(`bare-node ${String(role)}: ${err.stack ?? err.message}\n`)
  process.exit(1)
})
