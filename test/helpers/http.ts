import { request } from 'undici'
import { scrapeMetrics } from './metrics.ts'

/** Bounds one request of a test, headers and body, when the caller gives no signal. */
const TEST_REQUEST_TIMEOUT_MS = 20_000

export interface BodyResult {
  status: number
  headers: Record<string, string | string[] | undefined>
  /** The body bytes that arrived before it ended or broke off. */
  body: Buffer
  /** Set when the body (or the request) broke off instead of ending. */
  error?: Error
}

/**
 * A GET (or HEAD) that reads the whole body and reports how far it got: a broken body is a
 * result here, not an exception, so tests can assert on the bytes that did arrive.
 */
export async function fetchBody (url: string, opts: { method?: 'GET' | 'HEAD' | 'DELETE', headers?: Record<string, string>, signal?: AbortSignal } = {}): Promise<BodyResult> {
  const signal = opts.signal ?? AbortSignal.timeout(TEST_REQUEST_TIMEOUT_MS)
  let res
  try {
    res = await request(url, { method: opts.method ?? 'GET', headers: opts.headers, signal })
  } catch (err) {
    return { status: 0, headers: {}, body: Buffer.alloc(0), error: err as Error }
  }
  const chunks: Buffer[] = []
  try {
    for await (const chunk of res.body) chunks.push(chunk as Buffer)
    return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }
  } catch (err) {
    return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), error: err as Error }
  }
}

/** One sample of an agent's `/metrics` (its labels exactly `labels`); 0 when the series was never touched. */
export async function scrapeMetric (agentUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  return (await scrapeMetrics(agentUrl)).value(name, labels)
}

/** Polls `check` until it returns true; throws with `what` after `timeoutMs`. */
export async function waitFor (what: string, check: () => Promise<boolean> | boolean, opts: { timeoutMs?: number, intervalMs?: number } = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000)
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, opts.intervalMs ?? 25))
  }
}
