/**
 * One host's pull: `skopeo copy docker://REF oci:DEST` run in the host's place, through its agent
 * (registries.conf maps the reference's registry to the agent as a mirror) or straight from the
 * origin, timed from spawn to exit, then checked digest by digest against what was pushed. An OCI
 * layout, not `dir:`: skopeo copies layers to a `dir:` one at a time, to a layout side by side, as
 * containerd, CRI-O and Docker pull them (three at a time by default).
 */
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { verifyOciImage } from '@shoal/test/fixtures/index.ts'
import { PULL_TIMEOUT_MS } from './constants.ts'
import { PullError } from './errors.ts'
import type { BenchImage } from './image.ts'
import { spawnAt } from './places.ts'
import type { Place, PlacedProcess } from './places.ts'

export interface PullResult {
  host: string
  /** From spawn to exit; undefined when the pull failed or was killed. */
  seconds?: number
  /** Every digest checked (only for pulls that finished). */
  verified: boolean
  error?: string
  /** From spawn to exit, whatever the outcome: where a failed pull's bar ends. */
  endedSeconds?: number
}

export interface RunningPull {
  host: string
  /** performance.now() at spawn. */
  startedAt: number
  /** Bytes under the destination dir so far (skopeo writes blobs there as they stream). */
  progressBytes: () => Promise<number>
  /** Settles once skopeo has exited and the result is verified; never rejects. */
  result: Promise<PullResult>
  /** SIGKILL (churn: the host is gone). */
  kill: () => void
  process: PlacedProcess
}

export interface StartPullInit {
  image: BenchImage
  /** host:port named in the reference. */
  registryHost: string
  /** host:port of a plain-HTTP mirror for that registry (the host's agent); none for a direct pull. */
  mirror?: string
  /** Holds registries.conf and the pulled dir. */
  workDir: string
  track?: (child: ChildProcess) => void
}

export async function startPull (place: Place, init: StartPullInit): Promise<RunningPull> {
  await mkdir(init.workDir, { recursive: true })
  const destDir = join(init.workDir, 'image')
  const registriesConf = join(init.workDir, 'registries.conf')
  const conf = ['[[registry]]', `location = ${JSON.stringify(init.registryHost)}`, 'insecure = true']
  if (init.mirror != null) conf.push('', '[[registry.mirror]]', `location = ${JSON.stringify(init.mirror)}`, 'insecure = true')
  await writeFile(registriesConf, conf.join('\n') + '\n')
  const authFile = join(init.workDir, 'auth.json')
  await writeFile(authFile, JSON.stringify({ auths: {} }))
  const args = [
    // skopeo 1.9 ignores CONTAINERS_REGISTRIES_CONF but honours --registries-conf.
    '--registries-conf', registriesConf,
    '--insecure-policy',
    'copy',
    '--authfile', authFile,
    '--src-tls-verify=false',
    // An OCI layout would have skopeo compress the generated uncompressed layers: keep them as pushed.
    '--preserve-digests',
    '--retry-times', '0',
    `docker://${init.registryHost}/${init.image.reference}`,
    `oci:${destDir}:${init.image.reference.split(':').at(-1) ?? 'latest'}`
  ]
  const startedAt = performance.now()
  const proc = spawnAt(place, 'skopeo', args, { track: init.track })
  const timer = setTimeout(() => { proc.signal('SIGKILL') }, PULL_TIMEOUT_MS)
  const result = (async (): Promise<PullResult> => {
    await proc.exited
    const seconds = (performance.now() - startedAt) / 1000
    clearTimeout(timer)
    if (proc.child.exitCode !== 0) {
      return { host: place.name, verified: false, endedSeconds: seconds, error: `skopeo ${proc.ended() ?? 'failed'}: ${lastLines(proc.stderr(), 3)}` }
    }
    try {
      await verifyOciImage(destDir, init.image.pushed)
    } catch (err) {
      return { host: place.name, seconds, endedSeconds: seconds, verified: false, error: new PullError(`${place.name} pulled wrong bytes`, { cause: err }).message + `: ${(err as Error).message}` }
    }
    return { host: place.name, seconds, endedSeconds: seconds, verified: true }
  })()
  return {
    host: place.name,
    startedAt,
    // Blobs land in the layout's root as temporary files, then move to blobs/sha256.
    progressBytes: async () => await dirBytes(destDir) + await dirBytes(join(destDir, 'blobs', 'sha256')),
    result,
    kill: () => { proc.signal('SIGKILL') },
    process: proc
  }
}

async function dirBytes (dir: string): Promise<number> {
  let entries: string[]
  try {
    entries = await readdir(dir)
  } catch {
    return 0
  }
  let total = 0
  for (const entry of entries) {
    try {
      const info = await stat(join(dir, entry))
      if (info.isFile()) total += info.size
    } catch {
      // renamed or removed between readdir and stat
    }
  }
  return total
}

function lastLines (text: string, count: number): string {
  return text.trim().split('\n').slice(-count).join(' | ')
}
