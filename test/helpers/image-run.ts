import { execFile } from 'node:child_process'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { BuiltImage } from './image-build.ts'
import { spawnShoal } from './shoal-process.ts'
import type { ShoalProcess } from './shoal-process.ts'

const execFileAsync = promisify(execFile)

/** The parts of the OCI image config the tests read (`skopeo inspect --config` shows the same). */
export interface ImageConfig {
  User?: string
  Entrypoint?: string[]
  Cmd?: string[]
  Env?: string[]
  WorkingDir?: string
  ExposedPorts?: Record<string, object>
  Labels?: Record<string, string>
}

/** The process a runtime would start, from the runtime bundle's config.json. */
export interface BundleProcess {
  args: string[]
  env: string[]
  cwd: string
  user: { uid: number, gid: number, additionalGids?: number[] }
}

export interface UnpackedImage {
  /** The archive as an OCI layout directory. */
  layout: string
  rootfs: string
  config: ImageConfig
  process: BundleProcess
}

/**
 * The archive's image as a runtime bundle in `dir` (`umoci unpack`, as root: ownership and modes
 * as in the layers): its root filesystem, the image config and config.json's process.
 */
export async function unpackImage (image: BuiltImage, dir: string): Promise<UnpackedImage> {
  const layout = join(dir, 'layout')
  const bundle = join(dir, 'bundle')
  await mkdir(layout)
  // An OCI archive is a tar of an OCI layout.
  await execFileAsync('tar', ['-xf', image.archive, '-C', layout])
  await execFileAsync('umoci', ['unpack', '--image', `${layout}:${image.ref}`, bundle], { maxBuffer: 16 * 1024 * 1024 })
  const runtime = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as { process: BundleProcess }
  return { layout, rootfs: join(bundle, 'rootfs'), config: await layoutConfig(layout, image.ref), process: runtime.process }
}

async function layoutConfig (layout: string, ref: string): Promise<ImageConfig> {
  const blob = async (digest: string): Promise<string> => readFile(join(layout, 'blobs', ...digest.split(':')), 'utf8')
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string, annotations?: Record<string, string> }> }
  const entry = index.manifests.find(m => m.annotations?.['org.opencontainers.image.ref.name'] === ref)
  if (entry == null) throw new Error(`index.json names no ${ref}`)
  const manifest = JSON.parse(await blob(entry.digest)) as { config: { digest: string } }
  return (JSON.parse(await blob(manifest.config.digest)) as { config: ImageConfig }).config
}

/**
 * Mounts /proc and a /dev with the usual device nodes (as an OCI runtime does) in a mount namespace
 * of the process's own, so nothing stays mounted when it ends, then enters the root filesystem as
 * the image's user and working directory and runs the rest.
 */
const ENTER_IMAGE = `r=$1 wd=$2 uid=$3 gid=$4; shift 4
mount -t proc proc "$r/proc"
mount -t tmpfs -o nosuid,mode=0755 tmpfs "$r/dev"
for dev in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
  IFS=: read -r name major minor <<EOF
$dev
EOF
  mknod -m 0666 "$r/dev/$name" c "$major" "$minor"
done
exec unshare --root="$r" --wd="$wd" --setuid="$uid" --setgid="$gid" -- "$@"`

export interface SpawnInImageOptions<T> {
  /** What the errors name it. */
  what: string
  /** The arguments after the image's entrypoint (in place of its Cmd). */
  args: string[]
  /** Set on top of the image's environment. */
  env?: Record<string, string>
  ready: (stdout: string) => T | undefined
  timeoutMs?: number
}

/**
 * The image's entrypoint with `args`, run as its runtime config says (user, working directory,
 * environment and nothing else of this process's), chrooted into its root filesystem with the
 * host's network; SIGKILLed with its children at the test's teardown.
 */
export async function spawnInImage<T> (t: { teardown: (fn: () => Promise<void>) => void }, image: UnpackedImage, opts: SpawnInImageOptions<T>): Promise<ShoalProcess<T>> {
  const { user, cwd, env } = image.process
  const entrypoint = image.config.Entrypoint ?? []
  if (entrypoint.length === 0) throw new Error('the image has no entrypoint')
  return spawnShoal(t, {
    what: opts.what,
    command: { file: 'unshare', args: ['--mount', '--propagation', 'private', '--', 'sh', '-ec', ENTER_IMAGE, 'sh', image.rootfs, cwd, String(user.uid), String(user.gid), ...entrypoint] },
    args: opts.args,
    processGroup: true,
    // tini is PID 1 in a container; here it is not, and reaps its orphans as a subreaper instead.
    env: { ...Object.fromEntries(env.map(pair => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)])), TINI_SUBREAPER: '1', ...opts.env },
    ready: opts.ready,
    timeoutMs: opts.timeoutMs
  })
}
