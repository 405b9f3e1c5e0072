import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'
import { spawnShoal } from './shoal-process.ts'

export interface SchedulerProcess {
  /** Where agents reach it (`.../p2p/<id>`). */
  addr: string
  /** Its libp2p TCP port (to start it again on the same address). */
  port: number
  /** The admin listener (`http://127.0.0.1:PORT`). */
  admin: string
  /** The admin API's bearer token, and the file it is in (made by the scheduler at its first start). */
  adminToken: string
  adminTokenFile: string
  kill: (signal?: NodeJS.Signals) => Promise<void>
  /** Its log lines so far (JSON on stderr). */
  stderr: () => string
}

/** What `shoal scheduler` printed once it is ready: where agents reach it and its admin URL. */
export function schedulerReady (stdout: string): { addr: string, admin: string } | undefined {
  const addr = /agents reach it at (\S+)/.exec(stdout)?.[1]
  const admin = /admin at (http:\/\/\S+)/.exec(stdout)?.[1]
  return addr == null || admin == null ? undefined : { addr, admin }
}

/**
 * `shoal scheduler` as a child process on loopback, ready once it printed its addresses; killed at
 * teardown. On a port the OS chooses unless given one: a port found free and then bound is a race
 * with the other test files running at once (EADDRINUSE); the restart of a scheduler passes `port`.
 * `listen` replaces the listen multiaddr altogether (`/ip6/::1/tcp/0`).
 */
export async function spawnScheduler (t: ExecutionContext, opts: { port?: number, dataDir: string, swarmKey: string, listen?: string, args?: string[] }): Promise<SchedulerProcess> {
  const started = await spawnShoal(t, {
    what: 'shoal scheduler',
    args: ['scheduler', '--listen', opts.listen ?? `/ip4/127.0.0.1/tcp/${opts.port ?? 0}`, '--admin', '127.0.0.1:0', '--data-dir', opts.dataDir, '--swarm-key', opts.swarmKey, ...opts.args ?? []],
    ready: schedulerReady
  })
  const adminTokenFile = join(opts.dataDir, 'admin-token')
  const adminToken = (await readFile(adminTokenFile, 'utf8')).trim()
  const port = Number(/\/tcp\/(\d+)\//.exec(started.ready.addr)?.[1])
  return { ...started.ready, port, adminToken, adminTokenFile, kill: started.kill, stderr: started.stderr }
}
