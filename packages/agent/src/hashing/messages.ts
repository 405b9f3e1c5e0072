/** What the main thread and the hashing thread (hash-worker.js) say to each other. */

export type ToHashThread =
  | { op: 'open', id: number, algorithm: string }
  /** `length` bytes at the start of `buffer` (transferred); into the piece hash too when `piece`. */
  | { op: 'data', id: number, buffer: ArrayBuffer, length: number, piece: boolean }
  /** Ends the session's piece hash: answered with its hex digest. */
  | { op: 'piece', id: number }
  /** Ends the session: answered with the blob's hex digest. */
  | { op: 'end', id: number }
  | { op: 'drop', id: number }

export type FromHashThread =
  /** A staging buffer hashed and handed back. */
  | { op: 'buffer', buffer: ArrayBuffer }
  | { op: 'piece', id: number, hex: string }
  | { op: 'end', id: number, hex: string }
