#!/usr/bin/env node
/**
 * `pnpm bench <benchmark> [options]`: benchmarks of shoal against the origin registry, each
 * measured as ratios in one run. Run from the repository root.
 */
import { fileURLToPath } from 'node:url'
import { MIRROR_USAGE, runMirrorBench } from './mirror/index.ts'
import { PEER_LINK_USAGE, runPeerLinkBench } from './peer-link/index.ts'
import { runSchedulerBench, SCHEDULER_USAGE } from './scheduler/index.ts'
import { runStallBench, STALL_USAGE } from './stall/index.ts'
import { runSwarmBench, SWARM_USAGE } from './swarm/index.ts'

const USAGE = `usage: pnpm bench <benchmark> [options]

benchmarks:
  mirror    the agent as a pull-through cache vs the origin: cold time (loopback, shaped origin link),
            warm throughput, peak RSS
  peer-link one peer link between two agents vs bare js-libp2p: throughput, the uploader's peak RSS
  scheduler the scheduler's handlers under simulated agents, in-process: piece reports/s, decision latency,
            peak RSS, at two or three sizes
  stall     HTTP clients and piece streams that stop reading a cached blob: the agent's RSS and a
            manifest GET's latency meanwhile
  swarm     N hosts pull one cold image through their agents vs N clients straight from the origin, on
            simulated links (network namespaces and tc tbf, or loopback): completion p50/p90/max, origin egress

${MIRROR_USAGE}

${PEER_LINK_USAGE}

${SCHEDULER_USAGE}

${STALL_USAGE}

${SWARM_USAGE}
`

const OUT_ROOT = fileURLToPath(new URL('../out/', import.meta.url))

async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'mirror':
      return runMirrorBench(rest, { outRoot: OUT_ROOT })
    case 'peer-link':
      return runPeerLinkBench(rest, { outRoot: OUT_ROOT })
    case 'scheduler':
      return runSchedulerBench(rest, { outRoot: OUT_ROOT })
    case 'stall':
      return runStallBench(rest, { outRoot: OUT_ROOT })
    case 'swarm':
      return runSwarmBench(rest, { outRoot: OUT_ROOT })
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE)
      return command == null ? 2 : 0
    default:
      process.stderr.write(`bench: unknown benchmark "${command}"\n${USAGE}`)
      return 2
  }
}

main(process.argv.slice(2)).then(code => { process.exitCode = code }, err => {
  console.error(`bench: ${(err as Error).stack ?? String(err)}`)
  process.exitCode = 1
})
