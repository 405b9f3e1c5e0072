// '/shoal/pieces/1.0.0': one request/response per stream.
//   client -> server: lp(PieceRequest)
//   server -> client: lp(PieceResponse) then, if status OK, lp(raw payload bytes)
// lp = unsigned-varint length prefix (what @libp2p/utils lpStream/pbStream write).
import { lpStream } from '@libp2p/utils'
import { PieceRequest, PieceResponse } from './gen/pieces.js'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

export const PIECES_PROTOCOL = '/shoal/pieces/1.0.0'
export const MAX_PIECE = 4 * 1024 * 1024
const HEADER_MAX = 1024
// lpStream buffers everything it has received but not yet read; the default
// cap (4 MiB) is smaller than a 4 MiB piece plus its header, so raise it.
const LP_OPTS = { maxDataLength: MAX_PIECE, maxBufferSize: MAX_PIECE + 64 * 1024 }

export type PieceSource = (req: PieceRequest) => Promise<Uint8Array | undefined>

export async function servePieces (node: Libp2p, source: PieceSource): Promise<void> {
  await node.handle(PIECES_PROTOCOL, async (stream: Stream) => {
    const lp = lpStream(stream, LP_OPTS)
    const signal = AbortSignal.timeout(30_000)
    const req = PieceRequest.decode(await lp.read({ signal }))
    const payload = await source(req)
    if (payload == null) {
      await lp.write(PieceResponse.encode({ status: PieceResponse.Status.NOT_FOUND }), { signal })
    } else {
      // header and payload in one write: two length-prefixed frames
      await lp.writeV([
        PieceResponse.encode({ status: PieceResponse.Status.OK, payloadLength: payload.byteLength }),
        payload
      ], { signal })
    }
    // half-close our side; resolves once buffered data has gone to the muxer
    await stream.close({ signal })
    // a throw/rejection here makes libp2p abort the stream with that error
  }, { maxInboundStreams: 64 })
}

export async function requestPiece (node: Libp2p, peer: PeerId, req: Partial<PieceRequest>,
  signal = AbortSignal.timeout(30_000)): Promise<{ res: PieceResponse, payload?: Uint8ArrayList }> {
  const stream = await node.dialProtocol(peer, PIECES_PROTOCOL, { signal })
  try {
    const lp = lpStream(stream, LP_OPTS)
    await lp.write(PieceRequest.encode(req), { signal })
    const header = await lp.read({ signal })
    if (header.byteLength > HEADER_MAX) throw new Error('header too large')
    const res = PieceResponse.decode(header)
    let payload: Uint8ArrayList | undefined
    if (res.status === PieceResponse.Status.OK) {
      payload = await lp.read({ signal })
      if (payload.byteLength !== res.payloadLength) throw new Error('payload length mismatch')
    }
    await stream.close({ signal })
    return { res, payload }
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  }
}
