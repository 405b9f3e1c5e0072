/**
 * What every `pnpm bench <section>` shares: its command line (help, usage errors, the default
 * output folder), a log with the elapsed time, and the report files.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { AGENT_NODE_FLAGS } from '@shoal/agent/node-flags'
import { Teardown } from './mirror/teardown.ts'

/** `<root>/<name>-<timestamp>`, or `--out` when given. */
export function outDirOf (name: string, out: unknown, defaultOutRoot: string, now: Date): string {
  const stamp = now.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')
  return resolve(typeof out === 'string' ? out : resolve(defaultOutRoot, `${name}-${stamp}`))
}

/**
 * The options of `bench <name>`, or the exit code when there is nothing to run: 0 after --help,
 * 2 after a usage error (printed with the usage).
 */
export function benchOptions<T> (name: string, argv: string[], usage: string, parse: () => T): T | number {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage)
    return 0
  }
  try {
    return parse()
  } catch (err) {
    if ((err as Error).name !== 'BenchUsageError') throw err
    console.error(`bench ${name}: ${(err as Error).message}\n${usage}`)
    return 2
  }
}

/** A log line prefixed with the time since the bench started, [mm:ss]. */
export function elapsedLog (): (line: string) => void {
  const started = performance.now()
  return line => {
    const s = Math.round((performance.now() - started) / 1000)
    console.log(`[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}] ${line}`)
  }
}

/** report.json and report.md in `outDir`. */
export async function writeReport (outDir: string, report: unknown, markdown: string): Promise<void> {
  await mkdir(outDir, { recursive: true })
  await writeFile(join(outDir, 'report.json'), JSON.stringify(report, null, 2) + '\n')
  await writeFile(join(outDir, 'report.md'), markdown + '\n')
}

/**
 * Runs `body` with a Teardown and a signal that SIGINT/SIGTERM abort: a first signal stops
 * everything the bench started, a second kills its children at once. Resolves to body's exit
 * code, or 130 when interrupted; the teardown always runs.
 */
export async function withTeardown (name: string, body: (teardown: Teardown, signal: AbortSignal) => Promise<number>): Promise<number> {
  const teardown = new Teardown()
  const controller = new AbortController()
  let interrupted = false
  const onSignal = (sig: NodeJS.Signals): void => {
    if (interrupted) {
      teardown.killChildrenNow()
      process.exit(130)
    }
    interrupted = true
    console.error(`bench ${name}: ${sig}, stopping everything it started (again to kill at once)`)
    controller.abort(new Error(`interrupted by ${sig}`))
    teardown.run().finally(() => process.exit(130))
  }
  const onExit = (): void => { teardown.killChildrenNow() }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.on('exit', onExit)
  try {
    return await body(teardown, controller.signal)
  } catch (err) {
    if (interrupted) return 130
    throw err
  } finally {
    await teardown.run()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    process.off('exit', onExit)
  }
}

/** A Markdown table; `|` in a cell is escaped and a line break becomes a space. */
export function markdownTable (header: string[], rows: string[][]): string {
  const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ')
  return [
    `| ${header.map(cell).join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map(r => `| ${r.map(cell).join(' | ')} |`)
  ].join('\n')
}

/**
 * The Node flags every bench agent runs with: the agent's own, then `BENCH_AGENT_NODE_FLAGS`
 * (space-separated, for experiments: `--cpu-prof --cpu-prof-dir=DIR`; docs/dev/peer-link.md).
 */
export function benchAgentNodeFlags (): string[] {
  return [...AGENT_NODE_FLAGS, ...(process.env.BENCH_AGENT_NODE_FLAGS ?? '').split(' ').filter(flag => flag !== '')]
}
