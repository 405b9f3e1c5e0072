import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { parsePieceArrivals, readRelaySpread, relaySpread } from '../bench/src/swarm/relay-spread.ts'
import type { PieceArrival } from '../bench/src/swarm/relay-spread.ts'

const T0 = Date.parse('2026-12-06T10:00:00.000Z')

function line (atMs: number, fields: Record<string, unknown>): string {
  return JSON.stringify({ time: new Date(atMs).toISOString(), level: 'debug', component: 'shoal:agent', msg: 'piece fetched', ...fields })
}

function arrival (host: string, atS: number, index: number, extra: Partial<PieceArrival> = {}): PieceArrival {
  return { host, atMs: T0 + atS * 1000, digest: 'sha256:aa', index, source: 'peer', firstByteSeconds: 0, transferSeconds: 0, ...extra }
}

test('each copy is timed from the piece\'s first copy; later copies fold into the last bucket', t => {
  const arrivals = [
    // Piece 0: read from the origin at 1 s, relayed at 2 s, 4 s and 7 s.
    arrival('h0', 1, 0, { source: 'origin' }), arrival('h1', 2, 0), arrival('h2', 4, 0), arrival('h3', 7, 0),
    // Piece 1: the origin copy at 10 s, one relay at 13 s.
    arrival('h1', 10, 1, { source: 'origin' }), arrival('h0', 13, 1),
    // Piece 2: held by one host only (not relayed yet): not counted.
    arrival('h2', 5, 2, { source: 'origin' })
  ]
  const spread = relaySpread(arrivals, 3)
  t.is(spread?.pieces, 2)
  t.deepEqual(spread?.copies.map(c => [c.copy, c.count, c.p50]), [[2, 2, 2], [3, 2, 4.5]])
})

test('the second copy\'s wait splits into time to request, first byte and transfer', t => {
  const arrivals = [
    arrival('h0', 0, 0, { source: 'origin' }),
    // Arrived 3 s after the first copy: asked at 0.5 s, first byte 2 s later, 0.5 s to come.
    arrival('h1', 3, 0, { firstByteSeconds: 2, transferSeconds: 0.5 })
  ]
  const second = relaySpread(arrivals, 8)?.second
  t.is(second?.toRequest.p50, 0.5)
  t.is(second?.firstByte.p50, 2)
  t.is(second?.transfer.p50, 0.5)
})

test('nothing relayed, or no debug lines: no spread', t => {
  t.is(relaySpread([arrival('h0', 1, 0, { source: 'origin' })], 8), undefined)
  t.is(relaySpread([], 8), undefined)
})

test('log lines: only well-formed piece fetched entries count', t => {
  const text = [
    line(T0, { digest: 'sha256:aa', index: 3, source: 'origin', firstByteSeconds: 0.1, transferSeconds: 0.2 }),
    line(T0, { digest: 'sha256:aa', index: '3', source: 'origin', firstByteSeconds: 0.1, transferSeconds: 0.2 }),
    JSON.stringify({ time: new Date(T0).toISOString(), msg: 'piece fetched later', digest: 'sha256:aa', index: 1, source: 'peer', firstByteSeconds: 0, transferSeconds: 0 }),
    '{"msg":"piece fetched", broken',
    'not json at all',
    ''
  ].join('\n')
  t.deepEqual(parsePieceArrivals(text, 'h4'), [{ host: 'h4', atMs: T0, digest: 'sha256:aa', index: 3, source: 'origin', firstByteSeconds: 0.1, transferSeconds: 0.2 }])
})

test('read from the phase\'s log files; a missing file counts as no lines', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-relay-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  await writeFile(join(dir, 'fresh-h0.log'), line(T0, { digest: 'sha256:aa', index: 0, source: 'origin', firstByteSeconds: 0, transferSeconds: 0.3 }) + '\n')
  await writeFile(join(dir, 'fresh-h1.log'), line(T0 + 1500, { digest: 'sha256:aa', index: 0, source: 'peer', firstByteSeconds: 1, transferSeconds: 0.3 }) + '\n')
  const spread = await readRelaySpread([
    { host: 'h0', file: join(dir, 'fresh-h0.log') },
    { host: 'h1', file: join(dir, 'fresh-h1.log') },
    { host: 'h2', file: join(dir, 'fresh-h2.log') }
  ], 8)
  t.deepEqual(spread?.copies.map(c => [c.copy, c.p50]), [[2, 1.5]])
  t.is(spread?.second?.toRequest.p50 != null ? Math.round(spread.second.toRequest.p50 * 10) / 10 : undefined, 0.2)
})
