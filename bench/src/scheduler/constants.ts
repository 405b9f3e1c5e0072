/** Defaults and goals of `bench scheduler`, with units in their names. */
export const MIB = 1024 * 1024

/** Sizes run by default, as agents x tasks: a small swarm, then the agents over half and all of its tasks (more agents per task, then more tasks). */
export const DEFAULT_SIZES = '1000x20,5000x50,5000x100'
/** Blob size of every task: 64 pieces of 1 MiB (pieceSizeFor). */
export const TASK_BYTES = 64 * MIB
/** Tasks each agent downloads during the run (one image's layers, pulled at once). */
export const DEFAULT_DOWNLOADS_PER_AGENT = 4
/** Tasks each agent already holds when it registers (earlier pulls), announced in full. */
export const DEFAULT_HELD_PER_AGENT = 2
/** Zipf exponent of task popularity among downloads: 1 puts a base layer on most pulls; 0 is uniform. */
export const DEFAULT_POPULARITY_SKEW = 1
/** Agents per site (a rack) and sites per zone. */
export const AGENTS_PER_SITE = 40
export const SITES_PER_ZONE = 10
/** Upload slots every agent registers with (the agent's PIECE_SERVER_MAX_READS). */
export const AGENT_UPLOAD_SLOTS = 32
/** Simulated time between decision rounds, and between one agent's reports: the scheduler's SCHEDULER_TICK_MS and SCHEDULER_REPORT_INTERVAL_MS. */
export const ROUND_MS = 100
/** Agents start their pulls at a random round within this window (a rolling deploy, not one instant). */
export const DEFAULT_ROLLOUT_MS = 2_000
/** Pieces one download finishes per report interval: uniform in [1, MAX] (1 MiB pieces, ~10-40 MB/s per layer). */
export const MAX_PIECES_PER_REPORT = 4
/** A run that has not finished every download after this many rounds stops (a stuck swarm is a bug, not a measure). */
export const MAX_ROUNDS = 2_000
export const DEFAULT_SEED = 1

/** Goals, as issues 4 and 12 state them. */
export const GOAL_REPORTS_PER_SECOND_MIN = 50_000
export const GOAL_P99_DECISION_MS_MAX = 5
/** A decision round (tick) within its period: p99 of the rounds (issue 12). */
export const GOAL_P99_ROUND_MS_MAX = ROUND_MS
export const GOAL_PEAK_RSS_MIB_MAX = 1024

/** How long one size may run before it is killed. */
export const SIZE_TIMEOUT_MS = 15 * 60_000
export const PROFILE_TOP_FUNCTIONS = 25
export const PROFILE_TOP_FILES = 12
