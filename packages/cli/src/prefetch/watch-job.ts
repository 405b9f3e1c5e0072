import { setTimeout as sleep } from 'node:timers/promises'
import { SCHEDULER_UNREACHABLE_MS } from './constants.ts'
import { SchedulerRequestError } from './errors.ts'
import { isTerminal } from './display/progress.ts'
import type { ProgressDisplay } from './display/index.ts'
import type { PrefetchJobHandle } from './job-handle.ts'
import type { JobView } from './shared-types.ts'

/** How long the watcher follows a cancelled job to its end before it reports the last view. */
const CANCEL_FOLLOW_MS = 5000

export interface WatchJobOptions {
  display: ProgressDisplay
  /** Ctrl-C */
  interrupt: AbortSignal
  /** `cancel`: an interrupt cancels the job (prefetch); `leave`: it only stops watching (status --wait) */
  onInterrupt: 'cancel' | 'leave'
  /** the view to show first (the scheduler's answer to POST /jobs) */
  first?: JobView
  /** give up when the job could not be read for this long */
  unreachableMs?: number
  now?: () => number
}

export interface WatchResult {
  view: JobView
  interrupted: boolean
}

/**
 * Reads the job every `handle.pollIntervalMs` and shows each view until the job is done, failed or
 * cancelled, or the operator interrupts. A read that fails is retried until `unreachableMs` passed
 * since the last good one; then the error says that the job goes on and how to look at it again.
 */
export async function watchJob (handle: PrefetchJobHandle, opts: WatchJobOptions): Promise<WatchResult> {
  const now = opts.now ?? Date.now
  const unreachableMs = opts.unreachableMs ?? SCHEDULER_UNREACHABLE_MS
  let view = opts.first ?? await handle.view({ signal: opts.interrupt })
  let lastRead = now()
  while (true) {
    opts.display.update(view)
    if (isTerminal(view.state)) return { view, interrupted: false }
    // An abort only cuts the pause short; the loop sees the signal.
    await sleep(handle.pollIntervalMs, undefined, { signal: opts.interrupt }).catch(() => {})
    if (opts.interrupt.aborted) break
    try {
      view = await handle.view({ signal: opts.interrupt })
      lastRead = now()
    } catch (err) {
      if (opts.interrupt.aborted) break
      if ((err as Error).name !== 'SchedulerRequestError' && (err as Error).name !== 'InvalidSchedulerAnswerError') throw err
      if (now() - lastRead >= unreachableMs) {
        throw new SchedulerRequestError(`job ${handle.id}: no answer for ${Math.round(unreachableMs / 1000)} s; the job goes on: shoal prefetch status ${handle.id}`, { cause: err })
      }
    }
  }
  if (opts.onInterrupt === 'leave') return { view, interrupted: true }
  view = await handle.cancel({})
  const until = now() + CANCEL_FOLLOW_MS
  while (!isTerminal(view.state) && now() < until) {
    opts.display.update(view)
    await sleep(handle.pollIntervalMs)
    view = await handle.view({})
  }
  return { view, interrupted: true }
}
