import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'

/** One function's (or file's) share of the sampled CPU time, idle excluded. */
export interface ProfileEntry {
  name: string
  /** url:line of the function, or the file. */
  where: string
  selfMs: number
  /** Share of the non-idle sampled time. */
  selfShare: number
}

export interface ProfileSummary {
  /** The .cpuprofile files merged. */
  files: string[]
  /** Sampled time that was not (idle). */
  busyMs: number
  idleMs: number
  topFunctions: ProfileEntry[]
  topFiles: ProfileEntry[]
}

interface CpuProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number, columnNumber: number }
}

interface CpuProfile {
  nodes: CpuProfileNode[]
  samples?: number[]
  timeDeltas?: number[]
}

/**
 * Merges the V8 CPU profiles (.cpuprofile, from `node --cpu-prof`) in a directory and ranks
 * functions and source files by self time. Deltas are in microseconds; each sample's delta is
 * charged to the node it hit.
 */
export async function summarizeProfiles (dir: string, opts: { topFunctions: number, topFiles: number }): Promise<ProfileSummary | undefined> {
  const files = (await readdir(dir).catch(() => [])).filter(f => f.endsWith('.cpuprofile')).sort()
  if (files.length === 0) return undefined
  const byFunction = new Map<string, { name: string, where: string, us: number }>()
  const byFile = new Map<string, number>()
  let idleUs = 0
  let busyUs = 0
  for (const file of files) {
    const profile = JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile
    const nodes = new Map(profile.nodes.map(n => [n.id, n]))
    const samples = profile.samples ?? []
    const deltas = profile.timeDeltas ?? []
    for (let i = 0; i < samples.length; i++) {
      const node = nodes.get(samples[i] ?? -1)
      const us = Math.max(0, deltas[i] ?? 0)
      if (node == null) continue
      const { functionName, url, lineNumber } = node.callFrame
      if (functionName === '(idle)') {
        idleUs += us
        continue
      }
      busyUs += us
      const name = functionName === '' ? '(anonymous)' : functionName
      const fileName = shortUrl(url)
      const where = url === '' ? '' : `${fileName}:${lineNumber + 1}`
      const key = `${name}\u0000${where}`
      const entry = byFunction.get(key) ?? { name, where, us: 0 }
      entry.us += us
      byFunction.set(key, entry)
      const fileKey = url === '' ? name : fileName
      byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us)
    }
  }
  const share = (us: number): number => busyUs > 0 ? us / busyUs : 0
  return {
    files,
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    topFunctions: [...byFunction.values()].sort((a, b) => b.us - a.us).slice(0, opts.topFunctions)
      .map(e => ({ name: e.name, where: e.where, selfMs: e.us / 1000, selfShare: share(e.us) })),
    topFiles: [...byFile.entries()].sort((a, b) => b[1] - a[1]).slice(0, opts.topFiles)
      .map(([where, us]) => ({ name: where, where, selfMs: us / 1000, selfShare: share(us) }))
  }
}

/** Workspace files relative to the workspace, dependencies from their package name on. */
function shortUrl (url: string): string {
  const modules = url.lastIndexOf('/node_modules/')
  if (modules >= 0) return url.slice(modules + '/node_modules/'.length).replace(/^\.pnpm\/[^/]+\/node_modules\//, '')
  const packages = url.indexOf('/packages/')
  if (packages >= 0) return url.slice(packages + 1)
  return url.replace(/^file:\/\//, '')
}
