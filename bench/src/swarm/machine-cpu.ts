/**
 * The whole machine's CPU from /proc/stat (Linux): every core and every process, the kernel's
 * network path included. The bench's simulated hosts share one machine, so where it is busy all
 * the time the hosts wait on the CPU, not on their links (at the start of a pull, or on a fast line
 * where every byte costs CPU); where it has cores to spare, a slow pull is not the CPU's doing.
 */
import { readFile } from 'node:fs/promises'

/** Clock ticks since boot over all cores: busy (user, nice, system, irq, softirq, steal) and in all. */
export interface CpuTimes {
  busy: number
  total: number
}

/**
 * The aggregate `cpu` line of /proc/stat. Guest time is already inside user and nice; steal (a
 * hypervisor running others) counts as busy: it is CPU this machine could not have.
 */
export function parseProcStat (text: string): CpuTimes | undefined {
  const line = text.split('\n').find(l => l.startsWith('cpu '))
  const fields = line?.trim().split(/\s+/).slice(1).map(Number) ?? []
  if (fields.length < 4 || fields.some(n => !Number.isFinite(n) || n < 0)) return undefined
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields
  const busy = user + nice + system + irq + softirq + steal
  return { busy, total: busy + idle + iowait }
}

/** Undefined where there is no /proc/stat (not Linux): the report then has no CPU line. */
export async function readCpuTimes (): Promise<CpuTimes | undefined> {
  return parseProcStat(await readFile('/proc/stat', 'utf8').catch(() => ''))
}

/** The busy share (0 to 1) between consecutive readings; NaN where either is missing or no tick passed. */
export function busyShares (readings: ReadonlyArray<CpuTimes | undefined>): number[] {
  return readings.slice(1).map((b, i) => {
    const a = readings[i]
    const total = a == null || b == null ? 0 : b.total - a.total
    return a == null || b == null || total <= 0 ? NaN : Math.min(1, Math.max(0, (b.busy - a.busy) / total))
  })
}
