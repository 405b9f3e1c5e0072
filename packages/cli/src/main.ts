#!/usr/bin/env node
/**
 * The `shoal` command: `shoal agent`, `shoal scheduler`, `shoal configure containerd|podman|docker`.
 * Run from the repository root as `pnpm shoal <command>`. The composition root: the agent and the
 * scheduler packages do not import each other; only this does.
 */

import { AGENT_NODE_FLAGS } from '@shoal/agent/node-flags'
import { withNodeFlags } from './node-flags.ts'

const USAGE = `usage: shoal <command> [options]

commands:
  agent                              run the registry mirror on this host (shoal agent --help)
  scheduler                          run a scheduler for the agents of a cluster (shoal scheduler --help)
  configure containerd|podman|docker point a container runtime at the agent (--dry-run to preview)
  prefetch IMAGE...                  fetch images' layers into agents ahead of a rollout (shoal prefetch --help)
`

async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    // Each command loads only its own modules: the agent's memory is a goal of its own.
    case 'agent': {
      withNodeFlags(AGENT_NODE_FLAGS)
      const { runAgent } = await import('@shoal/agent/cli')
      // The scheduler's code is loaded only when an agent runs one (--embedded-scheduler).
      return runAgent(rest, { embeddedScheduler: { start: async node => (await import('./embedded-scheduler.ts')).embeddedScheduler.start(node) } })
    }
    case 'scheduler':
      return (await import('@shoal/scheduler/cli')).runScheduler(rest)
    case 'prefetch':
      return (await import('./prefetch/index.ts')).runPrefetch(rest)
    case 'configure':
      return (await import('@shoal/agent/configure')).configureCommand(rest, { stdout: line => { console.log(line) }, stderr: line => { console.error(line) } })
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE)
      return command == null ? 2 : 0
    default:
      process.stderr.write(`shoal: unknown command "${command}"\n${USAGE}`)
      return 2
  }
}

main(process.argv.slice(2)).then(code => { process.exitCode = code }, err => {
  console.error(`shoal: ${(err as Error).message}`)
  process.exitCode = 1
})
