import { readFileSync } from 'node:fs'
import { getHeapStatistics } from 'node:v8'
import { createHash } from 'node:crypto'
import { AgentMessage, decodeAgentMessage, PieceSource, pieceSizeFor } from '@shoal/proto'
import type { Digest, SchedulerMessage } from '@shoal/proto'
import { encodeSchedulerMessage, parsePeerInfo, SchedulerService } from '@shoal/scheduler'
import * as C from './constants.ts'
import { quantile } from '../mirror/stats.ts'
import { agentIndexOf, makeWorkload } from './workload.ts'
import type { SimAgent, WorkloadInit } from './workload.ts'

/**
 * One size of the load run, in this process: a real SchedulerService, fed every agent message as
 * the server feeds it (encoded with the protobuf codec, then `decodeAgentMessage`, then `handle`),
 * its answers encoded as the server encodes them (`encodeSchedulerMessage`: once per message,
 * however many agents it goes to) and dropped after the simulated agent has read what it acts on
 * (its origin pieces, its parents and their bitfields). Time is simulated:
 * a round is ROUND_MS; in each round every agent that is pulling reports what it finished since
 * the last one, as the agent's PieceReporter does (one PiecesFinished per source and parent, then
 * its piece table when `tables`), and at the end of the round the scheduler decides (`tick`).
 */
export interface SizeInit extends WorkloadInit {
  /** Send the agent's piece table after every report, as agents do. */
  tables: boolean
}

export interface Distribution {
  count: number
  p50Ms: number
  p99Ms: number
  maxMs: number
}

export interface SizeResult {
  agents: number
  tasks: number
  pieces: number
  downloads: number
  /** Downloaders of the most pulled task, and seeds (holders at the start) over all tasks. */
  maxDownloadersPerTask: number
  seeds: number
  registration: { wallMs: number, messages: number }
  report: {
    rounds: number
    /** Pieces reported finished (the "piece reports" of the goal). */
    pieces: number
    piecesFromOrigin: number
    /** Frames the scheduler decoded and handled in the phase, by kind. */
    frames: { piecesFinished: number, pieceTable: number, announceTask: number }
    wallMs: number
    /** CPU time of the process in the phase (every thread: JS, GC helpers). */
    cpuMs: number
    /** decodeAgentMessage + handle, summed over the frames. */
    handleMs: number
    tickMs: number
    reportsPerSecond: number
    reportsPerCpuSecond: number
    /** Downloads not finished when the run stopped (0 unless the swarm got stuck). */
    unfinished: number
  }
  decisions: Distribution
  ticks: Distribution
  sent: { messages: number, bytes: number }
  memory: { peakRssBytes: number, peakHeapUsedBytes: number, endHeapUsedBytes: number, endRssBytes: number }
}

const EMPTY = new Uint8Array(0)

interface Pull {
  task: number
  digest: Digest
  held: Uint8Array
  count: number
  origin: readonly number[]
  parents: Array<{ agent: number, bits: Uint8Array }>
  done: boolean
}

export function runSize (init: SizeInit): SizeResult {
  const workload = makeWorkload(init)
  const { agents, digests } = workload
  const pieceSize = pieceSizeFor(C.TASK_BYTES)
  const pieceCount = C.TASK_BYTES / pieceSize
  const bitfieldBytes = Math.ceil(pieceCount / 8)
  const taskOf = new Map(digests.map((d, t) => [d, t]))
  const cids = digests.map(d => Array.from({ length: pieceCount }, (_, i) => pieceCidBytes(d, i)))
  const fullBitfield = new Uint8Array(bitfieldBytes).fill(0xff)

  const clock = { now: 1_000_000 }
  const decisionMs: number[] = []
  const service = new SchedulerService({ now: () => clock.now, events: { onDecision: e => { decisionMs.push(e.seconds * 1000) } } })
  const pulls = agents.map(() => new Map<number, Pull>())
  const sent = { messages: 0, bytes: 0 }
  const frames = { piecesFinished: 0, pieceTable: 0, announceTask: 0 }
  let handleMs = 0

  // What the scheduler sends is encoded at once, as the server does; the simulated agent reads it
  // after the timed call (readInbox), so that the agents' side is not counted as the scheduler's time.
  const inbox: Array<[SimAgent, SchedulerMessage]> = []
  const linkOf = (agent: SimAgent): { send: (m: SchedulerMessage) => void } => ({
    send: m => {
      sent.bytes += encodeSchedulerMessage(m).byteLength
      sent.messages++
      inbox.push([agent, m])
    }
  })
  const readInbox = (): void => {
    for (const [agent, m] of inbox) {
      if (m.origin != null) {
        const pull = pulls[agent.index]!.get(taskOf.get(m.origin.digest as Digest) ?? -1)
        if (pull != null) pull.origin = m.origin.pieces
      } else if (m.parents != null) {
        const pull = pulls[agent.index]!.get(taskOf.get(m.parents.digest as Digest) ?? -1)
        if (pull != null) pull.parents = m.parents.parents.map(p => ({ agent: agentIndexOf(p.peerId), bits: p.bitfield }))
      }
    }
    inbox.length = 0
  }
  const deliver = (agent: SimAgent, message: AgentMessage): void => {
    const frame = AgentMessage.encode(message)
    const started = performance.now()
    service.handle(agent.key, decodeAgentMessage(frame))
    handleMs += performance.now() - started
    readInbox()
  }

  // Registration: Register frames, as the server reads them, then every held task announced in full.
  const registrationStarted = performance.now()
  let registrationMessages = 0
  for (const agent of agents) {
    const first = decodeAgentMessage(AgentMessage.encode({
      register: { addresses: agent.addresses, hostName: agent.hostName, site: agent.site, zone: agent.zone, uploadSlots: C.AGENT_UPLOAD_SLOTS, uploadBytesPerSecond: 0n, joinToken: '' }
    }))
    if (first.kind !== 'register') throw new Error('a Register frame decoded as something else')
    const info = parsePeerInfo({ id: agent.key, site: first.site, zone: first.zone, uploadSlots: first.uploadSlots })
    service.connect(agent.key, { info, peerIdBytes: agent.peerIdBytes, addresses: first.addresses.map(a => a.slice()), hostName: first.hostName }, linkOf(agent))
    for (const t of agent.held) {
      deliver(agent, { announceTask: { digest: digests[t]!, size: BigInt(C.TASK_BYTES), bitfield: fullBitfield, wantsPieces: false } })
      if (init.tables) deliver(agent, { pieceTable: { digest: digests[t]!, size: BigInt(C.TASK_BYTES), pieceSize, pieces: cids[t]! } })
    }
    registrationMessages += 1 + agent.held.length * (init.tables ? 2 : 1)
  }
  service.tick()
  readInbox()
  const registrationWallMs = performance.now() - registrationStarted
  decisionMs.length = 0
  handleMs = 0

  // The pulls.
  const tickMs: number[] = []
  let peakHeapUsed = getHeapStatistics().used_heap_size
  let reported = 0
  let fromOrigin = 0
  let unfinished = agents.reduce((n, a) => n + a.downloads.length, 0)
  const cpuStarted = process.cpuUsage()
  const started = performance.now()
  let round = 0
  for (; unfinished > 0 && round < C.MAX_ROUNDS; round++) {
    clock.now += C.ROUND_MS
    for (const agent of agents) {
      if (round < agent.startRound) continue
      const mine = pulls[agent.index]!
      if (round === agent.startRound) {
        for (const t of agent.downloads) {
          mine.set(t, { task: t, digest: digests[t]!, held: new Uint8Array(pieceCount), count: 0, origin: [], parents: [], done: false })
          frames.announceTask++
          deliver(agent, { announceTask: { digest: digests[t]!, size: BigInt(C.TASK_BYTES), bitfield: new Uint8Array(bitfieldBytes), wantsPieces: true } })
        }
        continue
      }
      for (const pull of mine.values()) {
        if (pull.done) continue
        const batches = finishSome(pull, agent.piecesPerReport)
        for (const [parent, indexes] of batches) {
          frames.piecesFinished++
          reported += indexes.length
          if (parent < 0) fromOrigin += indexes.length
          deliver(agent, {
            piecesFinished: {
              digest: pull.digest,
              indexes,
              source: parent < 0 ? PieceSource.SOURCE_ORIGIN : PieceSource.SOURCE_PEER,
              parent: parent < 0 ? new Uint8Array() : agents[parent]!.peerIdBytes,
              bytes: BigInt(indexes.length * pieceSize),
              // As the agent does: an origin report carries the bytes read since the last.
              originBytes: BigInt(parent < 0 ? indexes.length * pieceSize : 0),
              reading: []
            }
          })
        }
        // As the agent does: its table goes out after pieces read from the origin (new CIDs) and at the end.
        if (init.tables && ((batches.get(-1)?.length ?? 0) > 0 || pull.count === pieceCount)) {
          frames.pieceTable++
          const table = cids[pull.task]!
          deliver(agent, { pieceTable: { digest: pull.digest, size: BigInt(C.TASK_BYTES), pieceSize, pieces: table.map((cid, i) => pull.held[i] === 1 ? cid : EMPTY) } })
        }
        if (pull.count === pieceCount) {
          pull.done = true
          unfinished--
          frames.announceTask++
          deliver(agent, { announceTask: { digest: pull.digest, size: BigInt(C.TASK_BYTES), bitfield: fullBitfield, wantsPieces: false } })
          mine.delete(pull.task)
        }
      }
    }
    const tickStarted = performance.now()
    service.tick()
    tickMs.push(performance.now() - tickStarted)
    readInbox()
    peakHeapUsed = Math.max(peakHeapUsed, getHeapStatistics().used_heap_size)
  }
  const wallMs = performance.now() - started
  const cpu = process.cpuUsage(cpuStarted)
  const cpuMs = (cpu.user + cpu.system) / 1000
  const memory = process.memoryUsage()

  return {
    agents: init.agents,
    tasks: init.tasks,
    pieces: pieceCount,
    downloads: workload.downloaders.reduce((a, b) => a + b, 0),
    maxDownloadersPerTask: Math.max(...workload.downloaders),
    seeds: workload.seeds.reduce((a, b) => a + b, 0),
    registration: { wallMs: registrationWallMs, messages: registrationMessages },
    report: {
      rounds: round,
      pieces: reported,
      piecesFromOrigin: fromOrigin,
      frames,
      wallMs,
      cpuMs,
      handleMs,
      tickMs: tickMs.reduce((a, b) => a + b, 0),
      reportsPerSecond: reported / (wallMs / 1000),
      reportsPerCpuSecond: reported / (cpuMs / 1000),
      unfinished
    },
    decisions: distribution(decisionMs),
    ticks: distribution(tickMs),
    sent,
    memory: { peakRssBytes: peakRss(), peakHeapUsedBytes: peakHeapUsed, endHeapUsedBytes: memory.heapUsed, endRssBytes: memory.rss }
  }
}

/**
 * What one download finishes this round: up to `budget` pieces it lacks, first those the
 * scheduler told it to read from the origin, then, in order, pieces one of its parents holds (as
 * the scheduler last described them). Returns the pieces by source: -1 for the origin, else the
 * parent's agent index.
 */
function finishSome (pull: Pull, budget: number): Map<number, number[]> {
  const batches = new Map<number, number[]>()
  const take = (index: number, source: number): void => {
    pull.held[index] = 1
    pull.count++
    budget--
    let batch = batches.get(source)
    if (batch == null) batches.set(source, batch = [])
    batch.push(index)
  }
  for (const index of pull.origin) {
    if (budget === 0) break
    if (pull.held[index] === 0) take(index, -1)
  }
  for (let index = 0; index < pull.held.length && budget > 0; index++) {
    if (pull.held[index] === 1) continue
    const mask = 0x80 >> (index & 7)
    for (const parent of pull.parents) {
      if (((parent.bits[index >> 3] ?? 0) & mask) === 0) continue
      take(index, parent.agent)
      break
    }
  }
  return batches
}

/** The raw sha2-256 CID (36 bytes) of a stand-in for piece `index` of `digest`: the same on every agent. */
function pieceCidBytes (digest: Digest, index: number): Uint8Array<ArrayBuffer> {
  const hash = createHash('sha256').update(`${digest}/${index}`).digest()
  return Uint8Array.from([0x01, 0x55, 0x12, 0x20, ...hash])
}

function distribution (valuesMs: number[]): Distribution {
  const sorted = [...valuesMs].sort((a, b) => a - b)
  return { count: sorted.length, p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99), maxMs: sorted.at(-1) ?? Number.NaN }
}

/** The process's peak resident set (VmHWM), in bytes. */
function peakRss (): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))
  return match == null ? Number.NaN : Number(match[1]) * 1024
}
