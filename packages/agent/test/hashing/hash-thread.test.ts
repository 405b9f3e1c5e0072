import { createHash } from 'node:crypto'
import test from 'ava'
import fc from 'fast-check'
import { HashThread, inThreadHashing } from '../../src/hashing/hash-thread.ts'
import type { BlobHashing } from '../../src/hashing/hash-thread.ts'
import { HASH_STAGING_BUFFER_BYTES, HASH_STAGING_BUFFERS } from '../../src/constants.ts'

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

/** Chunks of `bytes` cut at `cuts`, each marked as piece bytes or not, with a piece ended after the chunks flagged so. */
interface Step { length: number, piece: boolean, endPiece: boolean }

async function feed (hashing: BlobHashing, bytes: Uint8Array, steps: Step[]): Promise<{ pieces: string[], blob: string }> {
  const pieces: Array<Promise<string>> = []
  let at = 0
  for (const step of steps) {
    const chunk = bytes.subarray(at, at + step.length)
    at += chunk.byteLength
    await hashing.update(chunk, step.piece)
    if (step.endPiece) pieces.push(hashing.endPiece())
  }
  return { pieces: await Promise.all(pieces), blob: await hashing.digest() }
}

/** What the steps must give: the blob's sha256, and per ended piece the sha256 of the piece-marked bytes since the last end. */
function expected (bytes: Uint8Array, steps: Step[]): { pieces: string[], blob: string } {
  const pieces: string[] = []
  let piece = createHash('sha256')
  let at = 0
  for (const step of steps) {
    const chunk = bytes.subarray(at, at + step.length)
    at += chunk.byteLength
    if (step.piece) piece.update(chunk)
    if (step.endPiece) {
      pieces.push(`sha256:${piece.digest('hex')}`)
      piece = createHash('sha256')
    }
  }
  return { pieces, blob: sha256(bytes.subarray(0, at)) }
}

const steps = fc.array(fc.record({
  // Chunks from a few bytes to more than every staging buffer together (the copy must wait for buffers to come back).
  length: fc.oneof(fc.integer({ min: 0, max: 4096 }), fc.integer({ min: 1, max: HASH_STAGING_BUFFER_BYTES * (HASH_STAGING_BUFFERS + 2) })),
  piece: fc.boolean(),
  endPiece: fc.boolean()
}), { maxLength: 12 })

test('off the main thread, every blob and piece digest is the one createHash gives, however the bytes are cut and marked', async t => {
  const thread = new HashThread()
  t.teardown(async () => { await thread.stop() })
  const bytes = new Uint8Array(HASH_STAGING_BUFFER_BYTES * (HASH_STAGING_BUFFERS + 2) * 12).map((_, i) => (i * 31 + (i >> 16)) & 0xff)
  await fc.assert(fc.asyncProperty(steps, async s => {
    // Two sessions at once share the thread and its buffers; neither sees the other's bytes.
    const [a, b] = await Promise.all([feed(thread.session('sha256'), bytes, s), feed(thread.session('sha256'), bytes.subarray(7), s)])
    t.deepEqual(a, expected(bytes, s))
    t.deepEqual(b, expected(bytes.subarray(7), s))
    t.deepEqual(await feed(inThreadHashing('sha256'), bytes, s), expected(bytes, s))
  }), { numRuns: 25 })
})

test('other digest algorithms hash the blob with that algorithm', async t => {
  const thread = new HashThread()
  t.teardown(async () => { await thread.stop() })
  const bytes = new Uint8Array(3 * HASH_STAGING_BUFFER_BYTES + 5).fill(9)
  const hashing = thread.session('sha512')
  await hashing.update(bytes, false)
  t.is(await hashing.digest(), createHash('sha512').update(bytes).digest('hex'))
})

test('stop() fails the open sessions by name, and no session starts after it', async t => {
  const thread = new HashThread()
  const hashing = thread.session('sha256')
  await hashing.update(new Uint8Array(1000), true)
  const piece = hashing.endPiece()
  const blob = hashing.digest()
  // Both requests are posted, and no answer can arrive before this turn of the event loop ends: they fail, not hang.
  const stopped = thread.stop()
  await t.throwsAsync(piece, { name: 'HashThreadError' })
  await t.throwsAsync(blob, { name: 'HashThreadError' })
  await stopped
  const late = thread.session.bind(thread)
  t.throws(() => late('sha256'), { name: 'HashThreadError' })
})

test('a closed session takes no more bytes; the thread goes on for the other sessions', async t => {
  const thread = new HashThread()
  t.teardown(async () => { await thread.stop() })
  const hashing = thread.session('sha256')
  await hashing.update(new Uint8Array(HASH_STAGING_BUFFER_BYTES * 2), true)
  hashing.close()
  await t.throwsAsync(hashing.update(new Uint8Array(10), false), { name: 'HashThreadError' })
  // The thread goes on for others, with every staging buffer back.
  const other = thread.session('sha256')
  const bytes = new Uint8Array(HASH_STAGING_BUFFER_BYTES * HASH_STAGING_BUFFERS * 2).fill(1)
  await other.update(bytes, false)
  t.is(await other.digest(), sha256(bytes))
})

test('the thread ends once idle for idleMs, not while a session is open, and starts again for the next session', async t => {
  const thread = new HashThread({ idleMs: 50 })
  t.teardown(async () => { await thread.stop() })
  t.false(thread.running)
  const first = thread.session('sha256')
  await first.update(new Uint8Array(10), false)
  await new Promise(resolve => setTimeout(resolve, 200))
  t.true(thread.running, 'an open session keeps it')
  t.is(await first.digest(), sha256(new Uint8Array(10)))
  await new Promise(resolve => setTimeout(resolve, 200))
  t.false(thread.running, 'ended after the idle time')
  const second = thread.session('sha256')
  t.true(thread.running)
  await second.update(new Uint8Array(HASH_STAGING_BUFFER_BYTES * 3).fill(2), true)
  t.is(await second.endPiece() as string, `sha256:${sha256(new Uint8Array(HASH_STAGING_BUFFER_BYTES * 3).fill(2))}`)
  t.is(await second.digest(), sha256(new Uint8Array(HASH_STAGING_BUFFER_BYTES * 3).fill(2)))
})
