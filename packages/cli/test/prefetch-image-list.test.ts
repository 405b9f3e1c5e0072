import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import test from 'ava'
import { parseImageList, readImageList } from '../src/prefetch/image-list.ts'

const LIST = `# images for the edge rollout
reg.example/team/app:v1.4.2

reg.example/team/web --tags 'v1/*'
`

test('one image a line; comments and blank lines skipped; --tags after a repository', t => {
  const text = [
    '# rollout 42',
    'reg.example/team/app:v1.4.2',
    '',
    '   reg.example/team/web   --tags *-latest   # the web tier',
    'reg.example/team/db --tags=v3.?',
    `reg.example/team/api --tags 'v2.*'`,
    'alpine',
    `busybox@sha256:${'0f'.repeat(32)}`,
    '\t'
  ].join('\r\n')
  t.deepEqual(parseImageList(text, { file: 'list.txt' }), [
    { reference: 'reg.example/team/app:v1.4.2' },
    { reference: 'reg.example/team/web', tags: '*-latest' },
    { reference: 'reg.example/team/db', tags: 'v3.?' },
    { reference: 'reg.example/team/api', tags: 'v2.*' },
    { reference: 'alpine:latest' },
    { reference: `busybox@sha256:${'0f'.repeat(32)}` }
  ])
})

test('errors name the file and the line', t => {
  const usage = { name: 'PrefetchUsageError' }
  t.regex(t.throws(() => parseImageList(LIST, { file: 'list.txt' }), usage)?.message ?? '', /^list\.txt:4: --tags: tag filter "v1\/\*"/)
  t.regex(t.throws(() => parseImageList('a\nreg.example/app:v1 --tags v*\n', { file: 'f' }), usage)?.message ?? '', /^f:2: .* names a tag or digest and has a tag filter/)
  t.regex(t.throws(() => parseImageList('a b\n', { file: 'f' }), usage)?.message ?? '', /^f:1: "a b": a line is IMAGE, or REPOSITORY --tags GLOB/)
  t.regex(t.throws(() => parseImageList('a --tags\n', { file: 'f' }), usage)?.message ?? '', /^f:1: /)
  t.regex(t.throws(() => parseImageList('\n\n--tags v1\n', { file: 'f' }), usage)?.message ?? '', /^f:3: /)
  t.regex(t.throws(() => parseImageList('UPPER/case\n', { file: 'f' }), usage)?.message ?? '', /^f:1: image reference "UPPER\/case" is invalid/)
})

test('a file and standard input are read; a missing file is an ImageListReadError', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-prefetch-list-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = join(dir, 'images.txt')
  await writeFile(file, 'reg.example/team/app:v1\n# nothing else\n')
  t.deepEqual(await readImageList(file), [{ reference: 'reg.example/team/app:v1' }])
  t.deepEqual(await readImageList('-', { stdin: Readable.from(['reg.example/x', ' --tags v*\n']) }), [{ reference: 'reg.example/x', tags: 'v*' }])
  const err = await t.throwsAsync(readImageList(join(dir, 'missing.txt')), { name: 'ImageListReadError' })
  t.regex(err?.message ?? '', /^--from-file: cannot read .*missing\.txt/)
  t.is((err?.cause as { code?: string }).code, 'ENOENT')
  const bad = join(dir, 'bad.txt')
  await writeFile(bad, 'ok:1\nnot ok\n')
  t.regex((await t.throwsAsync(readImageList(bad), { name: 'PrefetchUsageError' }))?.message ?? '', /bad\.txt:2: /)
})
