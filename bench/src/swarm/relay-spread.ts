/**
 * How fast a piece spreads once the swarm has it: for every piece, the time from its first copy
 * (read from the origin by one agent) to its second, third, ... eighth copy, from the agents'
 * `piece fetched` debug lines (`bench swarm --logs`). The link charts say that links sat idle; this
 * says what the swarm waited for: a relay that is slow to start (the second copy) or slow to fan
 * out (the last). For the second copy it also splits the wait: from the first copy to the request
 * (the asker learning of the holder, or having no request free), from the request to the first
 * byte (queued at the uploader), and the transfer.
 */
import { readFile } from 'node:fs/promises'
import { quantile } from '../mirror/stats.ts'

/** One `piece fetched` line of an agent's log. */
export interface PieceArrival {
  host: string
  /** When the piece was whole and checked (ms since the epoch). */
  atMs: number
  digest: string
  index: number
  source: string
  firstByteSeconds: number
  transferSeconds: number
}

export interface Spread {
  p50: number
  p90: number
}

export interface RelaySpread {
  /** Pieces with at least two copies. */
  pieces: number
  /** Copy k (2 = the first one relayed) arrived this long after the first copy, in seconds. */
  copies: Array<{ copy: number, count: number } & Spread>
  /** The second copy's wait, split: first copy to request, request to first byte, first byte to last. */
  second?: { toRequest: Spread, firstByte: Spread, transfer: Spread }
}

const PIECE_FETCHED = 'piece fetched'

/** The `piece fetched` lines of one agent's log (JSON lines; anything else is skipped). */
export function parsePieceArrivals (text: string, host: string): PieceArrival[] {
  const arrivals: PieceArrival[] = []
  for (const line of text.split('\n')) {
    if (!line.includes(PIECE_FETCHED)) continue
    let entry: Record<string, unknown>
    try {
      entry = JSON.parse(line) as Record<string, unknown>
    } catch {
      continue
    }
    const atMs = Date.parse(String(entry.time))
    const { digest, index, source, firstByteSeconds, transferSeconds } = entry
    if (entry.msg !== PIECE_FETCHED || !Number.isFinite(atMs) || typeof digest !== 'string' || typeof index !== 'number' ||
      typeof source !== 'string' || typeof firstByteSeconds !== 'number' || typeof transferSeconds !== 'number') continue
    arrivals.push({ host, atMs, digest, index, source, firstByteSeconds, transferSeconds })
  }
  return arrivals
}

/** Copies 2..maxCopy (later copies count as maxCopy), over every piece held by two hosts or more. */
export function relaySpread (arrivals: readonly PieceArrival[], maxCopy: number): RelaySpread | undefined {
  const byPiece = new Map<string, PieceArrival[]>()
  for (const a of arrivals) {
    const key = `${a.digest}/${a.index}`
    const list = byPiece.get(key) ?? []
    list.push(a)
    byPiece.set(key, list)
  }
  const after = new Map<number, number[]>()
  const toRequest: number[] = []
  const firstByte: number[] = []
  const transfer: number[] = []
  let pieces = 0
  for (const list of byPiece.values()) {
    if (list.length < 2) continue
    pieces++
    list.sort((a, b) => a.atMs - b.atMs)
    const first = list[0]!.atMs
    list.slice(1).forEach((a, i) => {
      const copy = Math.min(i + 2, maxCopy)
      const delays = after.get(copy) ?? []
      delays.push((a.atMs - first) / 1000)
      after.set(copy, delays)
    })
    const second = list[1]!
    toRequest.push(Math.max(0, (second.atMs - first) / 1000 - second.firstByteSeconds - second.transferSeconds))
    firstByte.push(second.firstByteSeconds)
    transfer.push(second.transferSeconds)
  }
  if (pieces === 0) return undefined
  const spread = (values: number[]): Spread => {
    const sorted = values.sort((a, b) => a - b)
    return { p50: quantile(sorted, 0.5), p90: quantile(sorted, 0.9) }
  }
  const copies = [...after.entries()].sort(([a], [b]) => a - b).map(([copy, delays]) => ({ copy, count: delays.length, ...spread(delays) }))
  return { pieces, copies, second: { toRequest: spread(toRequest), firstByte: spread(firstByte), transfer: spread(transfer) } }
}

/** The relay spread of a phase from its agents' log files; undefined without debug logs. */
export async function readRelaySpread (files: ReadonlyArray<{ host: string, file: string }>, maxCopy: number): Promise<RelaySpread | undefined> {
  const arrivals: PieceArrival[] = []
  for (const { host, file } of files) {
    const text = await readFile(file, 'utf8').catch(() => '')
    arrivals.push(...parsePieceArrivals(text, host))
  }
  return relaySpread(arrivals, maxCopy)
}
