import { Worker } from 'node:worker_threads'
import { LINK_PROXY_TIMEOUT_MS } from './constants.ts'
import { LinkProxyError } from './errors.ts'

/**
 * The shaped origin link of (a2): the test fixtures' counting proxy in front of the origin, with
 * one throttle shared by every response body through it, run in a worker thread of its own so
 * that the client in the main thread (hashing what it pulls) does not slow the link down.
 */
export interface LinkProxy {
  /** http://127.0.0.1:PORT: the origin, as seen across the link. */
  readonly url: string
  /** 127.0.0.1:PORT */
  readonly host: string
  readonly bytesPerSecond: number
  /** Response body bytes the proxy has sent so far, all clients together (the origin's egress). */
  egressBytes: (opts?: { signal?: AbortSignal }) => Promise<number>
  /** Stops the proxy and its thread; terminates the thread if it does not stop in time. */
  stop: () => Promise<void>
}

export interface StartLinkProxyInit {
  target: { url: string }
  bytesPerSecond: number
  signal?: AbortSignal
}

/** What the worker is started with. */
export interface LinkProxyWorkerData {
  target: { url: string }
  bytesPerSecond: number
}

/** Main thread to worker. */
export type LinkProxyRequest =
  | { type: 'egress', id: number }
  | { type: 'stop' }

/** Worker to main thread. */
export type LinkProxyReply =
  | { type: 'ready', url: string, host: string }
  | { type: 'egress', id: number, bytes: number }
  | { type: 'error', message: string }

const WORKER_URL = new URL('./link-proxy-worker.ts', import.meta.url)

export async function startLinkProxy (init: StartLinkProxyInit): Promise<LinkProxy> {
  const workerData: LinkProxyWorkerData = { target: { url: init.target.url }, bytesPerSecond: init.bytesPerSecond }
  const worker = new Worker(WORKER_URL, { workerData })
  let exitCode: number | undefined
  const exited = new Promise<void>(resolve => {
    worker.once('exit', code => {
      exitCode = code
      resolve()
    })
  })
  // Failures outside of an answer (while stopping, or the thread crashing); stop() rethrows the first.
  let failure: LinkProxyError | undefined
  worker.on('message', (reply: LinkProxyReply) => {
    if (reply.type === 'error') failure ??= new LinkProxyError(`link proxy: ${reply.message}`)
  })
  worker.on('error', err => { failure ??= new LinkProxyError(`link proxy thread failed: ${err.message}`, { cause: err }) })
  const send = (request: LinkProxyRequest): void => { worker.postMessage(request) }

  const stop = async (): Promise<void> => {
    if (exitCode == null) {
      send({ type: 'stop' })
      const timer = setTimeout(() => { void worker.terminate() }, LINK_PROXY_TIMEOUT_MS)
      await exited
      clearTimeout(timer)
    }
    if (failure != null) throw failure
  }

  let ready: Extract<LinkProxyReply, { type: 'ready' }>
  try {
    ready = await answer(worker, r => r.type === 'ready' ? r : undefined, init.signal ?? AbortSignal.timeout(LINK_PROXY_TIMEOUT_MS))
  } catch (err) {
    await worker.terminate()
    throw err
  }
  let nextId = 0
  return {
    url: ready.url,
    host: ready.host,
    bytesPerSecond: init.bytesPerSecond,
    egressBytes: async (opts = {}) => {
      const id = nextId++
      const reply = answer(worker, r => r.type === 'egress' && r.id === id ? r : undefined, opts.signal ?? AbortSignal.timeout(LINK_PROXY_TIMEOUT_MS))
      send({ type: 'egress', id })
      return (await reply).bytes
    },
    stop
  }
}

/** The first message `pick` accepts; rejects on an error message, the worker failing or exiting, or `signal`. */
async function answer<T> (worker: Worker, pick: (reply: LinkProxyReply) => T | undefined, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const settle = (fn: () => void): void => {
      worker.off('message', onMessage)
      worker.off('error', onError)
      worker.off('exit', onExit)
      signal.removeEventListener('abort', onAbort)
      fn()
    }
    const onMessage = (reply: LinkProxyReply): void => {
      if (reply.type === 'error') {
        settle(() => { reject(new LinkProxyError(`link proxy: ${reply.message}`)) })
        return
      }
      const picked = pick(reply)
      if (picked !== undefined) settle(() => { resolve(picked) })
    }
    const onError = (err: Error): void => {
      settle(() => { reject(new LinkProxyError(`link proxy thread failed: ${err.message}`, { cause: err })) })
    }
    const onExit = (code: number): void => {
      settle(() => { reject(new LinkProxyError(`link proxy thread exited (code ${code}) before it answered`)) })
    }
    const onAbort = (): void => {
      settle(() => { reject(new LinkProxyError('link proxy did not answer in time', { cause: signal.reason })) })
    }
    if (signal.aborted) {
      onAbort()
      return
    }
    worker.on('message', onMessage)
    worker.on('error', onError)
    worker.on('exit', onExit)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
