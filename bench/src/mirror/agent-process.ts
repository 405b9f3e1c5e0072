import { benchAgentNodeFlags } from '../harness.ts'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { AGENT_READY_TIMEOUT_MS, AGENT_STOP_GRACE_MS, STDERR_TAIL_CHARS } from './constants.ts'
import { AgentProcessError } from './errors.ts'

/** The `shoal` command (its launcher, `packages/cli/bin/shoal.js`), found through the workspace package rather than a relative path. */
const AGENT_MAIN = fileURLToPath(import.meta.resolve('@shoal/cli'))
const READY_LINE = /^shoal agent: mirroring .* at (http:\/\/\S+) \(data in /
const P2P_LINE = /^shoal agent: peers reach this host at (\S+)$/

export interface AgentMemory {
  /** VmHWM: the process's peak resident set size so far. */
  peakRssBytes: number
  /** VmRSS: resident now. */
  rssBytes: number
}

export interface AgentProcess {
  readonly pid: number
  /** http://127.0.0.1:PORT */
  readonly url: string
  readonly dataDir: string
  /** With p2p on: the multiaddrs (ending /p2p/<peer id>) the agent printed. */
  readonly p2pAddresses: string[]
  /** Reads /proc/<pid>/status of the agent process itself. */
  memory: () => Promise<AgentMemory>
  /** Throws AgentProcessError when the process is gone. */
  assertRunning: () => void
  /** SIGTERM (the agent closes its store and, when profiled, writes its profile), SIGKILL after a grace period. */
  stop: () => Promise<void>
}

export interface AgentProcessComponents {
  /** Told about the child as soon as it exists, for cleanup on failure or Ctrl-C. */
  track: (child: ChildProcess) => void
}

export interface StartAgentProcessInit {
  upstream: { url: string, host: string }
  dataDir: string
  /** Run with --cpu-prof, writing the profile into this directory when the agent exits. */
  profileDir?: string
  /** More `shoal agent` flags (`--p2p-listen ...`); with `--p2p-listen`, the start waits for the p2p address lines too. */
  args?: string[]
  signal?: AbortSignal
}

/**
 * `shoal agent` as its own process (so its RSS is its own), on a port the kernel picks, with the
 * origin as its only (and default) upstream. Resolves once the agent prints its ready line.
 */
export async function startAgentProcess (components: AgentProcessComponents, init: StartAgentProcessInit): Promise<AgentProcess> {
  const signal = init.signal ?? AbortSignal.timeout(AGENT_READY_TIMEOUT_MS)
  const args = [
    ...benchAgentNodeFlags(),
    ...(init.profileDir == null ? [] : ['--cpu-prof', `--cpu-prof-dir=${init.profileDir}`]),
    AGENT_MAIN, 'agent',
    '--listen', '127.0.0.1:0',
    '--data-dir', init.dataDir,
    '--upstream', init.upstream.url,
    '--insecure-registry', init.upstream.host,
    // Nothing from this machine's docker config or CA directory.
    '--docker-config', join(init.dataDir, 'no-docker-config.json'),
    '--certs-dir', join(init.dataDir, 'certs.d'),
    // The peer network is on by default, on one fixed port per host: only where the caller asks.
    ...(init.args?.includes('--p2p-listen') === true ? [] : ['--no-p2p']),
    ...(init.args ?? [])
  ]
  const p2p = init.args?.includes('--p2p-listen') === true
  // SHOAL_* variables of the caller would override the flags above.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SHOAL_')))
  env.SHOAL_LOG = 'silent'
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  components.track(child)
  const pid = child.pid
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-STDERR_TAIL_CHARS) })
  let exited: string | undefined
  const gone = new Promise<void>(resolve => {
    child.once('exit', (code, sig) => {
      exited = `exited (code ${code}, signal ${sig})`
      resolve()
    })
  })
  child.once('error', err => { exited = `failed to spawn: ${err.message}` })

  const kill = async (): Promise<void> => {
    if (child.exitCode != null || child.signalCode != null || pid == null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => { child.kill('SIGKILL') }, AGENT_STOP_GRACE_MS)
    await gone
    clearTimeout(timer)
  }

  let ready: Ready
  try {
    if (pid == null) throw new AgentProcessError(`shoal agent could not be spawned: ${exited ?? 'no pid'}`)
    ready = await readyLines(child, p2p, signal, () => exited, () => stderr)
  } catch (err) {
    await kill()
    throw err
  }
  // Drain stdout so the agent never blocks on a full pipe.
  child.stdout.resume()

  return {
    pid,
    url: ready.url,
    p2pAddresses: ready.p2pAddresses,
    dataDir: init.dataDir,
    memory: async () => {
      let status: string
      try {
        status = await readFile(`/proc/${pid}/status`, 'utf8')
      } catch (err) {
        throw new AgentProcessError(`cannot read the memory of agent ${pid} (${exited ?? 'running'}): ${(err as Error).message}`, { cause: err })
      }
      return { peakRssBytes: statusKiB(status, 'VmHWM') * 1024, rssBytes: statusKiB(status, 'VmRSS') * 1024 }
    },
    assertRunning: () => {
      if (exited != null) throw new AgentProcessError(`agent ${pid} ${exited}: ${stderr.trim()}`)
    },
    stop: kill
  }
}

interface Ready { url: string, p2pAddresses: string[] }

/** The ready line's URL and, when `p2p`, the p2p address lines the agent prints right after it. */
async function readyLines (child: ChildProcess & { stdout: NodeJS.ReadableStream }, p2p: boolean, signal: AbortSignal, exited: () => string | undefined, stderr: () => string): Promise<Ready> {
  const lines = createInterface({ input: child.stdout, crlfDelay: Infinity })
  const onAbort = (): void => { lines.close() }
  signal.addEventListener('abort', onAbort, { once: true })
  let url: string | undefined
  const p2pAddresses: string[] = []
  try {
    for await (const line of lines) {
      url ??= READY_LINE.exec(line)?.[1]
      const addr = P2P_LINE.exec(line)?.[1]
      if (addr != null) p2pAddresses.push(addr)
      if (url != null && (!p2p || p2pAddresses.length > 0)) return { url, p2pAddresses }
    }
  } finally {
    signal.removeEventListener('abort', onAbort)
    lines.close()
  }
  if (signal.aborted) throw new AgentProcessError(`shoal agent printed no ready line in time: ${stderr().trim()}`, { cause: signal.reason })
  // stdout closed: the process is exiting; give the exit event a moment to say how.
  await new Promise(resolve => setTimeout(resolve, 100))
  throw new AgentProcessError(`shoal agent ${exited() ?? 'closed its stdout'} before it was ready: ${stderr().trim()}`)
}

function statusKiB (status: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)
  if (match?.[1] == null) throw new AgentProcessError(`/proc status has no ${field} line`)
  return Number(match[1])
}
