/* eslint-disable no-console -- a command-line benchmark */
// Throughput of one libp2p stream (TCP + [pnet] + Noise + Yamux) on 127.0.0.1.
//   node src/bench.ts [--mode=proc|inproc|tcp] [--pnet] [--mib=256] [--chunk-kib=64] [--runs=3]
// env: BENCH_HWM=<bytes> writer high-water mark (default 4 MiB, 0 = none), BENCH_DEBUG=1
// proc   (default): server node in a child process, client node here (one core each)
// inproc: both nodes in this process (shares one event loop: roughly half the CPU)
// tcp   : plain node:net socket between two processes, the loopback ceiling
import { spawn } from 'node:child_process'
import { createServer, connect } from 'node:net'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { multiaddr } from '@multiformats/multiaddr'
import { createNode } from './node.ts'
import { newSwarmKey } from './swarm-key.ts'
import type { Libp2p, Stream } from '@libp2p/interface'

const BENCH_PROTOCOL = '/shoal/bench/1.0.0'
const { values: args } = parseArgs({
  args: process.argv.slice(2).filter(a => a !== '--'), // `pnpm run bench -- ...` passes the '--' through
  options: {
    mode: { type: 'string', default: 'proc' },
    pnet: { type: 'boolean', default: false },
    mib: { type: 'string', default: '256' },
    'chunk-kib': { type: 'string', default: '64' },
    runs: { type: 'string', default: '3' },
    serve: { type: 'boolean', default: false }, // internal: child process role
    'swarm-key': { type: 'string' } // internal: hex of the swarm key file
  }
})
const size = Number(args.mib) * 1024 * 1024
const chunkSize = Number(args['chunk-kib']) * 1024
const chunk = new Uint8Array(chunkSize).map((_, i) => (i * 31) & 0xff)

// writer high-water mark (bytes queued in the stream); BENCH_HWM=0 disables it
const HWM = Number(process.env.BENCH_HWM ?? 4 * 1024 * 1024)

// resolve on the first of `names`, reject if the stream closes first
function nextEvent (stream: Stream, names: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      for (const n of names) stream.removeEventListener(n as 'drain', ok)
      stream.removeEventListener('close', onClose)
      if (err != null) reject(err)
      else resolve()
    }
    const ok = (): void => done()
    const onClose = (): void => done(new Error('stream closed while waiting to write'))
    for (const n of names) stream.addEventListener(n as 'drain', ok)
    stream.addEventListener('close', onClose)
  })
}

async function sendAll (stream: Stream, bytes: number): Promise<void> {
  let sent = 0
  let falses = 0
  let maxBuf = 0
  while (sent < bytes) {
    const n = Math.min(chunkSize, bytes - sent)
    const ok = stream.send(n === chunkSize ? chunk : chunk.subarray(0, n))
    sent += n
    maxBuf = Math.max(maxBuf, stream.writeBufferLength)
    if (!ok) { falses++; await stream.onDrain({ signal: AbortSignal.timeout(30_000) }) } // write back-pressure
    // send()/onDrain alone did not bound the stream's write buffer: with HWM=0 it held
    // the whole 256 MiB at once. Also hold the writer while more than HWM bytes are queued
    while (HWM > 0 && stream.writeBufferLength > HWM) await nextEvent(stream, ['drain', 'idle'])
  }
  if (process.env.BENCH_DEBUG != null) console.error(`sendAll: ${falses} x send()=false, max stream write buffer ${maxBuf}`)
}

async function serveBench (node: Libp2p): Promise<void> {
  await node.handle(BENCH_PROTOCOL, async (stream) => {
    // request: 8 bytes, big-endian byte count
    const req = await new Promise<Uint8Array>((resolve) => {
      stream.addEventListener('message', (evt) => resolve(evt.data.subarray()), { once: true })
    })
    const want = Number(new DataView(req.buffer, req.byteOffset, 8).getBigUint64(0))
    await sendAll(stream, want)
    await stream.close()
  })
}

async function fetchBench (node: Libp2p, target: ReturnType<typeof multiaddr>, bytes: number): Promise<number> {
  const stream = await node.dialProtocol(target, BENCH_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
  const req = new Uint8Array(8)
  new DataView(req.buffer).setBigUint64(0, BigInt(bytes))
  const t0 = performance.now()
  let got = 0
  const done = new Promise<void>((resolve, reject) => {
    // the message handler consumes synchronously, so yamux keeps the window open
    stream.addEventListener('message', (evt) => { got += evt.data.byteLength })
    stream.addEventListener('remoteCloseWrite', () => resolve())
    // seen here: when the connection underneath dies, the stream may emit 'close'
    // with no error, so always check the byte count below
    stream.addEventListener('close', (evt) => evt.error != null ? reject(evt.error) : resolve())
  })
  stream.send(req)
  await done
  const secs = (performance.now() - t0) / 1000
  if (got !== bytes) throw new Error(`got ${got} of ${bytes} bytes`)
  await stream.close()
  return secs
}

function report (label: string, secs: number[]): void {
  const mbs = secs.map(s => size / s / 1e6).sort((x, y) => x - y)
  console.log(`${label}: ${args.mib} MiB x ${secs.length}, chunk ${args['chunk-kib']} KiB -> ` +
    `median ${mbs[Math.floor(mbs.length / 2)]!.toFixed(0)} MB/s (runs: ${mbs.map(m => m.toFixed(0)).join(', ')} MB/s)`)
}

const runs = Number(args.runs)

if (args.serve) {
  // child process: a node (or raw TCP server) that serves the bench protocol
  if (args.mode === 'tcp') {
    const server = createServer((sock) => {
      sock.once('data', async (req) => {
        const want = Number(req.readBigUInt64BE(0))
        let sent = 0
        while (sent < want) {
          const n = Math.min(chunkSize, want - sent)
          sent += n
          if (!sock.write(n === chunkSize ? chunk : chunk.subarray(0, n))) await new Promise(r => sock.once('drain', r))
        }
        sock.end()
      })
    }).listen(0, '127.0.0.1', () => {
      const addr = server.address() as { port: number }
      console.log(JSON.stringify({ port: addr.port }))
    })
  } else {
    const swarmKey = args['swarm-key'] != null ? Buffer.from(args['swarm-key'], 'hex') : undefined
    const node = await createNode({ swarmKey, dht: false })
    await serveBench(node)
    console.log(JSON.stringify({ addr: node.getMultiaddrs()[0]!.toString() }))
  }
  process.on('SIGTERM', () => process.exit(0))
} else if (args.mode === 'inproc') {
  const swarmKey = args.pnet ? newSwarmKey() : undefined
  const a = await createNode({ swarmKey, dht: false })
  const b = await createNode({ swarmKey, dht: false })
  try {
    await serveBench(a)
    const secs: number[] = []
    await fetchBench(b, a.getMultiaddrs()[0]!, 8 * 1024 * 1024) // warm-up
    for (let i = 0; i < runs; i++) secs.push(await fetchBench(b, a.getMultiaddrs()[0]!, size))
    report(`libp2p in-process${args.pnet ? ' +pnet' : ''}`, secs)
  } finally {
    await a.stop(); await b.stop()
  }
} else {
  // proc / tcp: start the server child, read its address from its first stdout line
  const swarmKey = args.pnet ? newSwarmKey() : undefined
  const childArgs = [process.argv[1]!, '--serve', `--mode=${args.mode}`, `--chunk-kib=${args['chunk-kib']}`]
  if (swarmKey != null) childArgs.push(`--swarm-key=${Buffer.from(swarmKey).toString('hex')}`)
  const child = spawn(process.execPath, childArgs, { stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    const first = await new Promise<string>((resolve, reject) => {
      const rl = createInterface({ input: child.stdout! })
      rl.once('line', resolve)
      child.once('exit', (code) => reject(new Error(`server exited ${code}`)))
    })
    const info = JSON.parse(first) as { addr?: string, port?: number }
    const secs: number[] = []
    if (args.mode === 'tcp') {
      const once = (bytes: number) => new Promise<number>((resolve, reject) => {
        const sock = connect(info.port!, '127.0.0.1', () => {
          const req = Buffer.alloc(8); req.writeBigUInt64BE(BigInt(bytes))
          const t0 = performance.now(); let got = 0
          sock.on('data', (d) => { got += d.byteLength })
          sock.on('end', () => got === bytes ? resolve((performance.now() - t0) / 1000) : reject(new Error(`got ${got}`)))
          sock.write(req)
        })
        sock.on('error', reject)
      })
      await once(8 * 1024 * 1024)
      for (let i = 0; i < runs; i++) secs.push(await once(size))
      report('raw TCP (node:net), two processes', secs)
    } else {
      const b = await createNode({ swarmKey, dht: false })
      try {
        const target = multiaddr(info.addr!)
        await fetchBench(b, target, 8 * 1024 * 1024) // warm-up (window growth, JIT)
        for (let i = 0; i < runs; i++) secs.push(await fetchBench(b, target, size))
        report(`libp2p two processes${args.pnet ? ' +pnet' : ''}`, secs)
      } finally {
        await b.stop()
      }
    }
  } finally {
    child.kill('SIGTERM') // by handle, i.e. this child's pid only
  }
}
