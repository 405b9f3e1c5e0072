/** Defaults, goals and limits of `bench swarm`, with units in their names. */
export const DEFAULT_HOSTS = 8
export const DEFAULT_LAYERS = 3
export const DEFAULT_LAYER_MIB = 64
/** Rate of every host link and of the origin's link, each direction. */
export const DEFAULT_LINK_MBIT = 100
/** The runs made when neither the link rate nor the layer size is given: the same physical limit at two rates. */
export const DEFAULT_LINES = [{ linkMbit: 100, layerMiB: 64 }, { linkMbit: 25, layerMiB: 16 }] as const

export const MIB = 1024 * 1024
/** 1 Mbit/s (10^6 bits per second) in bytes per second. */
export const BYTES_PER_SECOND_PER_MBIT = 125_000

/** Goals, as issues 5 and 12 state them (reported, never asserted). */
export const GOAL_FRESH_ORIGIN_EGRESS_RATIO_MAX = 1.05
export const GOAL_FRESH_P50_LIMIT_RATIO_MAX = 1.2
export const GOAL_FRESH_MAX_LIMIT_RATIO_MAX = 1.5
export const GOAL_FRESH_SPEEDUP_P50_MIN = 5
export const GOAL_NO_SCHEDULER_ORIGIN_EGRESS_RATIO_MAX = 2
export const GOAL_PREFETCHED_P50_LIMIT_RATIO_MAX = 1.1

/** Repository and tag of the generated image on the origin. */
export const IMAGE_REPOSITORY = 'bench/swarm'
export const IMAGE_TAG = 'v1'
/**
 * `--warm-agents`: the small image of other bytes every agent pulls through the swarm before the
 * timed pull (untimed), and how long the agents then settle (commits, reports to the scheduler).
 */
export const WARM_UP_REPOSITORY = 'bench/warm-up'
export const WARM_UP_LAYERS = 3
export const WARM_UP_LAYER_BYTES = 2 * 1024 * 1024
export const WARM_UP_SETTLE_MS = 2_000

/** Ports inside each namespace (netns mode): every host has its own, as on real machines. */
export const ORIGIN_PORT = 5000
/** Where the origin's delay proxy listens (`--origin-rtt-ms`), in the origin's namespace. */
export const ORIGIN_DELAY_PORT = 5001
export const AGENT_HTTP_PORT = 65001
export const AGENT_P2P_PORT = 65002
export const SCHEDULER_P2P_PORT = 65003
export const SCHEDULER_ADMIN_PORT = 65004
/**
 * The registry named in the image reference the hosts pull through their agent: a port nothing
 * listens on, so that skopeo cannot fall back from a failing mirror to a registry behind it.
 */
export const CLOSED_PORT = 9
/** Jumbo frames on the simulated links: Ethernet/IP/TCP headers stay under 1% of what the origin's link counts. */
export const LINK_MTU = 9000
/** tbf bucket: a few jumbo frames; the queue holds this long at the link rate before dropping. */
export const TBF_BURST_BYTES = 64 * 1024
export const TBF_LATENCY_MS = 50
/**
 * Queue of the tbf on a machine's own eth0 (what it sends): large enough never to drop. A packet
 * dropped by a qdisc on the sending host is local congestion to Linux TCP: with nothing in flight
 * it retries every 500 ms without backoff and aborts the connection after net.ipv4.tcp_retries2
 * (15) failures, ~7.5 s, which reset 3-4 of 8 direct pulls sharing the origin's link. TCP Small
 * Queues bound what each socket keeps in this queue, so it stays far below the limit.
 */
export const TBF_HOST_LIMIT_BYTES = 16 * 1024 * 1024

/** Churn: this share of the agents is SIGKILLed once this share of all the hosts' bytes has arrived. */
export const CHURN_KILL_SHARE = 0.25
export const CHURN_AT_PROGRESS = 0.5

/** How long services may take to be ready, a pull to finish, a process to stop after SIGTERM. */
export const SERVICE_READY_TIMEOUT_MS = 30_000
export const PULL_TIMEOUT_MS = 15 * 60_000
export const PUSH_TIMEOUT_MS = 10 * 60_000
export const STOP_GRACE_MS = 5_000
export const HTTP_TIMEOUT_MS = 10 * 60_000
/** How often every link's counters are read during a pull phase. */
export const LINK_SAMPLE_INTERVAL_MS = 1_000
/** Progress display refresh. */
export const PROGRESS_INTERVAL_MS = 500
/** Non-TTY progress: one summary line this often. */
export const PROGRESS_PLAIN_INTERVAL_MS = 5_000
export const STDERR_TAIL_CHARS = 4_000
