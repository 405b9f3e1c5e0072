import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chown, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { layerFixture, pushImage, skopeoCopy, startRegistry, verifyDirImage } from './fixtures/index.ts'
import { deadRegistryHost, testAgentArgs } from './helpers/agent.ts'
import { agentReady } from './helpers/agent-process.ts'
import { fetchBody, scrapeMetric, waitFor } from './helpers/http.ts'
import { builtImage, imageTestsUnavailable } from './helpers/image-build.ts'
import type { BuiltImage } from './helpers/image-build.ts'
import { spawnInImage, unpackImage } from './helpers/image-run.ts'
import type { UnpackedImage } from './helpers/image-run.ts'
import { schedulerReady } from './helpers/scheduler-process.ts'
import { tempDir } from './helpers/temp.ts'

const execFileAsync = promisify(execFile)

/** The user the image runs as (uid and gid), by the build script's passwd. */
const SHOAL_UID = 65532
/** The archive's size stays lean: Node itself is ~48 MB of it gzipped. */
const MAX_ARCHIVE_BYTES = 80 * 1024 * 1024
const START_TIMEOUT_MS = 30_000

const unavailable = await imageTestsUnavailable()
if (unavailable != null) console.warn(`container image tests skipped: ${unavailable}`)
const imageTest = unavailable == null ? test : test.skip

// One build and one unpacked root filesystem for the whole file (the build is shared with other
// files and runs too); the root filesystem is removed after the last test.
let image: Promise<BuiltImage> | undefined
let unpacked: Promise<UnpackedImage> | undefined
let unpackDir: string | undefined
const theImage = async (t: ExecutionContext): Promise<BuiltImage> => {
  t.timeout(6 * 60_000, 'a cold image build downloads Debian packages')
  if (image == null) {
    image = builtImage()
    const built = await image
    t.log(built.buildSeconds == null ? `the image of these inputs was built before: ${built.archive}` : `built ${built.archive} in ${built.buildSeconds.toFixed(1)} s`)
  }
  return image
}
const theRootfs = async (t: ExecutionContext): Promise<UnpackedImage> => {
  const built = await theImage(t)
  unpacked ??= mkdtemp(join(tmpdir(), 'shoal-image-')).then(async dir => {
    unpackDir = dir
    return unpackImage(built, dir)
  })
  return unpacked
}
test.after.always(async () => {
  if (unpackDir != null) await rm(unpackDir, { recursive: true, force: true })
})

imageTest('pnpm build:image: an OCI archive tagged shoal:<version> whose entrypoint is shoal, as a non-root user, with no dev tooling', async t => {
  const built = await theImage(t)
  const version = (JSON.parse(await readFile('packages/cli/package.json', 'utf8')) as { version: string }).version
  t.is(built.ref, `shoal:${version}`)
  // skopeo finds the image by its tag in the archive.
  const inspect = JSON.parse((await execFileAsync('skopeo', ['inspect', `oci-archive:${built.archive}:${built.ref}`])).stdout) as { Layers: string[], Labels: Record<string, string>, Architecture: string, Os: string }
  t.is(inspect.Layers.length, 3, 'Debian root filesystem, Node, shoal')
  t.is(inspect.Architecture, 'amd64')
  t.is(inspect.Os, 'linux')
  t.is(inspect.Labels['org.opencontainers.image.title'], 'shoal')
  t.is(inspect.Labels['org.opencontainers.image.version'], version)
  const config = JSON.parse((await execFileAsync('skopeo', ['inspect', '--config', `oci-archive:${built.archive}:${built.ref}`])).stdout) as { config: Record<string, unknown>, history: Array<{ created_by?: string }> }
  t.is(config.config.User, `${SHOAL_UID}:${SHOAL_UID}`)
  t.deepEqual(config.config.Entrypoint, ['/usr/bin/tini', '--', '/usr/local/bin/shoal'])
  t.deepEqual(config.config.Cmd, ['agent'])
  t.true((config.config.Env as string[]).includes('HOME=/var/lib/shoal'))
  // The compile cache where the user may write: without it Node keeps its TypeScript stripper loaded.
  t.true((config.config.Env as string[]).includes('NODE_COMPILE_CACHE=/var/lib/shoal/.cache/node-compile'))
  t.deepEqual(Object.keys(config.config.ExposedPorts as object).sort(), ['65001/tcp', '65002/tcp', '65003/tcp'])

  const size = (await stat(built.archive)).size
  const layout = await theRootfs(t)
  const blobSizes = await Promise.all(inspect.Layers.map(async digest => (await stat(join(layout.layout, 'blobs', ...digest.split(':')))).size))
  t.log(`archive ${(size / 1e6).toFixed(1)} MB; layers (gzip) ${blobSizes.map((bytes, i) => `${config.history[i]?.created_by ?? '?'}: ${(bytes / 1e6).toFixed(1)} MB`).join(', ')}`)
  t.true(size < MAX_ARCHIVE_BYTES, `the archive is ${size} bytes`)

  // What a runtime runs: the entrypoint, then Cmd, as the shoal user in /var/lib/shoal, which it owns.
  t.deepEqual(layout.process.args, ['/usr/bin/tini', '--', '/usr/local/bin/shoal', 'agent'])
  t.like(layout.process.user, { uid: SHOAL_UID, gid: SHOAL_UID })
  t.is(layout.process.cwd, '/var/lib/shoal')
  const home = await stat(join(layout.rootfs, 'var/lib/shoal'))
  t.like(home, { uid: SHOAL_UID, gid: SHOAL_UID })
  t.regex(await readFile(join(layout.rootfs, 'etc/passwd'), 'utf8'), new RegExp(`^shoal:x:${SHOAL_UID}:${SHOAL_UID}:`, 'm'))
  t.regex(await readFile(join(layout.rootfs, 'etc/hosts'), 'utf8'), /^127\.0\.0\.1\s+localhost$/m)

  // No shell, compiler or package manager; only shoal's production packages, without their tests.
  for (const tool of ['bin/sh', 'usr/bin/sh', 'usr/bin/gcc', 'usr/bin/cc', 'usr/bin/make', 'usr/bin/apt-get', 'usr/bin/dpkg', 'usr/bin/python3']) {
    await t.throwsAsync(stat(join(layout.rootfs, tool)), { code: 'ENOENT' }, `/${tool} is not in the image`)
  }
  t.deepEqual((await readdir(join(layout.rootfs, 'app/packages'))).sort(), ['agent', 'cli', 'p2p', 'proto', 'scheduler'])
  for (const pkg of await readdir(join(layout.rootfs, 'app/packages'))) {
    t.deepEqual((await readdir(join(layout.rootfs, 'app/packages', pkg))).sort(), [...pkg === 'cli' ? ['bin'] : [], 'node_modules', 'package.json', 'src'], `packages/${pkg}`)
  }
  const installed = await readdir(join(layout.rootfs, 'app/node_modules/.pnpm'))
  for (const dev of ['typescript@', 'ava@', 'eslint@', '@types+node@', 'protons@']) {
    t.false(installed.some(name => name.startsWith(dev)), `no ${dev} in /app`)
  }
  t.true(installed.some(name => name.startsWith('libp2p@')) && installed.some(name => name.startsWith('classic-level@')), 'the runtime dependencies are there')
})

imageTest('shoal scheduler and shoal agent run from the image\'s root filesystem; skopeo pulls an image through that agent', async t => {
  t.timeout(6 * 60_000)
  const root = await theRootfs(t)
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const pushed = await pushImage(registry, { name: 'team/app', tag: 'v1', format: 'oci', layers: [layerFixture({ size: 3 * 1024 * 1024 + 7, seed: 21 }), layerFixture({ size: 40_000, seed: 22 })] })

  // A directory of this test's own in the image's data dir, owned by the image's user, as a volume would be.
  const run = `/var/lib/shoal/test-${randomBytes(4).toString('hex')}`
  await mkdir(join(root.rootfs, run), { mode: 0o700 })
  await chown(join(root.rootfs, run), root.process.user.uid, root.process.user.gid)
  const swarmKey = `${run}/swarm.key`
  await writeFile(join(root.rootfs, swarmKey), `/key/swarm/psk/1.0.0/\n/base16/\n${randomBytes(32).toString('hex')}\n`, { mode: 0o600 })
  await chown(join(root.rootfs, swarmKey), root.process.user.uid, root.process.user.gid)
  const logs = { SHOAL_LOG: process.env.SHOAL_TEST_LOG ?? 'warn' }

  const scheduler = await spawnInImage(t, root, {
    what: 'shoal scheduler (image)',
    args: ['scheduler', '--listen', '/ip4/127.0.0.1/tcp/0', '--admin', '127.0.0.1:0', '--data-dir', `${run}/scheduler`, '--swarm-key', swarmKey],
    env: logs,
    ready: schedulerReady,
    timeoutMs: START_TIMEOUT_MS
  })
  const agent = await spawnInImage(t, root, {
    what: 'shoal agent (image)',
    args: ['agent', ...testAgentArgs(`${run}/agent`, [registry.url], ['--p2p-listen', '/ip4/127.0.0.1/tcp/0', '--swarm-key', swarmKey, '--scheduler', scheduler.ready.addr])],
    env: logs,
    ready: stdout => agentReady(stdout, true),
    timeoutMs: START_TIMEOUT_MS
  })
  const agentUrl = agent.ready.url
  for (const proc of [scheduler, agent]) {
    t.regex(await readFile(`/proc/${proc.pid}/status`, 'utf8'), new RegExp(`^Uid:\\s+${SHOAL_UID}\\s`, 'm'), 'it runs as the image\'s user')
  }
  await waitFor('the agent connected to the scheduler', async () => await scrapeMetric(agentUrl, 'shoal_agent_schedulers_connected') === 1, { timeoutMs: START_TIMEOUT_MS })

  const dest = await tempDir(t, 'image-pull')
  await skopeoCopy({ image: `${await deadRegistryHost()}/team/app:v1`, mirror: new URL(agentUrl).host, destDir: dest })
  await verifyDirImage(dest, pushed)
  t.is((await stat(join(root.rootfs, run, 'agent'))).uid, SHOAL_UID, 'the agent made its data dir as the image\'s user')

  // The agent told the scheduler what it now holds.
  const adminToken = (await readFile(join(root.rootfs, run, 'scheduler', 'admin-token'), 'utf8')).trim()
  await waitFor('the scheduler knows the agent holds the layers', async () => {
    const res = await fetchBody(`${scheduler.ready.admin}/tasks`, { headers: { authorization: `Bearer ${adminToken}` } })
    const tasks = (JSON.parse(res.body.toString()) as { tasks: Array<{ digest: string, peers: unknown[] }> }).tasks
    return pushed.layers.every(layer => tasks.some(task => task.digest === layer.digest && task.peers.length === 1))
  }, { timeoutMs: START_TIMEOUT_MS })

  // SIGTERM to the entrypoint (tini) reaches shoal, which drains and stops.
  await agent.kill('SIGTERM')
  t.is(await agent.exited, 0)
  t.regex(agent.stdout(), /shoal agent: stopped/)
  await scheduler.kill('SIGTERM')
  t.is(await scheduler.exited, 0)
})

imageTest('the image\'s default command is shoal agent, keeping its data in /var/lib/shoal/agent as its environment says', async t => {
  t.timeout(6 * 60_000)
  const root = await theRootfs(t)
  const cmd = root.config.Cmd ?? []
  t.deepEqual(cmd, ['agent'])
  // Only the listener moves off its fixed port (other tests share this host's network) and peers stay off.
  const agent = await spawnInImage(t, root, {
    what: 'shoal agent (image, default command)',
    args: cmd,
    env: { SHOAL_LISTEN: '127.0.0.1:0', SHOAL_NO_P2P: 'true', SHOAL_LOG: process.env.SHOAL_TEST_LOG ?? 'warn' },
    ready: stdout => agentReady(stdout, false),
    timeoutMs: START_TIMEOUT_MS
  })
  t.regex(agent.stdout(), /mirroring docker\.io at .* \(data in \/var\/lib\/shoal\/agent\)/)
  t.is((await fetchBody(`${agent.ready.url}/readyz`)).status, 200)
  t.is((await stat(join(root.rootfs, 'var/lib/shoal/agent'))).uid, SHOAL_UID)
  await agent.kill('SIGTERM')
  t.is(await agent.exited, 0)
})

// Containers cannot start in this sandbox (the runtimes' setrlimit is refused); loading the archive
// into podman's storage works, and a run is tried and its outcome logged.
imageTest('podman loads the archive as localhost/shoal:<version>', async t => {
  try {
    await execFileAsync('sh', ['-c', 'command -v podman'])
  } catch {
    t.log('podman is not installed')
    t.pass()
    return
  }
  const built = await theImage(t)
  const dir = await mkdtemp(join(tmpdir(), 'shoal-image-podman-'))
  const podman = ['--root', join(dir, 'root'), '--runroot', join(dir, 'run'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none']
  t.teardown(async () => {
    await execFileAsync('podman', [...podman, 'rm', '--all', '--force']).catch(() => undefined)
    await execFileAsync('podman', [...podman, 'rmi', '--all', '--force']).catch(() => undefined)
    await unmountUnder(dir)
    await rm(dir, { recursive: true, force: true })
  })
  const { stdout } = await execFileAsync('podman', [...podman, 'load', '--input', built.archive])
  t.regex(stdout, new RegExp(`Loaded image: localhost/${built.ref.replace('.', '\\.')}`))
  const [inspected] = JSON.parse((await execFileAsync('podman', [...podman, 'image', 'inspect', `localhost/${built.ref}`])).stdout) as Array<{ Config: { User: string, Entrypoint: string[] } }>
  t.is(inspected?.Config.User, `${SHOAL_UID}:${SHOAL_UID}`)
  try {
    const ran = await execFileAsync('podman', [...podman, 'run', '--rm', '--network', 'host', `localhost/${built.ref}`, '--help'], { timeout: 60_000 })
    t.regex(ran.stdout, /usage: shoal/)
    t.log('podman run works here')
  } catch (err) {
    t.log(`podman run cannot start a container here: ${((err as { stderr?: string }).stderr ?? String(err)).trim()}`)
  }
})

/** Unmounts whatever podman left mounted under `dir` (deepest first), so removing `dir` stays inside it. */
async function unmountUnder (dir: string): Promise<void> {
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').map(line => line.split(' ')[4] ?? '').filter(point => point.startsWith(`${dir}/`))
  for (const point of mounts.sort((a, b) => b.length - a.length)) await execFileAsync('umount', [point])
}
