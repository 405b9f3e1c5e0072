import { Status } from '@shoal/proto'
import type { PeerResponse } from '@shoal/proto'

/** The three requests that get an answer (a cancel gets none). */
export type RequestKind = 'pieceTable' | 'bitfield' | 'piece'

/** The body of an answer that carries only a status (NOT_FOUND, BUSY, ERROR, CANCELLED). */
export function refusal (kind: RequestKind, status: Status, index = 0): Omit<PeerResponse, 'id'> {
  switch (kind) {
    case 'pieceTable': return { pieceTable: { status, size: 0n, pieceSize: 0, pieces: [] } }
    case 'bitfield': return { bitfield: { status, pieceCount: 0, bitfield: new Uint8Array(0), complete: false } }
    case 'piece': return { piece: { status, index, length: 0 } }
  }
}

/** The statuses with which a peer declines a request, as opposed to a malformed answer. */
export const REFUSALS: ReadonlySet<Status> = new Set([Status.NOT_FOUND, Status.BUSY, Status.ERROR, Status.CANCELLED])
