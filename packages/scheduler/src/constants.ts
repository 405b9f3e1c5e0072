/** Defaults of the scheduler's policies, with units in their names. */

/** Failures of a parent (timeout, refused, unavailable) count against it for this long. */
export const PARENT_FAILURE_WINDOW_MS = 60_000
/** This many failures of a parent within PARENT_FAILURE_WINDOW_MS eject it. */
export const PARENT_EJECTION_FAILURES = 5
/** How long a parent ejected for repeated failures is kept out of parent lists. */
export const PARENT_FAILURE_EJECTION_MS = 2 * 60_000
/**
 * How long a parent that sent one bad piece (wrong length or hash) is kept out. Longer than for
 * failures: a slow parent may recover, a parent that serves wrong bytes has a broken store or lies.
 */
export const PARENT_BAD_PIECE_EJECTION_MS = 30 * 60_000
/** How many agents read each piece of a cold blob from the origin, unless told otherwise. */
export const DEFAULT_ORIGIN_READERS_PER_PIECE = 1
/** Longest site or zone label a peer may register. */
export const MAX_LABEL_LENGTH = 128
/** Most upload slots a peer may claim (more would let one peer take every child). */
export const MAX_UPLOAD_SLOTS = 1024
/**
 * Agents that read one cold task's pieces from the origin at once, each one piece at a time (the
 * agent's ORIGIN_PIECE_READS_IN_FLIGHT). Every reader's uplink carries the first copies of what it
 * reads: with 3 readers for a 3-layer image only 4 of 8 hosts read anything, their uplinks ran at
 * 75-87% while the others' idled at 30-43%, and each first copy queued behind the rest (8 hosts at
 * 25 Mbit, 3 x 16 MiB: p50 31.2 s). With 8, every host reads a share and uploads it (25.9-27.3 s,
 * uplinks 58-72% each). More readers make each piece arrive later (the origin's link is shared by
 * every read), so the count stays bounded.
 */
export const SCHEDULER_ORIGIN_READERS = 8
/** Parents handed to each downloader of a task. */
export const SCHEDULER_PARENTS_PER_CHILD = 6
/** How often agents report finished pieces, at most (told at registration). */
export const SCHEDULER_REPORT_INTERVAL_MS = 100
/**
 * An origin assignee that reports no origin progress (a piece, or bytes of one) for this long, and
 * for SCHEDULER_ASSIGNEE_STALL_PIECES times its usual time per piece, has its pieces handed to the
 * other downloaders. Its usual time: on a 2 Mbit site an origin piece of 256 KiB takes 6-13 s to each of
 * six readers sharing the origin's link, and readers judged by 10 s alone lost their pieces to others,
 * who read them again (the origin sent 2-2.5x the image).
 */
export const SCHEDULER_ASSIGNEE_STALL_MS = 10_000
export const SCHEDULER_ASSIGNEE_STALL_PIECES = 3
/** A gap between an agent's origin pieces longer than this is a pause in its reading, not its pace. */
export const SCHEDULER_ORIGIN_PACE_MAX_GAP_MS = 60_000
/**
 * When downloaders join a cold task after its split, each origin reader keeps this many of its
 * unfinished pieces: an agent reads a few pieces from the origin at once and reports finished
 * ones every 100 ms, and one that waits for a read slot gives the read up when the piece was handed
 * to another agent meanwhile. It keeps the rest of the run and of the origin read those pieces are
 * in too (origin-split.ts), and more when its rate says it reads them soon (originKeepFor). The rest
 * are dealt again over everyone. Few, so that the start of a
 * blob is not all on its first reader (everyone's stream needs it first).
 */
export const SCHEDULER_ORIGIN_KEEP_PIECES = 2
/**
 * How far ahead of its last report a reader's pace is counted when its reads are dealt again
 * (originKeepFor): a piece it finishes reaches the scheduler after its commit, up to a report
 * interval and a decision round later, and the newcomer's read starts after another round; and
 * a reader starts its next read before the last ends (layer-fetcher/origin-reads.ts). With 0.3 s
 * of its pace, a reader over loopback kept 3 pieces, and its next read, begun as the first ended,
 * was read again by the newcomers.
 */
export const SCHEDULER_ORIGIN_KEEP_MS = 1_000
/**
 * Downloaders that ask after a cold task's split wait at most this long for every reader to report
 * (a piece, or bytes of one, of this task or another) before its reads are dealt again: until then
 * nobody knows what a reader has started. On a busy machine over loopback the origin's first byte
 * took 0.6-0.9 s, and with a second's wait a reader's next read, begun before its first report,
 * was dealt to a newcomer and read twice.
 */
export const SCHEDULER_ORIGIN_SPREAD_WAIT_MS = 3_000
/**
 * A reader that reports other tasks' origin reads, and none of this task's, for this long after
 * its deal is busy with those and has begun no read of this one (OriginRounds.spreadOrigin). Not
 * at once: an agent hands its origin slot on before a read ends (layer-fetcher/origin-reads.ts),
 * so over loopback it had often begun this task's read when the other task's report came.
 */
export const SCHEDULER_ORIGIN_BUSY_MS = 1_000
/** How often the scheduler decides (parents, origin pieces, tables) for the tasks that changed. */
export const SCHEDULER_TICK_MS = 100
/** Agents one scheduler keeps a stream with at once. */
export const SCHEDULER_MAX_AGENTS = 20_000
/** A downloader whose parents did not change hears of their new pieces at most this often (it asks them itself meanwhile). */
export const SCHEDULER_PARENTS_REFRESH_MS = 1_000
/** Downloaders of one task whose parents are decided in one round; a bigger task takes several rounds. */
export const SCHEDULER_CHILDREN_PER_ROUND = 128
/**
 * Downloaders one round decides, over all tasks: those never told their parents first (all of
 * them, even past this), then those told before, again, up to this many in all. A round's cost
 * grows with the lists it decides and sends, and a round must end within SCHEDULER_TICK_MS: in a
 * rollout's first seconds the new downloaders alone are ~1,000 a round (`bench scheduler`), and
 * re-deciding 1,024 others beside them took the round past it. The others keep their lists, ask
 * their parents for their bitfields themselves and get their turn in the next rounds. 1,024 per
 * 100 ms round decides each of 10,000 downloads again about once per SCHEDULER_PARENTS_REFRESH_MS.
 */
export const SCHEDULER_CHILDREN_PER_TICK = 1_024
/** The admin API's token file in the data dir when `--admin-token-file` is not given. */
export const ADMIN_TOKEN_FILE_NAME = 'admin-token'
/** An admin token shorter than this is refused at start: guessable. */
export const ADMIN_TOKEN_MIN_LENGTH = 16
/**
 * Prefetch jobs resolving or running at once. A site rollout is one job (a few images); 16 leaves
 * room for several teams while each job makes agents resolve at the origin and pull.
 */
export const JOBS_MAX_ACTIVE = 16
/** Prefetch jobs created per minute: a push webhook burst or a script, not thousands. */
export const JOBS_MAX_PER_MINUTE = 60
/**
 * How long a new prefetch job waits for an agent of its scope to be connected before it fails as
 * unavailable ("no agent of scope site:x is connected"): long enough for an agent that is
 * reconnecting after a blip (its first retry comes after 500 ms), short against any useful
 * --timeout, so that a scope with no agent (a misspelt site) is reported at once.
 */
export const PREFETCH_SCOPE_GRACE_MS = 3_000
/**
 * After the scheduler starts, agents register again over this long (their reconnect backoff tops
 * out at 30 s): jobs stored before the start wait for them up to its end; new jobs wait up to its
 * end too, but never longer than PREFETCH_SCOPE_WAIT_TIMEOUT_SHARE of their own timeout.
 */
export const PREFETCH_RESTART_AGENT_WAIT_MS = 30_000
/** The share of a new job's timeout it may wait for an agent of its scope while agents register after a restart. */
export const PREFETCH_SCOPE_WAIT_TIMEOUT_SHARE = 0.25

/** The join tokens file in the data dir, used when `--join-tokens` is not given and the file exists. */
export const JOIN_TOKENS_FILE_NAME = 'join-tokens'
/** A join token's least length: a guessable token would let anyone in. */
export const JOIN_TOKEN_MIN_LENGTH = 16
/** How long the join tokens file is trusted before its modification time is checked again. */
export const JOIN_TOKENS_RECHECK_MS = 1_000
/**
 * The umask `shoal scheduler` sets for its process: files 0600, directories 0700, including those
 * level makes itself. Only the command sets it; an embedder keeps its own.
 */
export const PROCESS_UMASK = 0o077
