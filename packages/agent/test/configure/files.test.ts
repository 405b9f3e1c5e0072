import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test, { type ExecutionContext } from 'ava'
import { backupTimestamp, readOptional, writeConfig } from '../../src/configure/files.ts'

const now = new Date('2025-03-04T05:06:07.890Z')

async function tempDir (t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-files-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

test('backup names sort by time and need no quoting', t => {
  t.is(backupTimestamp(now), '20250304T050607Z')
})

test('a new file is written with its directories and no backup; no temp file is left', async t => {
  const dir = await tempDir(t)
  const path = join(dir, 'etc/docker/daemon.json')
  t.is(await readOptional(path), undefined)
  t.deepEqual(await writeConfig(path, '{}\n', { previous: undefined, root: dir, now }), {})
  t.is(await readFile(path, 'utf8'), '{}\n')
  t.deepEqual(await readdir(join(dir, 'etc/docker')), ['daemon.json'])
})

test('a replaced file keeps its mode; a second backup in the same second gets a counter', async t => {
  const dir = await tempDir(t)
  const path = join(dir, 'daemon.json')
  await writeFile(path, 'one', { mode: 0o600 })
  const first = await writeConfig(path, 'two', { previous: 'one', root: dir, now })
  const second = await writeConfig(path, 'three', { previous: 'two', root: dir, now })
  t.is(first.backup, `${path}.shoal-backup-20250304T050607Z`)
  t.is(second.backup, `${path}.shoal-backup-20250304T050607Z-2`)
  t.is(await readFile(first.backup ?? '', 'utf8'), 'one')
  t.is(await readFile(second.backup ?? '', 'utf8'), 'two')
  t.is(await readFile(path, 'utf8'), 'three')
  t.is((await stat(path)).mode & 0o777, 0o600)
})

test('a symlink is followed so the link stays; a link out of the root is refused', async t => {
  const dir = await tempDir(t)
  await mkdir(join(dir, 'etc/containers'), { recursive: true })
  await writeFile(join(dir, 'real.conf'), 'old')
  const link = join(dir, 'etc/containers/registries.conf')
  await symlink('../../real.conf', link)
  await writeConfig(link, 'new', { previous: 'old', root: dir, now })
  t.true((await lstat(link)).isSymbolicLink())
  t.is(await readFile(join(dir, 'real.conf'), 'utf8'), 'new')

  const outside = await tempDir(t)
  await writeFile(join(outside, 'host.conf'), 'host')
  const escape = join(dir, 'etc/containers/escape.conf')
  await symlink(join(outside, 'host.conf'), escape)
  const err = await t.throwsAsync(writeConfig(escape, 'new', { previous: 'host', root: dir, now }))
  t.is(err?.name, 'ConfigureError')
  t.is(await readFile(join(outside, 'host.conf'), 'utf8'), 'host')
})

test('an unwritable location is a ConfigureError that says what to do', async t => {
  const dir = await tempDir(t)
  await writeFile(join(dir, 'file'), '')
  const err = await t.throwsAsync(writeConfig(join(dir, 'file/below/daemon.json'), '{}', { previous: undefined, root: dir, now }))
  t.is(err?.name, 'ConfigureError')
  t.regex(err?.message ?? '', /cannot create the directory of .*daemon\.json/)
})
