import { readFileSync } from 'node:fs'
import { cpus, release, totalmem } from 'node:os'

/**
 * The machine a benchmark ran on, as every report states it. Ratios within one run are what the
 * benches compare; these say when two runs may not be compared at all. The kernel and its
 * page-table isolation are here because the same commit ran the fresh 100 Mbit swarm in 25 s on one
 * development VM and in 42-55 s on another, which boots with `pti=on` (every system call and
 * interrupt costs more, and the agents make many; docs/dev/peer-link.md).
 */
export interface MachineFacts {
  node: string
  cpus: number
  cpuModel: string
  totalMemoryMiB: number
  /** `uname -r`. */
  kernel: string
  /** Whether the kernel isolates its page tables (Meltdown's mitigation); undefined where Linux does not say. */
  pageTableIsolation?: boolean
}

export function machineFacts (): MachineFacts {
  const list = cpus()
  return {
    node: process.versions.node,
    cpus: list.length,
    cpuModel: list[0]?.model ?? 'unknown',
    totalMemoryMiB: Math.round(totalmem() / (1024 * 1024)),
    kernel: release(),
    pageTableIsolation: pageTableIsolation()
  }
}

/** "Node 24.21.0, 2 × AMD EPYC, 24105 MiB RAM, Linux 6.18.44 (page-table isolation on: ...)"; reports from before these facts lack the last two. */
export function describeMachine (m: Partial<MachineFacts> & Pick<MachineFacts, 'node' | 'cpus' | 'cpuModel'>): string {
  const parts = [`Node ${m.node}`, `${m.cpus} × ${m.cpuModel}`]
  if (m.totalMemoryMiB != null) parts.push(`${m.totalMemoryMiB} MiB RAM`)
  if (m.kernel != null) parts.push(`Linux ${m.kernel}${m.pageTableIsolation === true ? ' (page-table isolation on: system calls cost more)' : ''}`)
  return parts.join(', ')
}

function pageTableIsolation (): boolean | undefined {
  try {
    return readFileSync('/sys/devices/system/cpu/vulnerabilities/meltdown', 'utf8').includes('PTI')
  } catch {
    return undefined
  }
}
