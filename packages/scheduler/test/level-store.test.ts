import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { JobStore, MemberStore } from '../src/index.ts'

const stores = {
  jobs: (path: string) => new JobStore(path),
  members: (path: string) => new MemberStore(path)
}

for (const [name, make] of Object.entries(stores)) {
  test(`a ${name} store already held open is refused by name, and the one holding it goes on`, async t => {
    const root = await mkdtemp(join(tmpdir(), 'shoal-level-store-'))
    t.teardown(async () => { await rm(root, { recursive: true, force: true }) })
    const path = join(root, name)
    const first = make(path)
    await first.open()
    t.teardown(async () => { await first.close() })
    const err = await t.throwsAsync(make(path).open(), { name: 'DataDirInUseError' })
    t.true(err?.message.includes(path), err?.message)
    t.regex(err?.message ?? '', /--data-dir of its own/)
    t.deepEqual(await first.all(), [])
  })
}
