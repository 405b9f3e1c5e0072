import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import type { ExecutionContext } from 'ava'

const CLI = fileURLToPath(new URL('../../packages/cli/src/main.ts', import.meta.url))
const READY_TIMEOUT_MS = 15_000

export interface SchedulerProcess {
  /** Where agents reach it (`.../p2p/<id>`). */
  addr: string
  /** The admin listener (`http://127.0.0.1:PORT`). */
  admin: string
  kill: (signal?: NodeJS.Signals) => Promise<void>
}

/** `shoal scheduler` as a child process on loopback, ready once it printed its addresses; killed at teardown. */
export async function spawnScheduler (t: ExecutionContext, opts: { port: number, dataDir: string, swarmKey: string }): Promise<SchedulerProcess> {
  const args = [CLI, 'scheduler', '--listen', `/ip4/127.0.0.1/tcp/${opts.port}`, '--admin', '127.0.0.1:0', '--data-dir', opts.dataDir, '--swarm-key', opts.swarmKey]
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SHOAL_')))
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = once(child, 'exit').then(() => {})
  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    if (child.exitCode != null || child.signalCode != null) return
    child.kill(signal)
    await exited
  }
  t.teardown(async () => { await kill('SIGKILL') })
  let stdout = ''
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-4000) })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`shoal scheduler printed no addresses: ${stderr}`)) }, READY_TIMEOUT_MS)
    child.once('exit', code => { clearTimeout(timer); reject(new Error(`shoal scheduler exited (${code}): ${stderr}`)) })
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
      const addr = /agents reach it at (\S+)/.exec(stdout)?.[1]
      const admin = /admin at (http:\/\/\S+)/.exec(stdout)?.[1]
      if (addr == null || admin == null) return
      clearTimeout(timer)
      resolve({ addr, admin, kill })
    })
  })
}
