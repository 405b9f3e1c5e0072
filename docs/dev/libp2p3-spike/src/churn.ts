/* eslint-disable no-console -- a command-line check */
// pnet connection churn: open and close N pnet connections, then move 64 MiB
// over one stream to check the connection protector still works.
//   node src/churn.ts [N]
import { createNode } from './node.ts'
import { newSwarmKey } from './swarm-key.ts'
import { requestPiece, servePieces, MAX_PIECE } from './pieces.ts'

const n = Number(process.argv[2] ?? 3000)
const swarmKey = newSwarmKey()
const piece = new Uint8Array(MAX_PIECE).fill(7)
// every dial comes from 127.0.0.1: lift the 5/s per-IP inbound limit
const a = await createNode({ swarmKey, dht: false, inboundConnectionThreshold: 100_000 })
const b = await createNode({ swarmKey, dht: false })
try {
  await servePieces(a, async () => piece)
  const t0 = performance.now()
  let failed = 0
  for (let i = 0; i < n; i++) {
    try {
      await b.dial(a.getMultiaddrs(), { signal: AbortSignal.timeout(5000) })
      await b.hangUp(a.peerId)
    } catch (err) {
      if (failed++ === 0) console.log(`first failure at connection ${i}: ${String(err)}`)
    }
  }
  console.log(`${n} pnet connections opened and closed in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${failed} failed`)
  let ok = 0
  for (let i = 0; i < 16; i++) {
    const r = await requestPiece(b, a.peerId, { cid: new Uint8Array(1) }).catch((err: Error) => { console.log('piece fetch failed:', err.name, err.message); return undefined })
    if (r?.payload?.byteLength === MAX_PIECE) ok++
  }
  console.log(`after churn: ${ok}/16 4 MiB piece fetches succeeded`)
} finally {
  await a.stop(); await b.stop()
}
