import test from 'ava'
import { digestOf, pieceSpan } from '@shoal/proto'
import type { Digest, PieceTable } from '@shoal/proto'
import { PieceReporter } from '../../src/layer-fetcher/piece-reporter.ts'
import type { ReportingSession } from '../../src/layer-fetcher/piece-reporter.ts'
import { openStore } from '../helpers/store.ts'
import { peerIds } from './piece-book-helpers.ts'

/** The piece size of blobs up to 16 PIECE (pieceSizeFor): N * PIECE is a blob of N pieces. */
const PIECE = 256 * 1024
const SIZE = 4 * PIECE
const blob = new Uint8Array(SIZE).map((_, i) => (i >> 18) + 1)
const digest = digestOf(blob) as Digest

function recordingSession (): ReportingSession & { finished: Array<Parameters<ReportingSession['piecesFinished']>[0]>, tables: PieceTable[] } {
  const finished: Array<Parameters<ReportingSession['piecesFinished']>[0]> = []
  const tables: PieceTable[] = []
  return {
    finished,
    tables,
    closed: false,
    reportIntervalMs: 20,
    piecesFinished: report => { finished.push(report) },
    pieceTable: table => { tables.push(table) }
  }
}

test('pieces go to the scheduler once committed, batched by source and parent; the table follows origin pieces and the end', async t => {
  const store = await openStore(t)
  const partial = await store.openPartial(digest, SIZE)
  const [parent] = await peerIds(1)
  const session = recordingSession()
  const reporter = new PieceReporter(session, store, digest)
  // As the scheduled plan wires it: the partial tells what each commit made durable.
  partial.onCommitted(indexes => { reporter.committed(indexes) })
  const write = async (index: number): Promise<void> => {
    const span = pieceSpan(SIZE, index)
    const bytes = blob.subarray(span.offset, span.offset + span.length)
    await partial.writePiece(index, [bytes], digestOf(bytes))
  }

  reporter.finished({ digest, index: 0, bytes: PIECE, source: 'peer', peer: parent!.toString() })
  reporter.finished({ digest, index: 1, bytes: PIECE, source: 'peer', peer: parent!.toString() })
  await new Promise(resolve => setTimeout(resolve, 60))
  t.deepEqual(session.finished, [], 'nothing is reported before it is committed: a child sent here would get NOT_FOUND')

  await write(0)
  await write(1)
  await partial.commit()
  await new Promise(resolve => setTimeout(resolve, 60))
  t.is(session.finished.length, 1, 'one batch for one parent')
  t.deepEqual(session.finished[0]?.indexes, [0, 1])
  t.true(session.finished[0]?.parent?.equals(parent!))
  t.is(session.finished[0]?.bytes, 2 * PIECE)
  t.deepEqual(session.tables, [], 'pieces from peers bring no CID the swarm lacks')

  reporter.finished({ digest, index: 2, bytes: PIECE, source: 'origin' })
  await write(2)
  await partial.commit()
  await new Promise(resolve => setTimeout(resolve, 60))
  t.is(session.finished.at(-1)?.source, 'origin')
  t.is(session.tables.length, 1, 'an origin piece brings its CID: the table goes out')
  t.not(session.tables[0]?.pieces[2], undefined)

  reporter.finished({ digest, index: 3, bytes: PIECE, source: 'peer', peer: parent!.toString() })
  reporter.stop()
  t.deepEqual(session.finished.at(-1)?.indexes, [3], 'at the end what was fetched goes out')
  t.is(session.tables.length, 2, 'and the table, now whole')
  await partial.close()
})

test('bytes of an assigned origin read say it goes on, and how fast: an origin report each interval with the bytes since the last', async t => {
  const store = await openStore(t)
  const partial = await store.openPartial(digest, SIZE)
  const session = recordingSession()
  const reporter = new PieceReporter(session, store, digest)
  partial.onCommitted(indexes => { reporter.committed(indexes) })

  reporter.originBytes(1000)
  reporter.originBytes(24)
  await new Promise(resolve => setTimeout(resolve, 60))
  t.deepEqual(session.finished, [{ digest, indexes: [], source: 'origin', bytes: 0, originBytes: 1024, reading: [] }], 'one report for the interval, no pieces, the bytes summed')
  await new Promise(resolve => setTimeout(resolve, 60))
  t.is(session.finished.length, 1, 'nothing more while no byte arrives')

  // Bytes arrive, and an origin piece is committed in the same interval: its report carries them.
  const span = pieceSpan(SIZE, 2)
  const bytes = blob.subarray(span.offset, span.offset + span.length)
  reporter.originBytes(PIECE - 1024)
  reporter.finished({ digest, index: 2, bytes: PIECE, source: 'origin' })
  await partial.writePiece(2, [bytes], digestOf(bytes))
  await partial.commit()
  await new Promise(resolve => setTimeout(resolve, 60))
  t.deepEqual(session.finished.slice(1), [{ digest, indexes: [2], source: 'origin', parent: undefined, bytes: PIECE, originBytes: PIECE - 1024, reading: [] }])
  reporter.stop()
})

test('the reads under way go out as they begin and end: a report names them, and the next one their end', async t => {
  const store = await openStore(t)
  const session = recordingSession()
  const reporter = new PieceReporter(session, store, digest)

  reporter.originReading(4, true)
  reporter.originReading(5, true)
  await new Promise(resolve => setTimeout(resolve, 60))
  t.deepEqual(session.finished, [{ digest, indexes: [], source: 'origin', bytes: 0, originBytes: 0, reading: [4, 5] }], 'begun, before any byte came')
  reporter.originBytes(1000)
  reporter.originReading(4, false)
  await new Promise(resolve => setTimeout(resolve, 60))
  t.deepEqual(session.finished.at(-1), { digest, indexes: [], source: 'origin', bytes: 0, originBytes: 1000, reading: [5] })
  await new Promise(resolve => setTimeout(resolve, 60))
  t.is(session.finished.length, 2, 'nothing more while nothing changes')
  reporter.stop()
})

