import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

/** The `shoal` command's launcher (it turns on the compile cache, then runs the .ts entry as is). */
export const SHOAL_CLI = fileURLToPath(new URL('../../packages/cli/bin/shoal.js', import.meta.url))
const STDERR_TAIL_CHARS = 4_000
/** What stderr() keeps: enough for the log lines a test looks for. */
const STDERR_KEPT_CHARS = 256 * 1024
const READY_TIMEOUT_MS = 15_000

/** This process's environment without its SHOAL_* settings (none may change a shoal under test), plus `extra`. */
export function shoalEnv (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SHOAL_'))), ...extra }
}

export interface ShoalProcess<T> {
  child: ChildProcess
  pid: number
  /** What `ready` found in its output. */
  ready: T
  /** Sends a signal to this process (by its pid) and resolves once it has exited. */
  kill: (signal?: NodeJS.Signals) => Promise<void>
  /** All it wrote to stdout so far. */
  stdout: () => string
  /** The last STDERR_KEPT_CHARS it wrote to stderr (its log lines, unless SHOAL_LOG=silent). */
  stderr: () => string
  /** Resolves with its exit code (null when a signal ended it) once it has exited. */
  exited: Promise<number | null>
}

export interface SpawnShoalOptions<T> {
  /** What the errors name it (`shoal agent`). */
  what: string
  /** Node flags before the entry, then the shoal arguments. */
  nodeArgs?: string[]
  args: string[]
  /**
   * The program that runs `shoal` and its arguments before `args`, in place of this Node and the
   * checkout's entry (`nodeArgs` then do not apply): a `shoal` in a container image's root.
   */
  command?: { file: string, args: string[] }
  /**
   * Start it as the leader of a process group of its own and send SIGKILL to the whole group: for a
   * command (an init such as tini) whose children would outlive a SIGKILL sent to it alone. Other
   * signals go to the command only (an init forwards them).
   */
  processGroup?: boolean
  env?: NodeJS.ProcessEnv
  /** Looks at all its stdout so far; a value once it is ready. */
  ready: (stdout: string) => T | undefined
  timeoutMs?: number
}

/**
 * A `shoal` command as a child process, resolved once `ready` finds what it waits for in its
 * stdout; SIGKILLed (by its pid) when it is not ready in time, and at the test's teardown.
 */
export async function spawnShoal<T> (t: { teardown: (fn: () => Promise<void>) => void }, opts: SpawnShoalOptions<T>): Promise<ShoalProcess<T>> {
  const command = opts.command ?? { file: process.execPath, args: [...opts.nodeArgs ?? [], SHOAL_CLI] }
  const group = opts.processGroup === true
  const child = spawn(command.file, [...command.args, ...opts.args], { env: opts.env ?? shoalEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: group })
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  const signalIt = (signal: NodeJS.Signals): void => {
    if (!group || signal !== 'SIGKILL' || child.pid == null) {
      child.kill(signal)
      return
    }
    try {
      process.kill(-child.pid, signal)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err // the group has just ended
    }
  }
  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    if (child.exitCode != null || child.signalCode != null) return
    signalIt(signal)
    await exited
  }
  t.teardown(async () => { await kill('SIGKILL') })
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-STDERR_KEPT_CHARS) })
  const timeoutMs = opts.timeoutMs ?? READY_TIMEOUT_MS
  const ready = await new Promise<T>((resolve, reject) => {
    let settled = false
    const fail = (why: string): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      signalIt('SIGKILL')
      reject(new Error(`${opts.what} ${why}: ${stderr.slice(-STDERR_TAIL_CHARS).trim()} ${stdout.trim()}`))
    }
    const onExit = (code: number | null, signal: string | null): void => { fail(`exited (code ${code}, signal ${signal}) before it was ready`) }
    const timer = setTimeout(() => { fail(`was not ready within ${timeoutMs} ms`) }, timeoutMs)
    child.once('exit', onExit)
    child.stdout?.setEncoding('utf8').on('data', () => {
      if (settled) return
      const found = opts.ready(stdout)
      if (found === undefined) return
      settled = true
      clearTimeout(timer)
      child.off('exit', onExit)
      resolve(found)
    })
  })
  if (child.pid == null) throw new Error(`${opts.what} has no pid`)
  return { child, pid: child.pid, ready, kill, stdout: () => stdout, stderr: () => stderr, exited }
}

/** A `shoal` command run to its end (SIGKILLed after `timeoutMs`): its exit code and output. */
export async function runShoal (args: string[], opts: { env?: NodeJS.ProcessEnv, timeoutMs?: number } = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [SHOAL_CLI, ...args], { env: opts.env ?? shoalEnv(), stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? READY_TIMEOUT_MS, killSignal: 'SIGKILL' })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const [code] = await once(child, 'exit') as [number | null]
  return { code, stdout, stderr }
}
