/**
 * Node flags the agent process runs with (`shoal agent` starts Node again with them when they are
 * missing: packages/cli/src/node-flags.ts): a small young generation, because the blob path churns
 * through many short-lived buffer objects and V8 otherwise lets new space grow by tens of MiB under
 * that load for no gain in throughput. Only the agent's: the scheduler's decisions run slower on it
 * (`bench scheduler`), so `shoal scheduler` keeps V8's default. No import: the launcher reads this
 * before it loads the agent.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4']
