/**
 * The hashing thread (HashThread starts it): keeps one blob hash and one piece hash per session
 * and hashes the bytes the main thread copies into staging buffers, which go back to the main
 * thread once hashed. Messages are handled in the order they were posted, so a session's digests
 * cover exactly the bytes posted before the request for them. Only node: modules: nothing of ours
 * is loaded in this thread.
 */
import { createHash } from 'node:crypto'
import type { Hash } from 'node:crypto'
import { parentPort } from 'node:worker_threads'
import type { ToHashThread } from './messages.ts'

interface Session {
  blob: Hash
  piece?: Hash
}

const sessions = new Map<number, Session>()
const port = parentPort
if (port == null) throw new Error('hash-worker.ts runs as a worker thread only')

port.on('message', (message: ToHashThread) => {
  switch (message.op) {
    case 'open':
      sessions.set(message.id, { blob: createHash(message.algorithm) })
      return
    case 'data': {
      const session = sessions.get(message.id)
      const bytes = new Uint8Array(message.buffer, 0, message.length)
      if (session != null) {
        session.blob.update(bytes)
        if (message.piece) (session.piece ??= createHash('sha256')).update(bytes)
      }
      port.postMessage({ op: 'buffer', buffer: message.buffer }, [message.buffer])
      return
    }
    case 'piece': {
      const session = sessions.get(message.id)
      const hex = (session?.piece ?? createHash('sha256')).digest('hex')
      if (session != null) session.piece = undefined
      port.postMessage({ op: 'piece', id: message.id, hex })
      return
    }
    case 'end': {
      const session = sessions.get(message.id)
      sessions.delete(message.id)
      port.postMessage({ op: 'end', id: message.id, hex: session?.blob.digest('hex') ?? '' })
      return
    }
    case 'drop':
      sessions.delete(message.id)
  }
})
