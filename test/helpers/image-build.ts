import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'

const execFileAsync = promisify(execFile)

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CACHE_DIR = join(REPO_ROOT, 'node_modules', '.cache', 'shoal-image')
/** What goes into the image: a change to any of these files makes a new test image. */
const IMAGE_INPUTS = ['package.json', 'pnpm-lock.yaml', 'pnpm-workspace.yaml', 'patches', 'packages', 'scripts/build-image.sh']
/** A cold build (mmdebstrap downloads) takes about 20 s here; a stuck mirror must not hang the suite. */
const BUILD_TIMEOUT_MS = 5 * 60_000
const LOCK_POLL_MS = 500
const EMPTY_LOCK_STALE_MS = 10_000
const IMAGE_TOOLS = ['mmdebstrap', 'umoci', 'skopeo', 'unshare', 'mount', 'dpkg-deb']

export interface BuiltImage {
  /** The OCI archive (`oci-archive:` path). */
  archive: string
  /** Its ref name in the archive: `shoal:<version>`. */
  ref: string
  /** Seconds this process spent building it; undefined when another test file (or run) had built it. */
  buildSeconds?: number
}

/** Why the image tests cannot run on this machine, or undefined when they can. */
export async function imageTestsUnavailable (): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'not root: unpacking the image and running it under chroot needs root (CI runs as root)'
  const missing: string[] = []
  for (const tool of IMAGE_TOOLS) {
    try {
      await execFileAsync('sh', ['-c', `command -v ${tool}`])
    } catch {
      missing.push(tool)
    }
  }
  return missing.length === 0 ? undefined : `missing ${missing.join(', ')} (scripts/ensure-test-deps.sh installs them as root)`
}

/**
 * The image `pnpm build:image` makes from this checkout, built at most once per content of its
 * inputs and shared by every test file and run: cached as node_modules/.cache/shoal-image/test-<hash>.oci.tar.
 * Test files running at once take turns through a lock file holding the builder's pid (a lock
 * whose process is gone is taken over).
 */
export async function builtImage (): Promise<BuiltImage> {
  const version = (JSON.parse(await readFile(join(REPO_ROOT, 'packages', 'cli', 'package.json'), 'utf8')) as { version: string }).version
  const ref = `shoal:${version}`
  const hash = await inputsHash()
  const archive = join(CACHE_DIR, `test-${hash}.oci.tar`)
  const lockFile = `${archive}.lock`
  const deadline = Date.now() + BUILD_TIMEOUT_MS
  await mkdir(CACHE_DIR, { recursive: true })
  for (;;) {
    if (await exists(archive)) return { archive, ref }
    const lock = await open(lockFile, 'wx').catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err
      return null
    })
    if (lock === null) {
      if (!await holderAlive(lockFile)) await rm(lockFile, { force: true })
      else if (Date.now() > deadline) throw new Error(`the image build holding ${lockFile} did not finish in ${BUILD_TIMEOUT_MS / 1000} s`)
      else await sleep(LOCK_POLL_MS)
      continue
    }
    try {
      await lock.writeFile(String(process.pid))
      await lock.close()
      const started = performance.now()
      await build(archive)
      await dropOtherTestImages(archive)
      return { archive, ref, buildSeconds: (performance.now() - started) / 1000 }
    } finally {
      await rm(lockFile, { force: true })
    }
  }
}

async function build (archive: string): Promise<void> {
  const partial = `${archive}.partial`
  try {
    await execFileAsync('bash', [join(REPO_ROOT, 'scripts', 'build-image.sh'), '--out', partial], { timeout: BUILD_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 })
  } catch (err) {
    const { stdout = '', stderr = '' } = err as { stdout?: string, stderr?: string }
    throw new Error(`scripts/build-image.sh failed: ${stderr.trim().split('\n').slice(-10).join('\n')} ${stdout.trim().split('\n').slice(-3).join('\n')}`, { cause: err })
  }
  await rename(partial, archive)
}

/** sha256 over the path and bytes of every file (tracked or not, minus ignored ones and tests) the image is built from. */
async function inputsHash (): Promise<string> {
  const { stdout } = await execFileAsync('git', ['-C', REPO_ROOT, 'ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', ...IMAGE_INPUTS], { maxBuffer: 16 * 1024 * 1024 })
  const files = [...new Set(stdout.split('\0').filter(f => f !== '' && !/^packages\/[^/]+\/test\//.test(f)))].sort()
  const hash = createHash('sha256')
  for (const file of files) {
    const body = await readFile(join(REPO_ROOT, file)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return Buffer.alloc(0) // deleted in the worktree, not yet in git
      throw err
    })
    hash.update(`${file}\0${body.byteLength}\0`).update(body)
  }
  return hash.digest('hex').slice(0, 16)
}

async function holderAlive (lockFile: string): Promise<boolean> {
  const pid = Number(await readFile(lockFile, 'utf8').catch(() => ''))
  // A lock just made may not hold its pid yet: alive unless it stayed empty for a while.
  if (!Number.isInteger(pid) || pid <= 0) return Date.now() - (await stat(lockFile).then(s => s.mtimeMs, () => 0)) < EMPTY_LOCK_STALE_MS
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Test images of earlier inputs: 60 MB each, never used again. */
async function dropOtherTestImages (keep: string): Promise<void> {
  for (const name of await readdir(CACHE_DIR)) {
    if (/^test-[0-9a-f]{16}\.oci\.tar$/.test(name) && join(CACHE_DIR, name) !== keep) await rm(join(CACHE_DIR, name), { force: true })
  }
}

async function exists (path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false)
}
