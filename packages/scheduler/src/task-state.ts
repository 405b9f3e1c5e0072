import type { Digest, PieceTable } from '@shoal/proto'
import { LocalityGroups } from './locality-groups.ts'
import type { OriginAssignment } from './origin-split.ts'
import type { PeerKey } from './types.ts'

/** A Parents message as sent: the parents in order, how many pieces each held, and when. */
export interface SentParents {
  parents: readonly PeerKey[]
  counts: readonly number[]
  at: number
}

const NO_PIECES: ReadonlySet<number> = new Set()

/** An origin reader's reports for a task since it was dealt its pieces there. */
export interface OriginSinceDeal {
  dealtAt: number
  /** Origin reports since (a piece, or bytes of one), and the times of the first and the last. */
  reports: number
  firstAt: number
  lastAt: number
  /** The origin bytes they counted (PiecesFinished.origin_bytes), and those of the first alone. */
  bytes: number
  firstBytes: number
  /** The pieces of its reads under way, as its last report named them (PiecesFinished.reading). */
  reading: ReadonlySet<number>
}

/**
 * What the scheduler decided for one task, beside its availability: who is downloading it (in
 * arrival order: the first ones read a cold blob from the origin), the origin assignment, the
 * piece table agents published, and what each downloader was last sent (so that only changes go
 * out).
 */
export class TaskState {
  readonly digest: Digest
  readonly size: number
  /** Downloaders, in the order they asked. */
  readonly wanting = new Set<PeerKey>()
  assignment?: OriginAssignment
  /** When each assignee last reported origin progress, a piece or bytes of one (or was assigned). */
  readonly originProgressAt = new Map<PeerKey, number>()
  /** Each reader's origin reports since it was last dealt pieces of this task (originDealt). */
  readonly originSinceDeal = new Map<PeerKey, OriginSinceDeal>()
  table?: PieceTable
  /** The agent whose table was taken first: reported when the blob fails its digest. */
  tableFrom?: PeerKey
  /** Known entries of the table, as last sent to each downloader. */
  readonly tableSent = new Map<PeerKey, number>()
  /** The parents last sent to each downloader, with the pieces each held then. */
  readonly parentsSent = new Map<PeerKey, SentParents>()
  /** The origin pieces last sent to each downloader, as a comparable signature. */
  readonly originSent = new Map<PeerKey, string>()
  /** Parents handed to each downloader last time (the upload load each parent carries). */
  readonly parentsOf = new Map<PeerKey, readonly PeerKey[]>()
  /** How many downloaders each parent was handed to (parentsOf counted, kept in step by setParents and forget). */
  readonly uploads = new Map<PeerKey, number>()
  /** The task's peers (downloaders and holders) by site and zone, for parent selection. */
  readonly locality = new LocalityGroups()
  /** Newcomers wait for the origin readers' first reports (OriginRounds.spreadOrigin): weigh them again next round. */
  spreadWaiting = false
  /** Downloaders already weighed for a share of the origin reads (each is, once, when it asks). */
  readonly originConsidered = new Set<PeerKey>()
  /** Where the next round's turn of already-told downloaders starts (a big task is decided over several rounds). */
  parentsCursor = 0
  /** Something changed since the last decision round. */
  dirty = true

  constructor (digest: Digest, size: number) {
    this.digest = digest
    this.size = size
  }

  /** Records the parents handed to `child`, and the loads that follow. */
  setParents (child: PeerKey, parents: readonly PeerKey[]): void {
    this.#count(this.parentsOf.get(child), -1)
    this.parentsOf.set(child, parents)
    this.#count(parents, 1)
  }

  /** A downloader is gone (left the task, finished, or disconnected): forget what it was sent. */
  forget (peer: PeerKey): void {
    this.wanting.delete(peer)
    this.tableSent.delete(peer)
    this.parentsSent.delete(peer)
    this.originSent.delete(peer)
    this.#count(this.parentsOf.get(peer), -1)
    this.parentsOf.delete(peer)
    this.originProgressAt.delete(peer)
    this.originSinceDeal.delete(peer)
    this.originConsidered.delete(peer)
    this.dirty = true
  }

  /** `peer` was dealt origin pieces of this task now (it counts as progress). */
  originDealt (peer: PeerKey, now: number): void {
    this.originProgressAt.set(peer, now)
    this.originSinceDeal.set(peer, { dealtAt: now, reports: 0, firstAt: now, lastAt: now, bytes: 0, firstBytes: 0, reading: NO_PIECES })
  }

  /** `peer` reported origin progress for this task (pieces finished, or none): `bytes` read since its last report, and the pieces of its reads under way. */
  originReported (peer: PeerKey, report: { bytes: number, reading: readonly number[] }, now: number): void {
    const { bytes } = report
    this.originProgressAt.set(peer, now)
    const since = this.originSinceDeal.get(peer)
    if (since == null) return
    if (since.reports++ === 0) {
      since.firstAt = now
      since.firstBytes = bytes
    }
    since.lastAt = now
    since.bytes += bytes
    since.reading = report.reading.length === 0 ? NO_PIECES : new Set(report.reading)
  }

  #count (parents: readonly PeerKey[] | undefined, delta: number): void {
    for (const parent of parents ?? []) {
      const uploads = (this.uploads.get(parent) ?? 0) + delta
      if (uploads === 0) this.uploads.delete(parent)
      else this.uploads.set(parent, uploads)
    }
  }

  /** Known pieces in the table. */
  get tableKnown (): number {
    return this.table?.pieces.reduce((n, cid) => n + (cid == null ? 0 : 1), 0) ?? 0
  }
}
