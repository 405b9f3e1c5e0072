import test from 'ava'
import { multiaddr } from '@multiformats/multiaddr'
import { KnownAddresses } from '../../src/p2p/known-addresses.ts'

const a = multiaddr('/ip4/127.0.0.1/tcp/4001').bytes
const b = multiaddr('/ip4/127.0.0.1/tcp/4002').bytes

test('the same addresses again are no change; new ones, another order or another peer are', t => {
  const known = new KnownAddresses()
  t.true(known.changed('p1', [a]))
  t.false(known.changed('p1', [a]))
  t.false(known.changed('p1', [Uint8Array.from(a)]), 'equal bytes in another buffer')
  t.true(known.changed('p1', [a, b]))
  t.false(known.changed('p1', [a, b]))
  t.true(known.changed('p1', [b, a]))
  t.true(known.changed('p2', [b, a]))
  t.true(known.changed('p1', []))
})

test('past its bound the oldest peer is forgotten, so its next naming counts as a change', t => {
  const known = new KnownAddresses(2)
  t.true(known.changed('p1', [a]))
  t.true(known.changed('p2', [a]))
  t.false(known.changed('p1', [a]), 'p1 seen again: now the newest')
  t.true(known.changed('p3', [a]), 'p2 is the oldest and goes')
  t.false(known.changed('p1', [a]))
  t.true(known.changed('p2', [a]))
})

test('a peer forgotten (its merge failed) counts as changed at its next naming', t => {
  const known = new KnownAddresses()
  t.true(known.changed('p1', [a]))
  known.forget('p1')
  t.true(known.changed('p1', [a]))
  t.false(known.changed('p1', [a]))
})
