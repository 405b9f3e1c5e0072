import { createHash } from 'node:crypto'
import type { Hash } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import type { Digest } from '@shoal/proto'
import { HASH_STAGING_BUFFER_BYTES, HASH_STAGING_BUFFERS, HASH_THREAD_IDLE_MS } from '../constants.ts'
import { HashThreadError } from '../errors.ts'
import type { FromHashThread, ToHashThread } from './messages.ts'

/**
 * The hashing of one blob's bytes in order: the whole blob's digest and, for the bytes marked so,
 * each piece's sha256. Every download hashes each byte once or twice (blob, and piece unless a
 * peer's piece was checked already); on the thread that also receives, writes and serves the bytes
 * that was a quarter of its time (`bench mirror --profile`).
 */
export interface BlobHashing {
  /** Hashes the next bytes (into the current piece's hash too when `piece`); resolves once `bytes` may be reused. */
  update: (bytes: Uint8Array, piece: boolean) => Promise<void>
  /** Ends the current piece's hash: its digest, which covers the piece bytes given since the last endPiece. */
  endPiece: () => Promise<Digest>
  /** Ends the session: the blob's digest as lowercase hex. */
  digest: () => Promise<string>
  /** Ends the session without a digest (the download failed); pending digests reject. */
  close: () => void
}

/** Hashing on the calling thread: for a download with no HashThread (tests, tools). */
export function inThreadHashing (algorithm: string): BlobHashing {
  const blob = createHash(algorithm)
  let piece: Hash | undefined
  return {
    update: async (bytes, intoPiece) => {
      blob.update(bytes)
      if (intoPiece) (piece ??= createHash('sha256')).update(bytes)
    },
    endPiece: async () => {
      const hex = (piece ?? createHash('sha256')).digest('hex')
      piece = undefined
      return `sha256:${hex}` as Digest
    },
    digest: async () => blob.digest('hex'),
    close: () => {}
  }
}

/** V8's defaults let a worker's young generation grow to tens of MiB of resident memory. */
const HASH_THREAD_RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 16 }

interface Pending {
  resolve: (hex: string) => void
  reject: (err: Error) => void
}

interface SessionState {
  pieces: Pending[]
  end?: Pending
}

/**
 * One worker thread that hashes for the whole agent (hash-worker.js): downloads, and the pieces
 * peers send. The main thread copies each chunk into one of a few reused staging buffers
 * (HASH_STAGING_BUFFERS of HASH_STAGING_BUFFER_BYTES; about a tenth of the cost of hashing it)
 * and transfers it; the worker hashes it and transfers it back. When every buffer is out, update()
 * waits: the bytes a download has received but not hashed are bounded by the buffers. Started on
 * first use, and ended after HASH_THREAD_IDLE_MS with no session (a thread holds about 16 MiB of
 * resident memory, which an agent that only uploads does not need); stop() ends it and fails the
 * sessions still open (their downloads fail with HashThreadError). A worker that dies fails its
 * sessions the same way, and the next session starts a new one.
 */
export class HashThread {
  #worker?: Worker
  #free: ArrayBuffer[] = []
  #waiting: Array<() => void> = []
  /** Sessions keeping a staging buffer partly filled until their next bytes: they post it when another needs a buffer. */
  readonly #holding = new Set<() => void>()
  readonly #sessions = new Map<number, SessionState>()
  #nextId = 1
  #stopped = false
  #idleTimer?: NodeJS.Timeout
  readonly #idleMs: number

  constructor (init: { idleMs?: number } = {}) {
    this.#idleMs = init.idleMs ?? HASH_THREAD_IDLE_MS
  }

  /** Whether a worker thread runs now (started by a session, ended when idle or stopped). */
  get running (): boolean {
    return this.#worker != null
  }

  /** A hashing session for one blob (`algorithm`: the blob digest's, e.g. sha256). */
  session (algorithm: string): BlobHashing {
    if (this.#stopped) throw new HashThreadError('the hashing thread was stopped')
    clearTimeout(this.#idleTimer)
    const worker = this.#start()
    const id = this.#nextId++
    const state: SessionState = { pieces: [] }
    this.#sessions.set(id, state)
    worker.postMessage({ op: 'open', id, algorithm } satisfies ToHashThread)
    let staged: ArrayBuffer | undefined
    let fill = 0
    let stagedPiece = false
    let open = true
    const post = (message: ToHashThread, transfer?: ArrayBuffer[]): void => {
      if (this.#worker !== worker) throw new HashThreadError('the hashing thread stopped')
      worker.postMessage(message, transfer)
    }
    const flush = (): void => {
      this.#holding.delete(flush)
      if (staged == null) return
      const buffer = staged
      staged = undefined
      if (fill === 0) {
        this.#release(buffer)
        return
      }
      post({ op: 'data', id, buffer, length: fill, piece: stagedPiece }, [buffer])
      fill = 0
    }
    const ask = async (message: ToHashThread, add: (p: Pending) => void): Promise<string> => {
      flush()
      const answer = new Promise<string>((resolve, reject) => { add({ resolve, reject }) })
      post(message)
      return answer
    }
    return {
      update: async (bytes, piece) => {
        if (!open) throw new HashThreadError('the hashing session has ended')
        if (fill > 0 && stagedPiece !== piece) flush()
        for (let at = 0; at < bytes.byteLength;) {
          if (staged == null) {
            staged = await this.#take()
            stagedPiece = piece
          }
          const take = Math.min(bytes.byteLength - at, staged.byteLength - fill)
          new Uint8Array(staged, fill, take).set(bytes.subarray(at, at + take))
          fill += take
          at += take
          if (fill === staged.byteLength) flush()
        }
        // A partly filled buffer waits for this session's next bytes, unless another session needs
        // it first: one waiting for a buffer must never wait on this session's next bytes (a peer
        // piece checked here may be what this download waits for).
        if (staged != null) this.#holding.add(flush)
      },
      endPiece: async () => `sha256:${await ask({ op: 'piece', id }, p => state.pieces.push(p))}` as Digest,
      digest: async () => {
        open = false
        return ask({ op: 'end', id }, p => { state.end = p })
      },
      close: () => {
        if (!open) return
        open = false
        this.#holding.delete(flush)
        if (staged != null) this.#release(staged)
        staged = undefined
        this.#sessions.delete(id)
        if (this.#worker === worker) worker.postMessage({ op: 'drop', id } satisfies ToHashThread)
        for (const p of state.pieces.splice(0)) p.reject(new HashThreadError('the hashing session was closed'))
        this.#idleLater()
      }
    }
  }

  /** Ends the thread; sessions still open fail. */
  async stop (): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#idleTimer)
    const worker = this.#worker
    this.#fail(new HashThreadError('the hashing thread was stopped'))
    await worker?.terminate()
  }

  #start (): Worker {
    if (this.#worker != null) return this.#worker
    // A small heap: the thread holds a few hash states and views of transferred buffers.
    const worker = new Worker(new URL('./hash-worker.js', import.meta.url), { resourceLimits: HASH_THREAD_RESOURCE_LIMITS })
    // An accelerator, not an owner of work: it never keeps the process alive on its own.
    worker.unref()
    worker.on('message', (message: FromHashThread) => { this.#answer(message) })
    worker.on('error', err => { if (this.#worker === worker) this.#fail(new HashThreadError('the hashing thread failed', { cause: err })) })
    worker.on('exit', code => { if (this.#worker === worker) this.#fail(new HashThreadError(`the hashing thread exited with code ${code}`)) })
    this.#worker = worker
    this.#free = Array.from({ length: HASH_STAGING_BUFFERS }, () => new ArrayBuffer(HASH_STAGING_BUFFER_BYTES))
    return worker
  }

  #answer (message: FromHashThread): void {
    if (message.op === 'buffer') {
      this.#release(message.buffer)
      return
    }
    const state = this.#sessions.get(message.id)
    if (state == null) return
    if (message.op === 'piece') {
      state.pieces.shift()?.resolve(message.hex)
      return
    }
    this.#sessions.delete(message.id)
    state.end?.resolve(message.hex)
    this.#idleLater()
  }

  /** With no session left, the worker ends after the idle time unless a session comes first. */
  #idleLater (): void {
    if (this.#sessions.size > 0 || this.#worker == null) return
    clearTimeout(this.#idleTimer)
    this.#idleTimer = setTimeout(() => {
      const worker = this.#worker
      if (this.#sessions.size > 0 || worker == null) return
      // Forgotten first: its exit is not a failure, and buffers it still holds are not waited for.
      this.#worker = undefined
      this.#free = []
      this.#holding.clear()
      void worker.terminate()
    }, this.#idleMs)
    this.#idleTimer.unref()
  }

  /** The worker is gone: every open session's digests fail, and waiters for a buffer are woken to find out. */
  #fail (err: Error): void {
    this.#worker = undefined
    this.#free = []
    this.#holding.clear()
    for (const state of this.#sessions.values()) {
      for (const p of state.pieces.splice(0)) p.reject(err)
      state.end?.reject(err)
    }
    this.#sessions.clear()
    for (const wake of this.#waiting.splice(0)) wake()
  }

  async #take (): Promise<ArrayBuffer> {
    const worker = this.#worker
    for (;;) {
      if (this.#worker !== worker || worker == null) throw new HashThreadError('the hashing thread stopped')
      const buffer = this.#free.pop()
      if (buffer != null) return buffer
      for (const post of [...this.#holding]) post()
      await new Promise<void>(resolve => { this.#waiting.push(resolve) })
    }
  }

  #release (buffer: ArrayBuffer): void {
    if (this.#worker == null) return
    this.#free.push(buffer)
    this.#waiting.shift()?.()
  }
}
