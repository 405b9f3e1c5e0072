import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { generateSwarmKey, loadSwarmKey, parseSwarmKey } from '../src/index.ts'

const HEX = '0123456789abcdef'.repeat(4)

async function keyFile (t: ExecutionContext, content: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-swarm-key-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = join(dir, 'swarm.key')
  await writeFile(file, content)
  return file
}

test('a kubo-style key file loads, with or without a trailing newline, in canonical form', async t => {
  const canonical = `/key/swarm/psk/1.0.0/\n/base16/\n${HEX}`
  for (const content of [canonical, `${canonical}\n`, `/key/swarm/psk/1.0.0/\r\n/base16/\r\n${HEX.toUpperCase()}\r\n`]) {
    const key = await loadSwarmKey(await keyFile(t, content))
    t.is(Buffer.from(key).toString('utf8'), canonical)
  }
})

test('a malformed key file is a SwarmKeyError that names the file and the fault', async t => {
  const cases: Array<[string, string, RegExp]> = [
    ['wrong header', `/key/swarm/psk/2.0.0/\n/base16/\n${HEX}\n`, /first line must be \/key\/swarm\/psk\/1\.0\.0\//],
    ['wrong codec', `/key/swarm/psk/1.0.0/\n/base64/\n${HEX}\n`, /second line must be \/base16\//],
    ['short hex', `/key/swarm/psk/1.0.0/\n/base16/\n${HEX.slice(0, 62)}\n`, /64 hex characters .* found 62/],
    ['non-hex', `/key/swarm/psk/1.0.0/\n/base16/\n${HEX.slice(0, 63)}g\n`, /must be hexadecimal/],
    ['missing key line', '/key/swarm/psk/1.0.0/\n/base16/\n', /expected 3 lines/]
  ]
  for (const [label, content, message] of cases) {
    const file = await keyFile(t, content)
    const err = await t.throwsAsync(loadSwarmKey(file), undefined, label)
    t.is(err?.name, 'SwarmKeyError', label)
    t.true(err?.message.includes(file), label)
    t.regex(err?.message ?? '', message, label)
  }
  const missing = join(tmpdir(), 'shoal-no-such-dir', 'swarm.key')
  const err = await t.throwsAsync(loadSwarmKey(missing))
  t.is(err?.name, 'SwarmKeyError')
  t.true(err?.message.includes(missing))
})

test('generateSwarmKey writes a fresh key that parses', t => {
  const a = generateSwarmKey()
  const b = generateSwarmKey()
  t.not(a, b)
  t.regex(a, /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/)
  t.is(Buffer.from(parseSwarmKey(a, 'generated')).toString('utf8'), a.trimEnd())
})
