import type { ComponentLogger, Logger } from '@libp2p/interface'

/**
 * libp2p's component logger when its debug output is off (no `DEBUG` in the environment): one
 * logger that does nothing, for every component and scope. libp2p's default makes a new logger for
 * every stream it opens or accepts (`newScope`), and each costs a namespace match, three `debug`
 * instances and an `isatty` call even when nothing is printed: ~1.8% of the agents' main threads in
 * a 25 Mbit rollout's profile. With `DEBUG` set (`DEBUG=libp2p:*`), libp2p keeps its own.
 */
export function libp2pLogger (env: NodeJS.ProcessEnv = process.env): ComponentLogger | undefined {
  if (env.DEBUG != null && env.DEBUG !== '') return undefined
  return { forComponent: () => QUIET }
}

const noop = (): void => {}
const QUIET: Logger = Object.assign((): void => {}, {
  error: noop,
  trace: noop,
  enabled: false,
  newScope: (): Logger => QUIET
})
