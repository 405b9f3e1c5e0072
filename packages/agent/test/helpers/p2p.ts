// The p2p package's test nodes, for the agent's tests of what runs on them.
export { LOOPBACK, START_TIMEOUT_MS, startTestNode, testSwarmKey } from '../../../p2p/test/helpers.ts'
