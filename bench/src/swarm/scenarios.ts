/**
 * The scenarios of the swarm pull: how agents find each other, when each host starts, what
 * happens during the pull. The direct pull is the same for all of them.
 */
import { CHURN_AT_PROGRESS, CHURN_KILL_SHARE } from './constants.ts'

export const SCENARIOS = ['fresh', 'rolling', 'no-scheduler', 'churn', 'prefetched'] as const
export type ScenarioName = typeof SCENARIOS[number]

export interface Scenario {
  name: ScenarioName
  /** One sentence for the report. */
  description: string
  /** A scheduler process directs the agents; without it they find each other through the DHT, bootstrapped from host 0. */
  scheduler: boolean
  /** Seconds after the first host's start that host `i` starts (`physicalSeconds`: image bytes / host link rate). */
  startDelaySeconds: (i: number, hosts: number, physicalSeconds: number) => number
  /** SIGKILL these hosts' agents (and their pulls) once this share of all bytes has arrived. */
  churn?: { hosts: (hosts: number) => number[], atProgress: number }
  /** Spread the layers before the timed pull: layer j through host j mod N's agent. */
  prefetch: boolean
}

const atOnce = (): number => 0

export function scenarioOf (name: ScenarioName): Scenario {
  switch (name) {
    case 'fresh':
      return { name, description: 'all hosts start at once with empty agents, directed by the scheduler', scheduler: true, startDelaySeconds: atOnce, prefetch: false }
    case 'rolling':
      return {
        name,
        description: 'hosts start one after another, (image bytes / link rate) / N apart; each is timed from its own start',
        scheduler: true,
        startDelaySeconds: (i, hosts, physical) => i * physical / hosts,
        prefetch: false
      }
    case 'no-scheduler':
      return { name, description: 'no scheduler: the agents find pieces through the Kad-DHT alone, bootstrapped from host 0; all start at once', scheduler: false, startDelaySeconds: atOnce, prefetch: false }
    case 'churn':
      return {
        name,
        description: `all start at once; ${Math.round(CHURN_KILL_SHARE * 100)}% of the agents are SIGKILLed once ${Math.round(CHURN_AT_PROGRESS * 100)}% of all bytes have arrived; the others must finish`,
        scheduler: true,
        startDelaySeconds: atOnce,
        churn: { hosts: churnVictims, atProgress: CHURN_AT_PROGRESS },
        prefetch: false
      }
    case 'prefetched':
      return {
        name,
        description: 'before the timed pull, `shoal prefetch --scope site:bench` spreads the image over the agents, each piece once (untimed; by pieces unless --prefetch-spread blobs); then all start at once',
        scheduler: true,
        startDelaySeconds: atOnce,
        prefetch: true
      }
  }
}

/** A quarter of the hosts (at least one), spread over the list: 0, 4 of 8. */
function churnVictims (hosts: number): number[] {
  const count = Math.max(1, Math.floor(hosts * CHURN_KILL_SHARE))
  const step = hosts / count
  return Array.from({ length: count }, (_, k) => Math.floor(k * step))
}
