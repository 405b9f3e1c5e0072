import { AbortError } from './errors.ts'

/** Waits for `promise`, or throws AbortError when `signal` aborts first (the work goes on, for whoever else waits). */
export async function raceSignal<T> (promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal == null) return await promise
  signal.throwIfAborted()
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => { reject(new AbortError('stopped waiting', { cause: signal.reason })) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([promise, aborted])
  } finally {
    if (onAbort != null) signal.removeEventListener('abort', onAbort)
  }
}
