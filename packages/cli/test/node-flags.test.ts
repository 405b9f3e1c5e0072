import test from 'ava'
import type { ExecutionContext } from 'ava'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'

const run = promisify(execFile)
const NODE_FLAGS = fileURLToPath(new URL('../src/node-flags.ts', import.meta.url))

/** Runs a script that prints its pid and flags, applies `flags` with withNodeFlags, and prints them again. */
async function flagsOf (t: ExecutionContext, flags: string[], nodeArgs: string[] = []): Promise<Array<{ pid: number, execArgv: string[], argv: string[] }>> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-node-flags-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const script = join(dir, 'script.ts')
  await writeFile(script, [
    `import { withNodeFlags } from ${JSON.stringify(NODE_FLAGS)}`,
    'const state = () => JSON.stringify({ pid: process.pid, execArgv: process.execArgv, argv: process.argv.slice(2) })',
    'console.log(state())',
    `withNodeFlags(${JSON.stringify(flags)})`,
    'console.log(state())'
  ].join('\n'))
  const { stdout } = await run(process.execPath, [...nodeArgs, script, 'agent', '--data-dir', 'x'])
  return stdout.trim().split('\n').map(line => JSON.parse(line) as { pid: number, execArgv: string[], argv: string[] })
}

test('a command\'s Node flags missing from the command line: Node starts again with them, in the same process, with the same arguments', async t => {
  const lines = await flagsOf(t, ['--max-semi-space-size=4'])
  // The first run prints once, then is replaced; the second prints twice (the flags are there now).
  t.is(lines.length, 3)
  const [before, after] = [lines[0]!, lines[2]!]
  t.false(before.execArgv.includes('--max-semi-space-size=4'))
  t.true(after.execArgv.includes('--max-semi-space-size=4'))
  t.is(after.pid, before.pid, 'process.execve keeps the process id')
  t.deepEqual(after.argv, ['agent', '--data-dir', 'x'])
})

test('a flag already on the command line, with the same or another value, starts nothing again: the operator\'s value stands', async t => {
  for (const given of ['--max-semi-space-size=4', '--max-semi-space-size=16']) {
    const lines = await flagsOf(t, ['--max-semi-space-size=4'], [given])
    t.is(lines.length, 2, `no second start with ${given}`)
    t.deepEqual(lines[1]!.execArgv, [given])
  }
})
