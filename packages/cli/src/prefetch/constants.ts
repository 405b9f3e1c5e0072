/** Defaults and limits of `shoal prefetch`; units in the names. */

/** The agent's mirror when neither --agent nor --scheduler is given. */
export const DEFAULT_AGENT_URL = 'http://127.0.0.1:65001'
/** The admin token `shoal scheduler` makes in its default data dir (`--admin-token-file` names another). */
export const DEFAULT_ADMIN_TOKEN_FILE = '.shoal/scheduler/admin-token'
/** Layers the CLI fetches at once through one agent (--agent mode); the scheduler has its own default. */
export const DEFAULT_CONCURRENCY = 4
export const MIN_CONCURRENCY = 1
export const MAX_CONCURRENCY = 64
export const MIN_REPLICAS = 1
export const MAX_REPLICAS = 16
/** --timeout in --agent mode when none is given (the scheduler's own default is the same). */
export const DEFAULT_TIMEOUT_MS = 3600_000
/** The longest --timeout accepted: a week. */
export const MAX_TIMEOUT_MS = 7 * 86_400_000

/** How often the job is read while it runs: the scheduler's admin API, or the local job. */
export const SCHEDULER_POLL_INTERVAL_MS = 500
export const LOCAL_POLL_INTERVAL_MS = 200
/** One admin API request gives up after this. */
export const SCHEDULER_REQUEST_TIMEOUT_MS = 10_000
/** Polling gives up when the scheduler has not answered for this long (the job goes on there). */
export const SCHEDULER_UNREACHABLE_MS = 30_000

/** Plain-line mode: at most one progress line per this interval. */
export const PLAIN_LINE_INTERVAL_MS = 2000
/** The transfer rate is measured over this window. */
export const RATE_WINDOW_MS = 5000

/** Exit codes. */
export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2
export const EXIT_INTERRUPTED = 130
