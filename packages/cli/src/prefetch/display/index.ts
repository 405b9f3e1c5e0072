import { PlainProgress } from './plain.ts'
import { TtyProgress } from './tty.ts'
import type { JobView } from '../shared-types.ts'

/**
 * The progress display of `shoal prefetch` on standard error: bars redrawn in place in a terminal,
 * plain lines otherwise, nothing with --json. The summary at the end is summary.ts's.
 */
export interface ProgressDisplay {
  update: (view: JobView) => void
  /** the last view: the display's final state (the summary follows on standard output) */
  finish: (view: JobView) => void
}

export interface DisplayOptions {
  mode: 'tty' | 'plain' | 'none'
  stream: { write: (text: string) => unknown, columns?: number }
  now?: () => number
}

/** `tty` when the stream is a terminal, unless --json asks for none. */
export function displayMode (opts: { json: boolean, isTTY: boolean | undefined }): DisplayOptions['mode'] {
  if (opts.json) return 'none'
  return opts.isTTY === true ? 'tty' : 'plain'
}

export function createDisplay (opts: DisplayOptions): ProgressDisplay {
  const now = opts.now ?? Date.now
  switch (opts.mode) {
    case 'none':
      return { update: () => {}, finish: () => {} }
    case 'tty': {
      const tty = new TtyProgress()
      const draw = (view: JobView): void => { opts.stream.write(tty.update(view, { nowMs: now(), columns: opts.stream.columns ?? 80 })) }
      return { update: draw, finish: draw }
    }
    case 'plain': {
      const plain = new PlainProgress()
      const print = (lines: string[]): void => { if (lines.length > 0) opts.stream.write(lines.map(l => `${l}\n`).join('')) }
      return { update: view => { print(plain.update(view, now())) }, finish: view => { print(plain.finish(view, now())) } }
    }
  }
}
