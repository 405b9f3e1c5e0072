import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { BARE_FETCH_TIMEOUT_MS, BARE_READY_TIMEOUT_MS, BARE_WARMUP_BYTES } from './constants.ts'
import { cpuMeter } from '../process-cpu.ts'
import { BareNodeError } from './errors.ts'

/** The two reference stacks: bare js-libp2p (TCP, Noise, Yamux), or Node's own TLS over TCP. */
export type BareStack = 'libp2p' | 'tls'

const NODE_SCRIPT: Record<BareStack, string> = {
  libp2p: fileURLToPath(new URL('./bare-node.ts', import.meta.url)),
  tls: fileURLToPath(new URL('./tls-node.ts', import.meta.url))
}

export interface BareRunInit {
  stack: BareStack
  bytes: number
  runs: number
  /** The swarm key file's bytes, for a private network (pnet) under Noise (the libp2p stack only). */
  swarmKey?: Uint8Array
  /** Run both processes with --cpu-prof into this directory. */
  profileDir?: string
  /** Told about each child as soon as it exists (cleanup on failure or Ctrl-C). */
  track: (child: ChildProcess) => void
  signal: AbortSignal
}

export interface BareSeries {
  /** Seconds of each run. */
  seconds: number[]
  /**
   * CPU seconds of each process over the whole series (warm-up and connection set-up included,
   * start-up not); undefined where /proc cannot be read.
   */
  serverCpuSeconds?: number
  fetcherCpuSeconds?: number
}

/**
 * One series on a reference stack: a server process and a fetcher process (one core each, like two
 * agents), the fetcher pulling `bytes` `runs` times after an untimed warm-up (libp2p: one stream a
 * run over one connection; TLS: one connection a run).
 */
export async function runBare (init: BareRunInit): Promise<BareSeries> {
  const key = init.stack === 'tls'
    ? ['--psk-hex', randomBytes(32).toString('hex')]
    : init.swarmKey == null ? [] : ['--swarm-key-hex', Buffer.from(init.swarmKey).toString('hex')]
  const server = start(['serve', ...key], init)
  try {
    const { addr } = JSON.parse(await firstLine(server, AbortSignal.any([init.signal, AbortSignal.timeout(BARE_READY_TIMEOUT_MS)]))) as { addr: string }
    const serverCpu = await cpuMeter(server.process.pid)
    const fetcher = start(['fetch', '--addr', addr, '--bytes', String(init.bytes), '--runs', String(init.runs), '--warmup-bytes', String(BARE_WARMUP_BYTES), ...key], init)
    try {
      const { seconds, cpuSeconds } = JSON.parse(await firstLine(fetcher, AbortSignal.any([init.signal, AbortSignal.timeout(BARE_FETCH_TIMEOUT_MS)]))) as { seconds: number[], cpuSeconds?: number }
      const serverCpuSeconds = await serverCpu.stop()
      await stop(fetcher, false)
      return { seconds, serverCpuSeconds, fetcherCpuSeconds: cpuSeconds }
    } finally {
      await stop(fetcher, true)
    }
  } finally {
    await stop(server, true)
  }
}

interface Child { process: ChildProcess, stderr: () => string, exited: Promise<void> }

function start (args: string[], init: BareRunInit): Child {
  const profile = init.profileDir == null ? [] : ['--cpu-prof', `--cpu-prof-dir=${init.profileDir}`]
  const child = spawn(process.execPath, [...profile, NODE_SCRIPT[init.stack], ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  init.track(child)
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-4000) })
  const exited = child.exitCode != null ? Promise.resolve() : once(child, 'exit').then(() => {})
  return { process: child, stderr: () => stderr, exited }
}

async function firstLine (child: Child, signal: AbortSignal): Promise<string> {
  const stdout = child.process.stdout
  if (stdout == null) throw new BareNodeError('bare node has no stdout')
  const lines = createInterface({ input: stdout, crlfDelay: Infinity })
  const onAbort = (): void => { lines.close() }
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    for await (const line of lines) {
      if (line.startsWith('{')) return line
    }
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
  await Promise.race([child.exited, new Promise(resolve => setTimeout(resolve, 200))])
  throw new BareNodeError(`bare node ${child.process.pid ?? '?'} ${signal.aborted ? 'timed out' : 'ended'} without an answer: ${child.stderr().trim()}`)
}

/** Waits for the child to exit; with `kill`, SIGTERMs it first (by its own handle) if it is still running. */
async function stop (child: Child, kill: boolean): Promise<void> {
  const p = child.process
  if (p.exitCode == null && p.signalCode == null && kill) p.kill('SIGTERM')
  await child.exited
}
