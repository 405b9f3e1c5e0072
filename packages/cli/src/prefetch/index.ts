/**
 * `shoal prefetch`: fetches the layers of images into agents ahead of a rollout (issue 6).
 *
 * Two back ends, one display:
 * - `--scheduler ADDR`: the scheduler's admin API runs the job (scope agent:PEER_ID, site:NAME or all);
 *   this command submits it (`POST /jobs`), reads it every 500 ms, and cancels it on Ctrl-C.
 * - `--agent URL` (the default, http://127.0.0.1:65001): this process resolves the images and fetches
 *   every blob through that agent's mirror with the agent's prefetch module, and keeps the run as a
 *   JobView, so that display, `--json` and exit status are the same code for both.
 *
 * - `args.ts`, `values.ts`, `scheduler-address.ts`, `image-list.ts`: the command line, checked at start.
 * - `scheduler-client.ts`, `scheduler-backend.ts`: the admin API and the job request.
 * - `agent-backend.ts`, `local-job.ts`: the --agent run and its JobView.
 * - `watch-job.ts`: polling to the end; `display/`: bars, plain lines, summary, exit status.
 */
import { EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT_MS } from './constants.ts'
import { parsePrefetchArgs } from './args.ts'
import { startLocalPrefetch } from './agent-backend.ts'
import { createDisplay, displayMode } from './display/index.ts'
import { jobListLines } from './display/job-list.ts'
import { exitCodeOf, jsonSummary, summaryLines } from './display/summary.ts'
import { readImageList } from './image-list.ts'
import { adminClient } from './scheduler-client.ts'
import { jobRequestOf, schedulerJob, submitJob } from './scheduler-backend.ts'
import { PREFETCH_USAGE } from './usage.ts'
import { watchJob } from './watch-job.ts'
import type { PrefetchCommand, PrefetchRun } from './args.ts'
import type { PrefetchJobHandle } from './job-handle.ts'
import type { ImageRequest, JobView } from './shared-types.ts'

export { parsePrefetchArgs } from './args.ts'
export type { PrefetchCommand, PrefetchRun, Backend } from './args.ts'
export { PREFETCH_USAGE } from './usage.ts'

/** Where the command writes and reads; the process's streams unless a caller (a test) gives others. */
export interface PrefetchIo {
  stdout: { write: (text: string) => unknown }
  stderr: { write: (text: string) => unknown, isTTY?: boolean, columns?: number }
  stdin?: NodeJS.ReadableStream
  env: NodeJS.ProcessEnv
  /** Ctrl-C: the command installs a SIGINT handler when none is given */
  interrupt?: AbortSignal
}

const USAGE_ERRORS = new Set(['PrefetchUsageError', 'ImageListReadError', 'JobRejectedError'])
const RUN_ERRORS = new Set(['SchedulerRequestError', 'JobNotFoundError', 'InvalidSchedulerAnswerError'])

/** `shoal prefetch ...`: the exit status (0 all done, 1 something failed, 2 usage, 130 interrupted). */
export async function runPrefetch (argv: string[], io: PrefetchIo = processIo()): Promise<number> {
  const sigint = io.interrupt == null ? onSigint() : undefined
  const interrupt = io.interrupt ?? sigint?.signal ?? new AbortController().signal
  try {
    return await dispatch(parsePrefetchArgs(argv, io.env), io, interrupt)
  } catch (err) {
    const name = (err as Error).name
    if (USAGE_ERRORS.has(name)) {
      io.stderr.write(`shoal prefetch: ${(err as Error).message}\n(shoal prefetch --help for the options)\n`)
      return EXIT_USAGE
    }
    if (interrupt.aborted) return EXIT_INTERRUPTED
    if (RUN_ERRORS.has(name)) {
      io.stderr.write(`shoal prefetch: ${(err as Error).message}\n`)
      return EXIT_FAILED
    }
    throw err
  } finally {
    sigint?.remove()
  }
}

async function dispatch (command: PrefetchCommand, io: PrefetchIo, interrupt: AbortSignal): Promise<number> {
  switch (command.kind) {
    case 'help':
      io.stdout.write(PREFETCH_USAGE)
      return EXIT_OK
    case 'run':
      return await run(command, io, interrupt)
    case 'status': {
      const handle = schedulerJob(await adminClient(command.scheduler, command.tokenFile), command.job)
      if (!command.wait) return report(await handle.view({ signal: interrupt }), command.json, io)
      return await follow(handle, { json: command.json, onInterrupt: 'leave' }, io, interrupt)
    }
    case 'cancel': {
      const view = await (await adminClient(command.scheduler, command.tokenFile)).cancelJob(command.job, { signal: interrupt })
      report(view, command.json, io)
      return EXIT_OK
    }
    case 'jobs': {
      const jobs = await (await adminClient(command.scheduler, command.tokenFile)).listJobs({ signal: interrupt })
      io.stdout.write(command.json ? `${JSON.stringify({ jobs }, null, 2)}\n` : jobListLines(jobs).map(l => `${l}\n`).join(''))
      return EXIT_OK
    }
  }
}

async function run (command: PrefetchRun, io: PrefetchIo, interrupt: AbortSignal): Promise<number> {
  const images = dedupe([...command.images, ...(await Promise.all(command.fromFiles.map(async f => readImageList(f, { stdin: io.stdin })))).flat()])
  if (images.length === 0) {
    io.stderr.write(`shoal prefetch: --from-file: ${command.fromFiles.join(', ')} names no image\n`)
    return EXIT_USAGE
  }
  if (command.backend.kind === 'scheduler') {
    const client = await adminClient(command.backend.url, command.backend.tokenFile)
    const { handle, view } = await submitJob(client, jobRequestOf({ ...command, images }), { signal: interrupt })
    if (command.detach) {
      io.stdout.write(command.json ? `${JSON.stringify(view, null, 2)}\n` : `${view.id}\n`)
      return EXIT_OK
    }
    if (!command.json) io.stderr.write(`shoal prefetch: job ${view.id} at ${client.url} (Ctrl-C cancels it)\n`)
    return await follow(handle, { json: command.json, onInterrupt: 'cancel', first: view }, io, interrupt)
  }
  const handle = startLocalPrefetch({ prefetch: await import('@shoal/agent/prefetch') }, {
    agent: command.backend.url,
    images,
    platforms: command.platforms,
    concurrency: command.concurrency ?? DEFAULT_CONCURRENCY,
    timeoutMs: command.timeoutMs ?? DEFAULT_TIMEOUT_MS
  })
  return await follow(handle, { json: command.json, onInterrupt: 'cancel' }, io, interrupt)
}

async function follow (handle: PrefetchJobHandle, opts: { json: boolean, onInterrupt: 'cancel' | 'leave', first?: JobView }, io: PrefetchIo, interrupt: AbortSignal): Promise<number> {
  const display = createDisplay({ mode: displayMode({ json: opts.json, isTTY: io.stderr.isTTY }), stream: io.stderr })
  const { view, interrupted } = await watchJob(handle, { display, interrupt, onInterrupt: opts.onInterrupt, first: opts.first })
  display.finish(view)
  if (interrupted && opts.onInterrupt === 'leave') {
    if (!opts.json) io.stderr.write(`shoal prefetch: stopped watching; job ${view.id} goes on\n`)
    return EXIT_INTERRUPTED
  }
  const code = report(view, opts.json, io, interrupted ? EXIT_INTERRUPTED : undefined)
  return interrupted ? EXIT_INTERRUPTED : code
}

/** The summary on standard output (or its JSON); returns the exit status the view stands for. */
function report (view: JobView, json: boolean, io: PrefetchIo, exitCode = exitCodeOf(view)): number {
  io.stdout.write(json ? `${JSON.stringify(jsonSummary(view, exitCode), null, 2)}\n` : summaryLines(view, Date.now()).map(l => `${l}\n`).join(''))
  return exitCode
}

function dedupe (images: ImageRequest[]): ImageRequest[] {
  const seen = new Set<string>()
  return images.filter(i => {
    const key = `${i.reference} ${i.tags ?? ''}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/** The first Ctrl-C aborts the signal (cancel, summary, 130); a second one exits at once. */
function onSigint (): { signal: AbortSignal, remove: () => void } {
  const controller = new AbortController()
  const handler = (): void => {
    if (controller.signal.aborted) process.exit(EXIT_INTERRUPTED)
    controller.abort(new Error('interrupted'))
  }
  process.on('SIGINT', handler)
  return { signal: controller.signal, remove: () => { process.off('SIGINT', handler) } }
}

function processIo (): PrefetchIo {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env }
}
