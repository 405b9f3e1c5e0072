import { chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { layerFixture, pushImage, skopeoCopy, startRegistry, verifyDirImage } from './fixtures/index.ts'
import type { PushedImage } from './fixtures/index.ts'
import { spawnAgentProcess } from './helpers/agent-process.ts'
import { deadRegistryHost, startTestAgent, testAgentArgs } from './helpers/agent.ts'
import { captureLogs } from './helpers/log-capture.ts'
import { looseModes } from './helpers/modes.ts'
import { writeSwarmKey } from './helpers/p2p-cluster.ts'
import { spawnScheduler } from './helpers/scheduler-process.ts'
import { runShoal } from './helpers/shoal-process.ts'
import { tempDir } from './helpers/temp.ts'

/** A registry with one image of a multi-piece layer and a small one. */
async function origin (t: ExecutionContext): Promise<{ url: string, image: PushedImage }> {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const image = await pushImage(registry, {
    name: 'private/app',
    tag: 'v1',
    format: 'oci',
    layers: [layerFixture({ size: 3 * 1024 * 1024 + 5, seed: 11 }), layerFixture({ size: 40_000, seed: 12 })]
  })
  return { url: registry.url, image }
}

/** What an older version left: 0755 directories and 0644 files, a blob among them. */
async function oldDataDir (dataDir: string): Promise<string[]> {
  const blobDir = join(dataDir, 'blobs', 'sha256')
  await mkdir(blobDir, { recursive: true, mode: 0o755 })
  await mkdir(join(dataDir, 'partial'), { mode: 0o755 })
  const files = [join(blobDir, 'ab'.repeat(32)), join(dataDir, 'anonymous-blobs')]
  for (const file of files) {
    await writeFile(file, 'old', { mode: 0o644 })
    await chmod(file, 0o644)
  }
  for (const dir of [dataDir, join(dataDir, 'blobs'), blobDir, join(dataDir, 'partial')]) await chmod(dir, 0o755)
  return files
}

test('after a pull through an agent in this process, its dirs are 0700 and the files shoal writes 0600, whatever the umask', async t => {
  const { url, image } = await origin(t)
  const dataDir = join(await tempDir(t, 'modes'), 'data')
  const agent = await startTestAgent({ upstreams: [url], dataDir, args: ['--p2p-listen', '/ip4/127.0.0.1/tcp/0'] })
  t.teardown(agent.stop)
  const dest = await tempDir(t, 'modes-pull')
  await skopeoCopy({ image: `${await deadRegistryHost()}/private/app:v1`, mirror: agent.host, destDir: dest })
  await verifyDirImage(dest, image)
  t.not(process.umask() & 0o077, 0o077, 'this test means something only under a looser umask than the command sets')
  // level makes its own files with the process's umask: only the shoal command sets one.
  t.deepEqual(await looseModes(dataDir, { skipFilesUnder: ['index', 'manifests'] }), [])
})

test('a data dir an older version left 0755 with 0644 files is tightened at start, with one log line', async t => {
  const dataDir = join(await tempDir(t, 'modes-old'), 'data')
  await oldDataDir(dataDir)
  const logs = captureLogs()
  const agent = await startTestAgent({ upstreams: [(await origin(t)).url], dataDir, logger: logs.logger })
  t.teardown(agent.stop)
  t.deepEqual(await looseModes(dataDir, { skipFilesUnder: ['index', 'manifests'] }), [])
  const lines = logs.lines.filter(l => l.msg === 'data dir tightened to 0700 / 0600')
  t.is(lines.length, 1)
  t.is(lines[0]?.tightened, 6, 'the data dir, blobs, blobs/sha256, partial, the blob and anonymous-blobs')
})

test('shoal agent as a process: after a pull every path under its data dir is 0700 / 0600, level\'s files too (umask 077)', async t => {
  const { url, image } = await origin(t)
  const dataDir = join(await tempDir(t, 'modes-process'), 'data')
  await oldDataDir(dataDir)
  const agent = await spawnAgentProcess(t, { dataDir, upstreams: [url], logs: true })
  const dest = await tempDir(t, 'modes-process-pull')
  await skopeoCopy({ image: `${await deadRegistryHost()}/private/app:v1`, mirror: agent.host, destDir: dest })
  await verifyDirImage(dest, image)
  t.deepEqual(await looseModes(dataDir), [])
  t.regex(agent.stderr(), /"msg":"data dir tightened to 0700 \/ 0600".*"tightened":6/)
})

test('shoal agent and shoal scheduler refuse a data dir owned by another user (exit 1), naming it and the fix', async t => {
  if (process.geteuid?.() !== 0) {
    t.pass('needs root to give the dir to another user')
    return
  }
  const dataDir = join(await tempDir(t, 'modes-owner'), 'data')
  await mkdir(dataDir, { mode: 0o700 })
  await chown(dataDir, 65534, 65534)
  const agent = await runShoal(['agent', ...testAgentArgs(dataDir, [`http://${await deadRegistryHost()}`])])
  t.is(agent.code, 1)
  t.true(agent.stderr.includes(`shoal agent: cannot start: data dir ${dataDir} belongs to uid 65534`), agent.stderr)
  t.true(agent.stderr.includes(`chown -R 0 ${dataDir}`))
  const scheduler = await runShoal(['scheduler', '--listen', '/ip4/127.0.0.1/tcp/0', '--admin', '127.0.0.1:0', '--data-dir', dataDir])
  t.is(scheduler.code, 1)
  t.true(scheduler.stderr.includes(`shoal scheduler: cannot start: data dir ${dataDir} belongs to uid 65534`), scheduler.stderr)
  t.true(scheduler.stderr.includes(`chown -R 0 ${dataDir}`))
})

test('shoal scheduler tightens its data dir at start; its own files come out 0600 (admin-token, peer.key, jobs)', async t => {
  const dataDir = join(await tempDir(t, 'modes-scheduler'), 'data')
  await mkdir(join(dataDir, 'members'), { recursive: true, mode: 0o755 })
  await writeFile(join(dataDir, 'join-tokens.old'), 'x', { mode: 0o644 })
  await chmod(join(dataDir, 'join-tokens.old'), 0o644)
  await chmod(dataDir, 0o755)
  const scheduler = await spawnScheduler(t, { dataDir, swarmKey: await writeSwarmKey(t) })
  t.is((await readFile(scheduler.adminTokenFile, 'utf8')).trim(), scheduler.adminToken)
  t.deepEqual(await looseModes(dataDir), [])
})
