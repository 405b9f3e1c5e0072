import type { ChildProcess } from 'node:child_process'
import { AGENT_NODE_FLAGS } from '@shoal/agent'
import { testAgentArgs } from './agent.ts'
import { shoalEnv, spawnShoal } from './shoal-process.ts'

/** How long `shoal agent` may take to print its ready line. */
const AGENT_READY_TIMEOUT_MS = 15_000

export interface AgentProcessOptions {
  dataDir: string
  /** Upstream URLs; hosts of http:// URLs are listed as insecure. */
  upstreams: string[]
  args?: string[]
  /** Its structured log lines on stderr (default: SHOAL_LOG=silent). */
  logs?: boolean
}

export interface AgentProcess {
  child: ChildProcess
  url: string
  host: string
  pid: number
  /** With `--p2p-listen`: where peers reach it (`.../p2p/<peer id>`), as it printed them. */
  p2pAddresses: string[]
  /** Sends a signal to this process (by its pid) and resolves once it has exited. */
  kill: (signal?: NodeJS.Signals) => Promise<void>
  /** What it wrote so far (stderr: the last 256 KiB). */
  stdout: () => string
  stderr: () => string
  /** Its exit code (null when a signal ended it), once it has exited. */
  exited: Promise<number | null>
}

/** The mirror URL from `shoal agent`'s ready line, and with p2p the peer addresses printed after it. */
export function agentReady (stdout: string, p2p: boolean): { url: string, p2pAddresses: string[] } | undefined {
  const url = /shoal agent: mirroring .* at (https?:\/\/\S+)/.exec(stdout)?.[1]
  const p2pAddresses = [...stdout.matchAll(/^shoal agent: peers reach this host at (\S+)$/gm)].map(m => m[1] as string)
  return url == null || (p2p && p2pAddresses.length === 0) ? undefined : { url, p2pAddresses }
}

/**
 * `shoal agent` as a child process (Node runs the .ts entry directly) on a free loopback port,
 * resolved once it prints that it is mirroring. Killed with SIGKILL at teardown if still running.
 */
export async function spawnAgentProcess (t: { teardown: (fn: () => Promise<void>) => void }, opts: AgentProcessOptions): Promise<AgentProcess> {
  const p2p = opts.args?.includes('--p2p-listen') === true
  const started = await spawnShoal(t, {
    what: 'shoal agent',
    nodeArgs: [...AGENT_NODE_FLAGS],
    args: ['agent', ...testAgentArgs(opts.dataDir, opts.upstreams, opts.args)],
    env: opts.logs === true ? shoalEnv() : shoalEnv({ SHOAL_LOG: process.env.SHOAL_TEST_LOG ?? 'silent' }),
    timeoutMs: AGENT_READY_TIMEOUT_MS,
    ready: stdout => agentReady(stdout, p2p)
  })
  const { url, p2pAddresses } = started.ready
  return { child: started.child, url, host: new URL(url).host, pid: started.pid, p2pAddresses, kill: started.kill, stdout: started.stdout, stderr: started.stderr, exited: started.exited }
}
