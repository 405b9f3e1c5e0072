/**
 * The hashing thread (HashThread starts it): keeps one blob hash and one piece hash per session
 * and hashes the bytes the main thread copies into staging buffers, which go back to the main
 * thread once hashed. Messages are handled in the order they were posted, so a session's digests
 * cover exactly the bytes posted before the request for them. The messages are typed in
 * messages.ts. Plain JavaScript: a .ts file would load Node's type stripper into this thread too,
 * 7 MiB more resident memory for a dozen lines. Only node: modules are loaded here.
 */
import { createHash } from 'node:crypto'
import { parentPort } from 'node:worker_threads'

/** @type {Map<number, { blob: import('node:crypto').Hash, piece?: import('node:crypto').Hash }>} */
const sessions = new Map()
const port = parentPort
if (port == null) throw new Error('hash-worker.js runs as a worker thread only')

port.on('message', message => {
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
