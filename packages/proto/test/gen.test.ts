import test from 'ava'
import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const packageRoot = join(import.meta.dirname, '..')
const committed = join(packageRoot, 'src', 'gen')

test('the committed src/gen matches what src/proto generates', async t => {
  const out = await mkdtemp(join(tmpdir(), 'shoal-gen-proto-'))
  t.teardown(async () => { await rm(out, { recursive: true, force: true }) })
  await promisify(execFile)(process.execPath, [join(packageRoot, 'scripts', 'gen-proto.ts'), out], { cwd: packageRoot })

  const fix = 'src/gen is out of date with src/proto: run `pnpm gen:proto` and commit the result'
  const generated = (await readdir(out)).sort()
  t.true(generated.includes('pieces.js') && generated.includes('pieces.d.ts'), `generated: ${generated.join(', ')}`)
  t.deepEqual((await readdir(committed)).sort(), generated, fix)
  for (const file of generated) {
    const fresh = await readFile(join(out, file))
    const current = await readFile(join(committed, file))
    t.true(fresh.equals(current), `${file}: ${fix}`)
  }
})
