/** Where bytes of a blob came from, besides the download's own path: pieces read from the origin, or found in the store. */
export type SpanSource = 'origin' | 'local'

/**
 * The byte ranges of one download that came from elsewhere than its path says: a peer download's
 * pieces read from the origin, pieces already in the store (a stripe of a site prefetch, pieces
 * kept from before a restart). Ranges are noted in blob order, so adjacent ones merge and a blob
 * keeps a few entries, at most one per piece.
 */
export class SourceSpans {
  readonly #spans: Record<SpanSource, Array<[number, number]>> = { origin: [], local: [] }

  /** Notes that bytes [start, end) came from `source`; ranges are noted in increasing order. */
  note (source: SpanSource, start: number, end: number): void {
    const spans = this.#spans[source]
    const last = spans.at(-1)
    if (last != null && last[1] === start) last[1] = end
    else spans.push([start, end])
  }

  /** How many of the bytes [start, end) came from `source`, counting only ranges below `until`. */
  count (source: SpanSource, start: number, end: number, until = Number.POSITIVE_INFINITY): number {
    let bytes = 0
    for (const [from, to] of this.#spans[source]) {
      if (from >= end || from >= until) break
      bytes += Math.max(0, Math.min(end, to, until) - Math.max(start, from))
    }
    return bytes
  }
}
