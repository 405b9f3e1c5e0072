/** Defaults and goals of `bench peer-link`, with units in their names. */
export const MIB = 1024 * 1024
export const GIB = 1024 * MIB
export const DEFAULT_RUNS = 3
export const DEFAULT_BLOB_MIB = 1024
export const DEFAULT_RSS_PEERS = 4
/** A small blob each fresh puller fetches first, untimed, so that no run times its JIT warm-up. */
export const PRIMER_BLOB_MIB = 32
/** Bytes the bare fetcher moves, untimed, before its measured runs (window growth, JIT). */
export const BARE_WARMUP_BYTES = 32 * MIB

/** Goals, as issue 12 states them (the link goal replaced issue 3's 2x). */
export const GOAL_THROUGHPUT_RATIO_MIN = 1
export const GOAL_PEAK_RSS_MIB_MAX = 200

export const BENCH_REPOSITORY = 'bench/peer-link'
export const BIG_SEED = 2000
export const PRIMER_SEED = 2001

/** How long a bare node may take to print its address, and one bare fetch series may take. */
export const BARE_READY_TIMEOUT_MS = 15_000
export const BARE_FETCH_TIMEOUT_MS = 10 * 60_000
/** How long an agent may take to start (p2p node and bootstrap dial included). */
export const AGENT_START_TIMEOUT_MS = 30_000
/** How often agent A's memory is sampled while peers pull from it. */
export const RSS_SAMPLE_INTERVAL_MS = 100
export const PUSH_TIMEOUT_MS = 10 * 60_000
export const PULL_TIMEOUT_MS = 10 * 60_000

export const PROFILE_TOP_FUNCTIONS = 25
export const PROFILE_TOP_FILES = 12
