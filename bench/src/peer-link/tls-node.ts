/**
 * The native reference of `bench peer-link`: Node's own TLS 1.3 over TCP, with the AEAD Noise uses
 * (ChaCha20-Poly1305) and a pre-shared key instead of certificates, no muxer and no libp2p. What it
 * spends per GiB, against the bare js-libp2p stack, is what libp2p's JavaScript stream stack costs
 * above the cipher. Run as its own process, one per side, with the interface of bare-node.ts:
 *
 *   node tls-node.ts serve --psk-hex K                            prints {"addr": "host:port"}, serves until SIGTERM
 *   node tls-node.ts fetch --addr A --psk-hex K --bytes N --runs R [--warmup-bytes W]
 *                                                                prints {"seconds": [...], "cpuSeconds": C}
 *
 * The fetcher opens one connection per run and asks for N bytes (8 bytes, big-endian); the server
 * writes them in 64 KiB chunks, honouring back-pressure, and ends the connection.
 */
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import tls from 'node:tls'
import type { TLSSocket } from 'node:tls'
import { parseArgs } from 'node:util'

const CIPHER = 'TLS_CHACHA20_POLY1305_SHA256'
const PSK_IDENTITY = 'bench'
const CHUNK_BYTES = 64 * 1024
const REQUEST_BYTES = 8
const CONNECT_TIMEOUT_MS = 10_000

function sendBytes (socket: TLSSocket, bytes: number): void {
  const chunk = new Uint8Array(CHUNK_BYTES).map((_, i) => (i * 31) & 0xff)
  let sent = 0
  const pump = (): void => {
    while (sent < bytes) {
      const n = Math.min(CHUNK_BYTES, bytes - sent)
      sent += n
      if (!socket.write(n === CHUNK_BYTES ? chunk : chunk.subarray(0, n))) {
        socket.once('drain', pump)
        return
      }
    }
    socket.end()
  }
  pump()
}

async function serve (psk: Buffer): Promise<void> {
  const server = tls.createServer({ ciphers: CIPHER, minVersion: 'TLSv1.3', pskCallback: () => psk }, socket => {
    socket.on('error', () => { socket.destroy() })
    let request = Buffer.alloc(0)
    const onData = (data: Buffer): void => {
      request = Buffer.concat([request, data])
      if (request.length < REQUEST_BYTES) return
      socket.off('data', onData)
      sendBytes(socket, Number(request.readBigUInt64BE(0)))
    }
    socket.on('data', onData)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { address, port } = server.address() as AddressInfo
  process.stdout.write(JSON.stringify({ addr: `${address}:${port}` }) + '\n')
  await new Promise(resolve => process.once('SIGTERM', resolve))
  server.close()
}

async function fetchOnce (addr: string, psk: Buffer, bytes: number): Promise<number> {
  const [host, port] = addr.split(':')
  const socket = tls.connect({
    host,
    port: Number(port),
    ciphers: CIPHER,
    minVersion: 'TLSv1.3',
    pskCallback: () => ({ psk, identity: PSK_IDENTITY }),
    // No certificate to check: the pre-shared key authenticates the server.
    checkServerIdentity: () => undefined
  })
  try {
    await once(socket, 'secureConnect', { signal: AbortSignal.timeout(CONNECT_TIMEOUT_MS) })
    const request = Buffer.alloc(REQUEST_BYTES)
    request.writeBigUInt64BE(BigInt(bytes))
    let got = 0
    const started = performance.now()
    socket.on('data', (data: Buffer) => { got += data.byteLength })
    socket.write(request)
    await once(socket, 'end')
    const seconds = (performance.now() - started) / 1000
    if (got !== bytes) throw new Error(`received ${got} of ${bytes} bytes`)
    return seconds
  } finally {
    socket.destroy()
  }
}

async function fetch (opts: { addr: string, psk: Buffer, bytes: number, runs: number, warmupBytes: number }): Promise<void> {
  const cpu = process.cpuUsage()
  if (opts.warmupBytes > 0) await fetchOnce(opts.addr, opts.psk, opts.warmupBytes)
  const seconds: number[] = []
  for (let i = 0; i < opts.runs; i++) seconds.push(await fetchOnce(opts.addr, opts.psk, opts.bytes))
  const used = process.cpuUsage(cpu)
  process.stdout.write(JSON.stringify({ seconds, cpuSeconds: (used.user + used.system) / 1e6 }) + '\n')
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    addr: { type: 'string' },
    'psk-hex': { type: 'string' },
    bytes: { type: 'string' },
    runs: { type: 'string', default: '1' },
    'warmup-bytes': { type: 'string', default: '0' }
  }
})
const role = positionals[0]
const psk = Buffer.from(values['psk-hex'] ?? '', 'hex')
const run = psk.length < 16
  ? Promise.reject(new Error('tls-node: --psk-hex of at least 16 bytes is required'))
  : role === 'serve'
    ? serve(psk)
    : role === 'fetch'
      ? fetch({ addr: values.addr ?? '', psk, bytes: Number(values.bytes), runs: Number(values.runs), warmupBytes: Number(values['warmup-bytes']) })
      : Promise.reject(new Error(`tls-node: unknown role ${String(role)}`))
run.then(() => { process.exit(0) }, (err: Error) => {
  process.stderr.write(`tls-node ${String(role)}: ${err.stack ?? err.message}\n`)
  process.exit(1)
})
