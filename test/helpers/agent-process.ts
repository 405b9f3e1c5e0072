import { AGENT_NODE_FLAGS } from '@shoal/agent'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { testAgentArgs } from './agent.ts'

/** How long `shoal agent` may take to print its ready line. */
const AGENT_READY_TIMEOUT_MS = 15_000
const STDERR_TAIL_CHARS = 4_000
const CLI = fileURLToPath(new URL('../../packages/cli/src/main.ts', import.meta.url))

export interface AgentProcessOptions {
  dataDir: string
  /** Upstream URLs; hosts of http:// URLs are listed as insecure. */
  upstreams: string[]
  args?: string[]
}

export interface AgentProcess {
  url: string
  host: string
  pid: number
  /** With `--p2p-listen`: where peers reach it (`.../p2p/<peer id>`), as it printed them. */
  p2pAddresses: string[]
  /** Sends a signal to this process (by its pid) and resolves once it has exited. */
  kill: (signal?: NodeJS.Signals) => Promise<void>
}

/**
 * `shoal agent` as a child process (Node runs the .ts entry directly) on a free loopback port,
 * resolved once it prints that it is mirroring. Killed with SIGKILL at teardown if still running.
 */
export async function spawnAgentProcess (t: { teardown: (fn: () => Promise<void>) => void }, opts: AgentProcessOptions): Promise<AgentProcess> {
  const args = [...AGENT_NODE_FLAGS, CLI, 'agent', ...testAgentArgs(opts.dataDir, opts.upstreams, opts.args)]
  // No SHOAL_* setting of the caller's environment may change the agent under test.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SHOAL_')))
  const child = spawn(process.execPath, args, { env: { ...env, SHOAL_LOG: 'silent' }, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = once(child, 'exit').then(() => {})
  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    if (child.exitCode != null || child.signalCode != null) return
    child.kill(signal)
    await exited
  }
  t.teardown(async () => { await kill('SIGKILL') })

  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-STDERR_TAIL_CHARS) })
  const { url, p2pAddresses } = await readyLines(child, () => stderr, opts.args?.includes('--p2p-listen') === true)
  if (child.pid == null) throw new Error('shoal agent has no pid')
  return { url, host: new URL(url).host, pid: child.pid, p2pAddresses, kill }
}

/** The mirror URL from the ready line, and with p2p the peer addresses printed after it. */
async function readyLines (child: ChildProcess, stderr: () => string, p2p: boolean): Promise<{ url: string, p2pAddresses: string[] }> {
  return new Promise((resolve, reject) => {
    let stdout = ''
    let settled = false
    const onExit = (code: number | null, signal: string | null): void => { fail(`exited (code ${code}, signal ${signal}) before it was ready`) }
    const fail = (why: string): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(new Error(`shoal agent ${why}: ${stderr().trim()} ${stdout.trim()}`))
    }
    const timer = setTimeout(() => { fail(`printed no ready line within ${AGENT_READY_TIMEOUT_MS} ms`) }, AGENT_READY_TIMEOUT_MS)
    child.once('exit', onExit)
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      if (settled) return
      stdout += chunk
      const match = /shoal agent: mirroring .* at (http:\/\/\S+)/.exec(stdout)
      const p2pAddresses = [...stdout.matchAll(/^shoal agent: peers reach this host at (\S+)$/gm)].map(m => m[1] as string)
      if (match?.[1] == null || (p2p && p2pAddresses.length === 0)) return
      settled = true
      clearTimeout(timer)
      child.off('exit', onExit)
      resolve({ url: match[1], p2pAddresses })
    })
  })
}
