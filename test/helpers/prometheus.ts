import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'
import { request } from 'undici'
import { tempDir } from './temp.ts'

const READY_TIMEOUT_MS = 15_000

/** One series of an instant query's answer. */
export interface Sample {
  metric: Record<string, string>
  value: [number, string]
}

export interface QueryAnswer {
  status: 'success' | 'error'
  error?: string
  data?: { resultType: string, result: Sample[] | [number, string] }
}

export interface RuleState {
  name: string
  type: 'alerting' | 'recording'
  query: string
  health: string
  lastError?: string
  lastEvaluation: string
}

export interface PrometheusServer {
  url: string
  pid: number
  /** GET /api/v1/query: an instant query at the server's now. */
  query: (expr: string) => Promise<QueryAnswer>
  /** Every rule loaded, from GET /api/v1/rules. */
  rules: () => Promise<RuleState[]>
  /** Resolves once every target has been scraped by a scrape that started after `ms` (epoch ms). */
  scrapedSince: (ms: number) => Promise<void>
  /** The server's log so far (stderr). */
  log: () => string
}

export interface StartPrometheusOptions {
  /** `job_name` to `host:port` targets scraped over http. */
  jobs: Record<string, string[]>
  ruleFiles?: string[]
  scrapeIntervalS?: number
}

/**
 * Debian's `prometheus` as a child process with a config and a TSDB in a temp dir of its own,
 * listening on a loopback port the OS chooses (read from its log); killed by its pid at teardown.
 */
export async function startPrometheus (t: ExecutionContext, opts: StartPrometheusOptions): Promise<PrometheusServer> {
  const dir = await tempDir(t, 'prometheus')
  const interval = `${opts.scrapeIntervalS ?? 1}s`
  // JSON is YAML: no serializer needed.
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval },
    rule_files: opts.ruleFiles ?? [],
    scrape_configs: Object.entries(opts.jobs).map(([job, targets]) => ({ job_name: job, static_configs: [{ targets }] }))
  }
  await writeFile(join(dir, 'prometheus.yml'), JSON.stringify(config, null, 2))
  const child = spawn('prometheus', [
    `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
    '--web.listen-address=127.0.0.1:0'
  ], { stdio: ['ignore', 'ignore', 'pipe'] })
  const exited = once(child, 'exit')
  t.teardown(async () => {
    if (child.exitCode != null || child.signalCode != null) return
    process.kill(child.pid as number, 'SIGTERM')
    await exited
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`prometheus not listening after ${READY_TIMEOUT_MS} ms:\n${stderr}`)) }, READY_TIMEOUT_MS)
    const look = (): void => {
      // Prometheus logs the address it bound, after the configured one (`127.0.0.1:0`).
      const bound = /msg="Listening on" address=127\.0\.0\.1:(\d+)/.exec(stderr)?.[1]
      if (bound == null) return
      clearTimeout(timer)
      resolve(Number(bound))
    }
    child.stderr.on('data', look)
    void exited.then(() => { clearTimeout(timer); reject(new Error(`prometheus exited:\n${stderr}`)) })
  })
  const url = `http://127.0.0.1:${port}`
  const getJson = async <T>(path: string, query?: Record<string, string>): Promise<T> => {
    const res = await request(`${url}${path}`, { query, signal: AbortSignal.timeout(10_000) })
    return await res.body.json() as T
  }
  const deadline = Date.now() + READY_TIMEOUT_MS
  while ((await request(`${url}/-/ready`, { signal: AbortSignal.timeout(5_000) }).then(async r => { await r.body.dump(); return r.statusCode })) !== 200) {
    if (Date.now() > deadline) throw new Error(`prometheus not ready:\n${stderr}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return {
    url,
    pid: child.pid as number,
    query: async expr => await getJson<QueryAnswer>('/api/v1/query', { query: expr }),
    rules: async () => (await getJson<{ data: { groups: Array<{ rules: RuleState[] }> } }>('/api/v1/rules')).data.groups.flatMap(g => g.rules),
    scrapedSince: async ms => {
      const targets = Object.values(opts.jobs).flat().length
      const deadline = Date.now() + READY_TIMEOUT_MS
      // timestamp(up) is when each target's last scrape started.
      while ((await getJson<QueryAnswer>('/api/v1/query', { query: `timestamp(up) > ${ms / 1000}` })).data?.result.length !== targets) {
        if (Date.now() > deadline) throw new Error(`no scrape of all ${targets} targets since ${new Date(ms).toISOString()}`)
        await new Promise(resolve => setTimeout(resolve, 100))
      }
    },
    log: () => stderr
  }
}
