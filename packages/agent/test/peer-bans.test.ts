import test from 'ava'
import { PeerBans } from '../src/peer-bans.ts'
import type { BanReason } from '../src/peer-bans.ts'

function bans (): { bans: PeerBans, banned: Array<[string, BanReason]>, advance: (ms: number) => void } {
  let now = 1_000
  const banned: Array<[string, BanReason]> = []
  return {
    bans: new PeerBans({ durationMs: 60_000, badPieceLimit: 3, now: () => now, onBan: (peer, reason) => banned.push([peer, reason]) }),
    banned,
    advance: ms => { now += ms }
  }
}

test('a wrong piece table bans the peer at once, for the ban\'s duration', t => {
  const { bans: b, banned, advance } = bans()
  t.false(b.isBanned('p1'))
  b.ban('p1', 'bad-table')
  t.true(b.isBanned('p1'))
  t.false(b.isBanned('p2'))
  t.deepEqual(banned, [['p1', 'bad-table']])
  t.is(b.size, 1)
  advance(59_999)
  t.true(b.isBanned('p1'))
  advance(1)
  t.false(b.isBanned('p1'), 'the ban ends')
  t.is(b.size, 0)
})

test('bad pieces count against a peer across blobs; the third bans it', t => {
  const { bans: b, banned } = bans()
  b.badPiece('p1')
  b.badPiece('p1')
  b.badPiece('p2')
  t.false(b.isBanned('p1'))
  b.badPiece('p1')
  t.true(b.isBanned('p1'))
  t.false(b.isBanned('p2'))
  t.deepEqual(banned, [['p1', 'bad-pieces']])
})
