/**
 * Where a process of the bench runs: in a network namespace of its own (netns mode) or in the
 * bench's own (loopback mode). Processes are spawned as the leaders of their own process groups
 * and stopped by group, so that nothing they start outlives them.
 */
import { execFile, spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import type { ChildProcess } from 'node:child_process'
import { promisify } from 'node:util'
import { HTTP_TIMEOUT_MS, STDERR_TAIL_CHARS, STOP_GRACE_MS } from './constants.ts'
import { BenchHttpError } from './errors.ts'

const execFileAsync = promisify(execFile)

export interface Place {
  /** A label for logs and the report: origin, scheduler, h3, d3. */
  name: string
  /** The network namespace, or none in loopback mode. */
  netns?: string
}

/** `command args` as run in `place`: prefixed with `ip netns exec NS` there. */
export function commandAt (place: Place, command: string, args: string[]): [string, string[]] {
  return place.netns == null ? [command, args] : ['ip', ['netns', 'exec', place.netns, command, ...args]]
}

export interface PlacedProcess {
  readonly child: ChildProcess
  readonly pid: number
  /** The last STDERR_TAIL_CHARS of its stderr. */
  stderr: () => string
  /** Why it ended, once it has: `exited (code 1, signal null)`. */
  ended: () => string | undefined
  /** Resolves when it has exited. */
  readonly exited: Promise<void>
  /** Signals the whole process group. */
  signal: (sig: NodeJS.Signals) => void
  /** SIGTERM to the group, SIGKILL after a grace period; resolves once the leader is gone. */
  stop: (opts?: { graceMs?: number }) => Promise<void>
}

export interface SpawnAtInit {
  env?: NodeJS.ProcessEnv
  /** Keep stdout readable (for ready lines); ignored otherwise. */
  stdout?: boolean
  /** Told about the child as soon as it exists (Teardown.track). */
  track?: (child: ChildProcess) => void
  /** Every line of its stderr is also written here (`--logs`). */
  logFile?: string
}

export function spawnAt (place: Place, command: string, args: string[], init: SpawnAtInit = {}): PlacedProcess {
  const [cmd, argv] = commandAt(place, command, args)
  // `ip netns exec` execs the command itself: the pid is the command's, and detached makes it a group leader.
  const child = spawn(cmd, argv, { env: init.env ?? process.env, detached: true, stdio: ['ignore', init.stdout === true ? 'pipe' : 'ignore', 'pipe'] })
  init.track?.(child)
  let stderr = ''
  const log = init.logFile == null ? undefined : createWriteStream(init.logFile, { flags: 'a' })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL_CHARS)
    log?.write(chunk)
  })
  child.stderr?.once('close', () => { log?.end() })
  let ended: string | undefined
  const exited = new Promise<void>(resolve => {
    child.once('exit', (code, sig) => {
      ended = `exited (code ${code}, signal ${sig})`
      resolve()
    })
    child.once('error', err => {
      ended = `failed to spawn: ${err.message}`
      resolve()
    })
  })
  const pid = child.pid ?? -1
  const running = (): boolean => ended == null && pid > 0
  const signal = (sig: NodeJS.Signals): void => {
    if (!running()) return
    try {
      process.kill(-pid, sig)
    } catch {
      // the group is gone already
    }
  }
  return {
    child,
    pid,
    stderr: () => stderr,
    ended: () => ended,
    exited,
    signal,
    stop: async (opts = {}) => {
      if (!running()) return
      signal('SIGTERM')
      const timer = setTimeout(() => { signal('SIGKILL') }, opts.graceMs ?? STOP_GRACE_MS)
      await exited
      clearTimeout(timer)
      // Anything the leader left behind in its group.
      signal('SIGKILL')
    }
  }
}

export interface HttpAtInit {
  /** Write the body here instead of returning it. */
  outFile?: string
  signal?: AbortSignal
}

/**
 * GET `url` from `place`: with curl inside a namespace (the bench itself has no route there), with
 * fetch on loopback. Throws BenchHttpError unless the status is 2xx.
 */
export async function httpGetAt (place: Place, url: string, init: HttpAtInit = {}): Promise<string> {
  const signal = init.signal ?? AbortSignal.timeout(HTTP_TIMEOUT_MS)
  if (place.netns == null && init.outFile == null) {
    let res: Response
    try {
      res = await fetch(url, { signal })
    } catch (err) {
      throw new BenchHttpError(`GET ${url} failed: ${(err as Error).message}`, { cause: err })
    }
    const body = await res.text()
    if (!res.ok) throw new BenchHttpError(`GET ${url} answered ${res.status}: ${body.slice(0, 200)}`)
    return body
  }
  const [cmd, argv] = commandAt(place, 'curl', ['--silent', '--show-error', '--fail', '--noproxy', '*', '--output', init.outFile ?? '-', url])
  try {
    const { stdout } = await execFileAsync(cmd, argv, { signal, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' })
    return stdout
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? ''
    throw new BenchHttpError(`GET ${url} in ${place.name} failed: ${stderr.trim() || (err as Error).message}`, { cause: err })
  }
}

/** Polls GET `url` from `place` until it answers 2xx, the process dies, or `signal` fires. */
export async function waitForHttp (place: Place, url: string, opts: { signal: AbortSignal, process?: PlacedProcess, what: string }): Promise<void> {
  for (;;) {
    const ended = opts.process?.ended()
    if (ended != null) throw new BenchHttpError(`${opts.what} ${ended}: ${opts.process?.stderr().trim() ?? ''}`)
    try {
      await httpGetAt(place, url, { signal: AbortSignal.any([opts.signal, AbortSignal.timeout(2_000)]) })
      return
    } catch (err) {
      if (opts.signal.aborted) throw new BenchHttpError(`${opts.what} not ready at ${url}: ${opts.process?.stderr().trim() ?? (err as Error).message}`, { cause: err })
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}
