import { chmod, chown, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { secureDataDir } from '../src/index.ts'

async function tempDir (t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-data-dir-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** Every path under `dir` (itself included) with its permission bits, as `path mode` in octal. */
async function modes (dir: string): Promise<string[]> {
  const names = ['', ...await readdir(dir, { recursive: true })].sort()
  return Promise.all(names.map(async name => `${name} ${((await stat(join(dir, name))).mode & 0o777).toString(8)}`))
}

/** A data dir as an older version left it: 0755 directories, 0644 files. */
async function oldLayout (dataDir: string): Promise<void> {
  await mkdir(join(dataDir, 'blobs', 'sha256'), { recursive: true, mode: 0o755 })
  await mkdir(join(dataDir, 'index'), { mode: 0o755 })
  await writeFile(join(dataDir, 'blobs', 'sha256', 'ab'.repeat(32)), 'layer', { mode: 0o644 })
  await writeFile(join(dataDir, 'index', '000003.log'), 'x', { mode: 0o644 })
  await writeFile(join(dataDir, 'anonymous-blobs'), '', { mode: 0o666 })
  for (const dir of [dataDir, join(dataDir, 'blobs'), join(dataDir, 'blobs', 'sha256'), join(dataDir, 'index')]) await chmod(dir, 0o755)
}

test('a data dir left 0755 with 0644 files is tightened to 0700 / 0600, and a second pass changes nothing', async t => {
  const dataDir = join(await tempDir(t), 'data')
  await oldLayout(dataDir)
  const first = await secureDataDir(dataDir)
  t.deepEqual(await modes(dataDir), [
    ' 700', 'anonymous-blobs 600', 'blobs 700', 'blobs/sha256 700', `blobs/sha256/${'ab'.repeat(32)} 600`, 'index 700', 'index/000003.log 600'
  ])
  t.deepEqual(first, { tightened: 7, checked: 7 })
  t.deepEqual(await secureDataDir(dataDir), { tightened: 0, checked: 7 })
})

test('a missing data dir is made 0700', async t => {
  const dataDir = join(await tempDir(t), 'a', 'data')
  t.deepEqual(await secureDataDir(dataDir), { tightened: 0, checked: 1 })
  t.is((await stat(dataDir)).mode & 0o777, 0o700)
})

test('symbolic links are neither followed nor changed', async t => {
  const base = await tempDir(t)
  const outside = join(base, 'outside')
  await writeFile(outside, 'not ours', { mode: 0o644 })
  await chmod(outside, 0o644)
  const dataDir = join(base, 'data')
  await mkdir(dataDir, { mode: 0o700 })
  await symlink(outside, join(dataDir, 'link'))
  await secureDataDir(dataDir)
  t.is((await stat(outside)).mode & 0o777, 0o644)
})

test('a data dir owned by another user is an error that names the path and the fix', async t => {
  if (process.geteuid?.() !== 0) {
    t.pass('needs root to give the dir to another user')
    return
  }
  const dataDir = join(await tempDir(t), 'data')
  await mkdir(dataDir, { mode: 0o700 })
  await chown(dataDir, 65534, 65534)
  const err = await t.throwsAsync(secureDataDir(dataDir), { name: 'DataDirPermissionError' })
  t.true(err?.message.includes(dataDir))
  t.regex(err?.message ?? '', /belongs to uid 65534.*chown -R 0 /)
})

test('a data dir that is a symbolic link to a directory is followed and tightened', async t => {
  const base = await tempDir(t)
  const target = join(base, 'target')
  await mkdir(target, { mode: 0o755 })
  await chmod(target, 0o755)
  await writeFile(join(target, 'blob'), 'x', { mode: 0o644 })
  await chmod(join(target, 'blob'), 0o644)
  await symlink(target, join(base, 'data'))
  t.deepEqual(await secureDataDir(join(base, 'data')), { tightened: 2, checked: 2 })
  t.deepEqual(await modes(target), [' 700', 'blob 600'])
})
