/* eslint-disable no-console -- a command-line spike */
// End-to-end spike: pnet + noise + yamux over TCP on 127.0.0.1, Kad-DHT provide /
// findProviders, a protons request/response protocol with a 4 MiB payload, and a
// persistent peer identity. Run: node src/spike.ts
import { mkdtemp, rm } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { equals } from 'uint8arrays/equals'
import { createNode } from './node.ts'
import { loadOrCreatePrivateKey } from './identity.ts'
import { loadOrCreateSwarmKey, newSwarmKey } from './swarm-key.ts'
import { requestPiece, servePieces, MAX_PIECE } from './pieces.ts'
import { PieceResponse } from './gen/pieces.js'

const log = (...args: unknown[]): void => { console.log(`[${(performance.now() / 1000).toFixed(2)}s]`, ...args) }
let failures = 0
const check = (ok: boolean, what: string): void => { if (!ok) failures++; log(ok ? 'PASS' : 'FAIL', what) }

const root = await mkdtemp(join(tmpdir(), 'p2p-spike-'))
const dirA = join(root, 'a')
const dirB = join(root, 'b')
const swarmKey = await loadOrCreateSwarmKey(join(root, 'swarm.key'))
log('swarm key file:\n' + new TextDecoder().decode(swarmKey))

// the content A holds: one 4 MiB piece, addressed by a CIDv1 raw sha2-256
const piece = new Uint8Array(randomBytes(MAX_PIECE))
const cid = CID.createV1(raw.code, await sha256.digest(piece))
log('piece cid', cid.toString())

let a = await createNode({ privateKey: await loadOrCreatePrivateKey(dirA), swarmKey })
const b = await createNode({ privateKey: await loadOrCreatePrivateKey(dirB), swarmKey })
const nodes = new Set([a, b])
try {
  const source = async (req: { cid: Uint8Array }) => equals(req.cid, cid.bytes) ? piece : undefined
  await servePieces(a, source)
  log('A', a.peerId.toString(), a.getMultiaddrs().map(String))
  log('B', b.peerId.toString(), b.getMultiaddrs().map(String))

  // --- connect A <-> B (same swarm key) ---
  const conn = await b.dial(a.getMultiaddrs(), { signal: AbortSignal.timeout(5000) })
  check(conn.status === 'open', `B connected to A over ${conn.remoteAddr} (encryption ${conn.encryption}, muxer ${conn.multiplexer})`)
  const rtt = await b.services.ping.ping(a.peerId, { signal: AbortSignal.timeout(5000) })
  log('ping A from B:', rtt, 'ms')
  log('A handles protocols', a.getProtocols())

  // --- a node without the swarm key, and one with a different key ---
  for (const [label, key] of [['no swarm key', undefined], ['a different swarm key', newSwarmKey()]] as const) {
    const c = await createNode({ swarmKey: key, dht: false })
    nodes.add(c)
    const t0 = performance.now()
    try {
      await c.dial(a.getMultiaddrs(), { signal: AbortSignal.timeout(5000) })
      check(false, `node with ${label} connected (should not)`)
    } catch (err) {
      const e = err as Error & { errors?: Error[] }
      check(true, `node with ${label} rejected after ${(performance.now() - t0).toFixed(0)} ms: ${e.name}: ${e.message}` +
        (e.errors != null ? ` [${e.errors.map(x => `${x.name}: ${x.message}`).join('; ')}]` : ''))
    }
    await c.stop(); nodes.delete(c)
  }
  // A's view: which connections did it keep?
  check(a.getConnections().every(c => c.remotePeer.equals(b.peerId)), 'A only holds a connection to B')

  // --- DHT: A provides, B finds A ---
  let t0 = performance.now()
  await a.contentRouting.provide(cid, { signal: AbortSignal.timeout(10_000) })
  log(`A provided ${cid} in ${(performance.now() - t0).toFixed(0)} ms; A dht mode=${a.services.dht!.getMode()} B mode=${b.services.dht!.getMode()}`)
  t0 = performance.now()
  let found: { id: { toString(): string }, multiaddrs: unknown[] } | undefined
  for await (const prov of b.contentRouting.findProviders(cid, { signal: AbortSignal.timeout(10_000) })) {
    log('B findProviders ->', prov.id.toString(), prov.multiaddrs.map(String))
    if (prov.id.equals(a.peerId)) { found = prov; break }
  }
  check(found != null, `B found A as provider in ${(performance.now() - t0).toFixed(0)} ms`)

  // --- pieces protocol: B asks A for the piece ---
  t0 = performance.now()
  const { res, payload } = await requestPiece(b, a.peerId, { cid: cid.bytes, offset: 0n, length: MAX_PIECE })
  const ms = performance.now() - t0
  const digest = payload != null ? await sha256.digest(payload.subarray()) : undefined
  check(res.status === PieceResponse.Status.OK && payload?.byteLength === MAX_PIECE && digest != null && equals(digest.bytes, cid.multihash.bytes),
    `B got ${payload?.byteLength} bytes from A in ${ms.toFixed(0)} ms, sha256 matches the CID`)
  const missing = await requestPiece(b, a.peerId, { cid: CID.createV1(raw.code, await sha256.digest(new Uint8Array(1))).bytes })
  check(missing.res.status === PieceResponse.Status.NOT_FOUND && missing.payload == null, `unknown CID -> ${missing.res.status}`)

  // --- identity survives a restart ---
  const idBefore = a.peerId.toString()
  await a.stop(); nodes.delete(a)
  a = await createNode({ privateKey: await loadOrCreatePrivateKey(dirA), swarmKey })
  nodes.add(a)
  check(a.peerId.toString() === idBefore, `A restarted with the same peer id ${a.peerId}`)
  await servePieces(a, source)
  const again = await requestPiece(b, a.peerId, { cid: cid.bytes }, AbortSignal.timeout(10_000)).catch(err => err)
  // B only knows A's old port; after a restart on an ephemeral port it must be told the new address
  log('B -> restarted A by peer id only (old port):', again instanceof Error ? `${again.name}: ${again.message}` : again.res.status)
  await b.dial(a.getMultiaddrs())
  const again2 = await requestPiece(b, a.peerId, { cid: cid.bytes })
  check(again2.res.status === PieceResponse.Status.OK, 'B fetched from restarted A after dialing its new address')
} finally {
  for (const n of nodes) await n.stop()
  await rm(root, { recursive: true, force: true })
}
log(failures === 0 ? 'ALL CHECKS PASSED' : `${failures} CHECK(S) FAILED`)
process.exitCode = failures === 0 ? 0 : 1
