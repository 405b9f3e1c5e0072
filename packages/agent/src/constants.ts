import { MIN_PIECE_SIZE } from '@shoal/proto'

/** Modes under the data dir: directories 0700, files 0600 (it holds private layers). */
export { DATA_DIR_DIR_MODE, DATA_DIR_FILE_MODE } from '@shoal/p2p'

/** Defaults of the agent, with units in their names. */
export const DEFAULT_LISTEN = '127.0.0.1:65001'
export const DEFAULT_DATA_DIR = '.shoal/agent'
export const DEFAULT_MANIFEST_TAG_TTL_MS = 30_000
/**
 * On SIGTERM/SIGINT, how long pulls in flight may go on before the agent stops anyway: long enough
 * for a layer of some hundreds of MB on a LAN, shorter than the 30 s a kubelet or systemd waits
 * before it kills the process.
 */
export const DEFAULT_DRAIN_TIMEOUT_MS = 20_000
export const DEFAULT_GC_HIGH_WATERMARK = 0.85
export const DEFAULT_GC_LOW_WATERMARK = 0.75
export const DEFAULT_GC_MAX_AGE_MS = 7 * 24 * 3600_000
/** How recent a yes of the origin must be for a client to get cached content while the origin is unreachable. */
export const DEFAULT_OFFLINE_ACCESS_WINDOW_MS = 24 * 3600_000
export const GC_INTERVAL_MS = 60_000
/**
 * Upstream timeouts (`--upstream-connect-timeout`, `--upstream-response-timeout`): a few seconds,
 * because the runtime in front of the agent waits on it. containerd and CRI-O fall back to the next
 * host (the registry itself) per request only once the agent answers, so an upstream that accepts
 * connections and never answers must become a 503 within seconds, not minutes. A registry on a
 * working network connects in milliseconds and sends response headers well within a second (blob
 * bodies are not bounded by these: only the time to connect and to the response headers).
 */
export const DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS = 3_000
export const DEFAULT_UPSTREAM_RESPONSE_TIMEOUT_MS = 5_000
/**
 * How long a body may stall, no byte arriving, before the connection is dropped and the download
 * resumed (`--upstream-idle-timeout`). A body that flows is never cut, however long it takes.
 */
export const DEFAULT_UPSTREAM_BODY_IDLE_TIMEOUT_MS = 30_000
/**
 * An endpoint's circuit opens after this many consecutive failures (refused, timed out, 5xx):
 * requests then skip it at once (`--upstream-failures`). Three, so one dropped connection or a
 * single 503 from a load balancer does not take a healthy registry out.
 */
export const DEFAULT_UPSTREAM_FAILURE_THRESHOLD = 3
/** An open circuit lets one probe request through after this long (`--upstream-cooldown`). */
export const DEFAULT_UPSTREAM_COOLDOWN_MS = 30_000
export const UPSTREAM_RETRIES = 3
export const UPSTREAM_RETRY_BASE_MS = 200
/** Bearer tokens are dropped this long before they expire, so a request never carries a dead one. */
export const TOKEN_EXPIRY_MARGIN_MS = 10_000
export const DEFAULT_TOKEN_TTL_S = 60
/** How long the origin's yes to "may this client read this path" is reused before asking again. */
export const ACCESS_CHECK_TTL_MS = 30_000
/** Remembered access answers, at most. */
export const ACCESS_CHECK_MAX_ENTRIES = 10_000
/** Pieces written since the last commit are made durable and indexed at this interval or size. */
export const COMMIT_INTERVAL_MS = 250
export const COMMIT_BYTES = 16 * 1024 * 1024
/** Largest manifest the agent accepts from an upstream (the distribution spec suggests 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024
/** The config blob of an image manifest sent to a client is fetched ahead when at most this big (registry-mirror/config-warmup.ts). */
export const CONFIG_WARMUP_MAX_BYTES = 1024 * 1024
/**
 * The User-Agent of prefetch's requests to a mirror: resolving an image reads its manifests only
 * (the job then fetches the blobs it chose), so they start no config fetch ahead.
 */
export const PREFETCH_USER_AGENT = 'shoal-prefetch'
/** Largest tag list page the agent passes on (100,000 tags of 80 characters). */
export const MAX_TAG_LIST_BYTES = 8 * 1024 * 1024
/** Reads from the store go in chunks of this size (fewer syscalls than the 64 KiB stream default). */
export const READ_CHUNK_BYTES = 1024 * 1024
/** Read buffers per HTTP client, used in turn (one being read into while the others are written out). */
export const READ_BUFFERS_PER_CLIENT = 3
/**
 * Bytes of big (READ_CHUNK_BYTES) read buffers all HTTP clients of the process may hold at once:
 * eight clients at full speed. The ninth and later read with small buffers until one finishes.
 */
export const READ_BUFFER_BUDGET_BYTES = 8 * READ_BUFFERS_PER_CLIENT * READ_CHUNK_BYTES
/** A client past the budget reads in chunks of this size: slower (more reads and writes), small to hold. */
export const SMALL_READ_CHUNK_BYTES = 64 * 1024
/** Released small read buffers kept for the next clients (16 MiB); more are left to the garbage collector. */
export const SMALL_READ_BUFFERS_KEPT = 256
export const DEFAULT_CERTS_DIR = '/etc/docker/certs.d'
/**
 * Staging buffers of the hashing thread (hashing/hash-thread.ts), shared by all downloads and piece
 * checks: bytes are copied into them and hashed off the main thread. Their count bounds the bytes
 * received but not hashed yet (2 MiB); a few in flight keep the thread busy while the main thread
 * copies, and each is one message each way (256 KiB ones cost 3% of a receiving agent's time in
 * postMessage under load).
 */
export const HASH_STAGING_BUFFER_BYTES = 512 * 1024
export const HASH_STAGING_BUFFERS = 4
/** The hashing thread ends after this long with nothing to hash, and starts again (tens of ms) when needed. */
export const HASH_THREAD_IDLE_MS = 10_000
/** Received bytes are written to the partial file in batches of about this size. */
export const WRITE_BATCH_BYTES = 1024 * 1024
/** At most this much received but not yet written; the download waits for the disk beyond it. */
export const MAX_UNWRITTEN_BYTES = 4 * 1024 * 1024
/** A request to a peer (piece table, bitfield, piece) fails after this long when the caller gives no signal. */
export const PIECE_TIMEOUT_MS = 30_000
/**
 * /shoal/pieces streams a client keeps open per peer between requests (IdleStreams), and how long
 * an idle one is kept: below PIECE_SERVER_IDLE_TIMEOUT_MS, so the client closes it, not the server.
 */
export const PIECE_CLIENT_IDLE_STREAMS_PER_PEER = 16
export const PIECE_CLIENT_IDLE_STREAM_MS = 20_000
/**
 * Requests to a peer go on a connection this agent dialled itself (piece-exchange/own-connections.ts),
 * not behind the bytes it uploads to that peer: how long that dial (in the background) may take, how
 * long after a failed one the peer's requests keep using its connection, and how many such failures
 * are remembered.
 */
export const PIECE_CLIENT_OWN_DIAL_TIMEOUT_MS = 5_000
export const PIECE_CLIENT_OWN_DIAL_RETRY_MS = 30_000
export const PIECE_CLIENT_OWN_DIAL_FAILURES_KEPT = 4096
/**
 * A received piece is kept as the chunks it arrived in (each up to a Noise message, 64 KiB) unless
 * they average under this size: a peer sending tiny messages would otherwise have the agent hold a
 * view object per few bytes, write an iovec each and hash them one call each. Such a piece is joined.
 */
export const PIECE_CLIENT_MIN_MEAN_CHUNK_BYTES = 4096
/** Piece reads (disk read, verify, send) one inbound stream may have under way; more are answered BUSY. */
export const PIECE_SERVER_MAX_READS_PER_STREAM = 8
/**
 * Piece reads all inbound streams together may have under way (sending, or waiting for a send
 * slot: PIECE_SERVER_MAX_READ_BYTES); more are answered BUSY at once, and the asker turns to
 * another holder. A long queue here is seconds of waiting for the asker while other holders idle.
 */
export const PIECE_SERVER_MAX_READS = 8
/**
 * The read slots (PIECE_SERVER_MAX_READS) are shared among the peers that asked for a piece within
 * the last PIECE_SERVER_ASKING_WINDOW_MS, each getting at least this many (piece-exchange/read-shares.ts).
 * Measured in bench swarm --scenario prefetched (25 Mbit, 8 hosts): p50 23.4-24.5 s against
 * 28.6-28.8 s first come, first served. Every peer held to 2 reads gave 21.2-22.8 s (1: 22.6 s, 4:
 * 24.9 s) with fresh and no-scheduler unchanged, but a single link fell from 98 to 34 MB/s (bench
 * peer-link): hence a share of all the slots, not a fixed cap.
 */
export const PIECE_SERVER_MIN_READS_PER_PEER = 2
export const PIECE_SERVER_ASKING_WINDOW_MS = 1_000
/** Reads beyond that bound for pieces not sent recently (the first copies the swarm waits for). */
export const PIECE_SERVER_NEW_PIECE_READS = 8
/**
 * Bytes of pieces a server holds read and not yet sent, all peers together: the bound on an
 * uploader's memory, and in effect its upload slots (four pieces of 1 MiB, sixteen of 256 KiB).
 * Pieces sent side by side share the link and all finish late; a few at a time finish soon, and
 * each finished piece makes one more holder that can upload it too. 16 MiB let a 25 Mbit uploader
 * take 1-5 s to start a piece.
 */
export const PIECE_SERVER_MAX_READ_BYTES = 4 * 1024 * 1024
/**
 * On a slow link the read budget is also at most this much of the uploader's measured send rate
 * (piece-exchange/send-pace.ts), and at least PIECE_SERVER_MIN_READ_BYTES: 4 MiB is 1.3 s of a
 * 25 Mbit link but 17 s of a 2 Mbit one, where every piece sent side by side then took that long
 * to finish, and pings waited behind them. At 2 Mbit (bench swarm, 3 x 4 MiB) a 512 KiB budget
 * pulled in 106-112 s against 122-142 s.
 */
export const PIECE_SERVER_SEND_QUEUE_MS = 2_000
export const PIECE_SERVER_MIN_READ_BYTES = 512 * 1024
/** The send rate is measured over the last this long of time with pieces under way, in samples of at least PIECE_SERVER_PACE_SAMPLE_MS. */
export const PIECE_SERVER_PACE_WINDOW_MS = 2_000
export const PIECE_SERVER_PACE_SAMPLE_MS = 250
/** How long a piece hashed from disk and found right is served without hashing it again. */
export const PIECE_VERIFIED_TTL_MS = 10 * 60_000
/** Pieces remembered so (about 100 bytes each). */
export const PIECE_VERIFIED_MAX_ENTRIES = 65_536
/** An inbound piece-exchange stream that sends no request for this long is closed. */
export const PIECE_SERVER_IDLE_TIMEOUT_MS = 60_000
/** Inbound piece-exchange streams per connection (libp2p's default is 32). */
export const PIECE_SERVER_MAX_STREAMS_PER_CONNECTION = 64
/**
 * Piece streams one peer may have open at once, over all its connections. An agent opens one per
 * request in flight (PEER_FETCH_MAX_PIECES_IN_FLIGHT plus the read-ahead per blob, for a dozen
 * blobs at once); past this a peer is hoarding streams, and its new ones are reset. What the
 * streams hold is bounded apart (the read budget; a stalled stream is reset).
 */
export const PIECE_SERVER_MAX_STREAMS_PER_PEER = 256
/** Largest request frame a peer may send (a PeerRequest is a digest and two integers). */
export const PIECE_REQUEST_MAX_BYTES = 1024
/** Bytes queued on a stream beyond which the piece server waits before sending more. */
export const PIECE_SEND_HIGH_WATER_BYTES = 4 * 1024 * 1024
/**
 * How often the agent announces again every blob it holds (discovery/). Minutes, not the DHT's
 * default of hours: in a cluster where hosts come and go, the peers closest to a CID (those that
 * keep its provider records) change with every join and leave, and a record held only by hosts that
 * left is lost. Announcing again every few minutes puts it back on the current closest peers, so a
 * blob stays findable minutes after churn, at the cost of one DHT provide per blob per interval.
 */
export const DISCOVERY_REPROVIDE_INTERVAL_MS = 5 * 60_000
/** Announcements of one re-provide round under way at once. */
export const DISCOVERY_REPROVIDE_CONCURRENCY = 8
/**
 * Blobs whose holders the scheduler tells (`Discovery.provideLater`) are announced once no such blob
 * came in for this long: after a rollout, not at its busiest (each announcement is a DHT query and a
 * message to every close peer, on every agent of the site at once). The re-provide round announces
 * them first if it comes sooner.
 */
export const DISCOVERY_LATER_QUIET_MS = 30_000
/** How long one announcement (a DHT provide) may take. */
export const DISCOVERY_PROVIDE_TIMEOUT_MS = 60_000
/**
 * How long a provider lookup may take before the blob path goes on without peers: the origin is
 * the fallback, and waiting longer than a few seconds for peers costs more than it saves.
 */
export const DISCOVERY_FIND_TIMEOUT_MS = 5_000
/** Providers a lookup returns at most (the DHT's K). */
export const DISCOVERY_MAX_PROVIDERS = 20
/**
 * A bandwidth limiter's default burst, as time at its rate: the bytes it lets through at once after
 * an idle spell. Long against timer lateness (a wait that ends late would otherwise lose the
 * tokens that overflow the bucket), short enough that a burst is a blip on the link.
 */
export const BANDWIDTH_BURST_MS = 40
/** The smallest default burst, so that a slow limit still moves whole network frames. */
export const BANDWIDTH_MIN_BURST_BYTES = 64 * 1024

/**
 * Origin Range requests one agent has in flight at once, over all its blobs, each a piece or a run
 * of consecutive ones (see layer-fetcher/origin-reads.ts: a request passes its slot on as its last
 * bytes arrive, so the next is asked for then and a distant origin's round trip does not idle the
 * link). One: a piece is of use to the swarm only once it has arrived whole, and the scheduler
 * lets only a few agents read a task (SCHEDULER_ORIGIN_READERS). Measured in bench swarm (8
 * hosts): with 4, the origin sent 1.13-1.38x the image at 25 Mbit (pieces read twice),
 * and the DHT-only swarm (no-scheduler) took 85-86 s with the origin at 5.4-5.8x the image against
 * 62-63 s and 3.9-4.0x with 1, each agent's stalled downloads reading four pieces at a time from
 * the origin; with the scheduler, 4 was faster at 100 Mbit in some runs (42.7 s; 52.8 s in another)
 * but the runs there vary by 10 s.
 */
export const ORIGIN_PIECE_READS_IN_FLIGHT = 1
/**
 * A read passes its origin slot on near its end (layer-fetcher/origin-reads.ts), but only once this
 * share of its bytes has arrived: the rate its remaining time is judged by is measured on them.
 */
export const ORIGIN_HAND_OFF_MIN_SHARE = 0.25
/**
 * Piece reads one stripe of a site prefetch keeps asked for (placement by pieces): they pass the
 * same origin slots as downloads (ORIGIN_PIECE_READS_IN_FLIGHT), so the second only waits there,
 * ready the moment the first hands its slot on.
 */
export const STRIPE_PIECE_READS_IN_FLIGHT = 2
/** Tries of a stripe whose partial file a download of the same blob closed under it. */
export const STRIPE_ATTEMPTS = 3
/** The longest pause of a read-ahead worker between failed reads of assigned (origin) pieces; it doubles from the idle pause. */
export const READ_AHEAD_MAX_ORIGIN_BACKOFF_MS = 5_000
/** Pieces of one blob read ahead of the stream at once, from the origin (assigned) or peers (layer-fetcher/read-ahead.ts). */
export const READ_AHEAD_PIECES_PER_BLOB = 4

/** Pieces of one blob requested from peers at once (a sliding window over the blob, spread over the peers). */
export const PEER_FETCH_MAX_PIECES_IN_FLIGHT = 8
/** ...and at most this many bytes of them (big pieces get a smaller window). */
export const PEER_FETCH_MAX_BYTES_IN_FLIGHT = 64 * 1024 * 1024
/** How long the fetcher waits for a provider lookup before it goes to the origin. */
export const PEER_LOOKUP_TIMEOUT_MS = 2_000
/** Peers asked for a piece table and bitfield of one blob. */
export const PEER_PLAN_MAX_PEERS = 8
/** How long a peer may take to answer a piece table or bitfield request on the blob path. */
export const PEER_PLAN_TIMEOUT_MS = 5_000
/** How often peers still downloading a blob are asked again for their table and bitfield, while a follower waits on them. */
export const PEER_REFRESH_INTERVAL_MS = 150
/** No new piece anywhere among the peers for this long: the pieces still missing come from the origin. */
export const PEER_STALL_MS = 3_000
/** During a stall, how many pieces from the stream's head on may be read from the origin at once while peers still download. */
export const STALL_ORIGIN_PIECES = 2
/**
 * The same, for a download a scheduler directs: the scheduler hands the pieces of an origin reader
 * that stalls to others (after 10 s, or three of its pieces' time), so the agent goes to the origin
 * on its own only well after that, and not while pieces of its other blobs still come
 * (PieceBook.stalled). With 3 s, three layers pulled side by side over a busy link looked stalled to
 * each other, and each agent read the pieces from the origin itself: 5 copies of a layer left the origin.
 */
export const SCHEDULED_STALL_MS = 15_000
/** ...or longer for big pieces: the time a piece takes at this rate (a slow origin behind the peer fetching it). */
export const PEER_STALL_MIN_BYTES_PER_S = 2 * 1024 * 1024
/**
 * A piece leaves an uploader at most this many times per PIECE_SPREAD_WINDOW_MS; more asks are
 * answered BUSY (piece-exchange/piece-spread.ts). 0: no limit (sends are still counted, to serve
 * pieces not sent yet first). A limit of 2 made no measurable difference with a scheduler (25 Mbit
 * p50 32.5 s against 33.1 s) and slowed the DHT-only swarm (no-scheduler p50 92 s against 71 s).
 */
export const PIECE_SPREAD_SENDS = 0
export const PIECE_SPREAD_WINDOW_MS = 2_000
/** Weight of the newest first-byte time in a peer's running mean (layer-fetcher/peer-latency.ts). */
export const PEER_LATENCY_WEIGHT = 0.3
/** Peers whose first-byte times are remembered. */
export const PEER_LATENCY_MAX_PEERS = 4096
/**
 * The first-byte time assumed of a peer not heard from yet: about that of an uploader with an idle
 * link, so a new holder is tried soon, and one that queues is then passed over for it.
 */
export const PEER_LATENCY_PRIOR_S = 0.05
/** How long a peer that answered BUSY is not asked for pieces of that blob (unless no one else holds them). */
export const PEER_BUSY_BACKOFF_MS = 250
/** NOT_FOUND answers to pieces its bitfield offered, before a peer is dropped for the blob. */
export const PEER_MAX_REFUSALS = 8
/**
 * A request to a peer that failed without an answer (a broken stream, a connection gone, no answer
 * in time) passes the peer over for this long, doubled with each failure (PieceBook.failed).
 */
export const PEER_FAILURE_BACKOFF_MS = 2_000
/** Failures without an answer, each after the last one's pause, before a peer is dropped for the blob. */
export const PEER_MAX_FAILURES = 3
/** Peers asked for their piece table in one refresh, to fill the holes of the table a download follows. */
export const PEER_TABLE_ASKS_PER_REFRESH = 4
/**
 * A cold blob that no peer announces: the agent announces it first, waits this long for the
 * others pulling it at the same moment to do the same, and looks again; of those, the lowest peer
 * id fetches from the origin and the rest follow it. Long against a provide and a lookup on a LAN.
 */
export const PEER_CLAIM_SETTLE_MS = 300
/** How long a banned peer is not asked for anything. */
export const PEER_BAN_MS = 60 * 60_000
/** Bad pieces a peer may send (across blobs, until banned) before it is banned. */
export const PEER_BAN_BAD_PIECES = 3
/** Malformed piece-protocol frames a peer may send before it is banned: a correct agent sends none; one or two may be a bug or a version skew worth a log line, not a ban. */
export const PEER_BAN_BAD_FRAMES = 3

/** How long a scheduler may take to dial and answer a registration. */
export const SCHEDULER_REGISTER_TIMEOUT_MS = 5_000
/** A scheduler that is away is dialled again after this long, doubling up to the max. */
export const SCHEDULER_RECONNECT_MIN_MS = 500
export const SCHEDULER_RECONNECT_MAX_MS = 30_000
/** How long the agent waits for its scheduler's first answer about a blob before it goes on with the DHT. */
export const SCHEDULER_ANSWER_TIMEOUT_MS = 2_000

/**
 * The smallest storage quota the agent accepts: one piece of the smallest size (proto's
 * MIN_PIECE_SIZE, 256 KiB). Piece size is a pure function of blob size, and every blob of more than
 * 256 KiB is cut into pieces of at least 256 KiB, so a smaller quota cannot hold a single piece of any
 * such layer: every download would overrun it and be evicted as soon as it finished. The floor is
 * not the largest piece (64 MiB, for blobs over 16 GiB): a quota of a few MiB still works for small
 * layers (tests use one), it is only implausible, and gets the warning below.
 */
export const MIN_STORAGE_QUOTA_BYTES = MIN_PIECE_SIZE
/**
 * Below this quota the agent warns at start: a few layers of a common image (base images alone are
 * tens to hundreds of MB compressed) fill it, so the cache evicts what it has just fetched and pulls
 * go back to peers or the origin. A typo (`12` for `12GiB`) lands here or below the floor.
 */
export const STORAGE_QUOTA_WARN_BYTES = 512 * 1024 * 1024
/**
 * Connections one client address may keep open on the mirror listener: a node's runtime pulling
 * many images at once opens a few per layer; a host full of hung clients is cut off here. Past it,
 * and past MIRROR_MAX_CONNECTIONS in all, a connection is answered 503 with Retry-After and closed.
 */
export const MIRROR_MAX_CONNECTIONS_PER_CLIENT = 128
export const MIRROR_MAX_CONNECTIONS = 2048
/** Retry-After of that 503, seconds. */
export const MIRROR_BUSY_RETRY_AFTER_S = 5
/**
 * A client that accepts no byte of a blob body for this long is cut off: it stopped reading, and
 * holds read buffers and pending writes. Long against any pause of a real pull.
 */
export const MIRROR_STALLED_CONNECTION_MS = 120_000
/** How often `--members FILE` is checked for changes: a host removed from it is cut off within this (plus the hang-up). */
export const MEMBERS_FILE_POLL_MS = 5_000
/** Peer ids a `--members` file may list. */
export const MEMBERS_FILE_MAX_PEERS = 100_000
/** How long the anonymous HEAD that tells whether the origin serves a blob to anyone may take. */
export const SHARE_CHECK_TIMEOUT_MS = 10_000
/**
 * How long a download waits for that answer before it chooses its plan; no answer by then counts
 * as private (the blob is taken from providers or the origin, and not announced), as it does for peers.
 */
export const SHARE_VERDICT_WAIT_MS = 2_000
/** The file in the data dir listing the blobs the origin serves without credentials (for `--share-private none`). */
export const ANONYMOUS_BLOBS_FILE = 'anonymous-blobs'
/**
 * The umask `shoal agent` sets for its process: files 0600, directories 0700, including those
 * level makes itself (LOG, MANIFEST, tables). Only the command sets it; an embedder keeps its own.
 */
export const PROCESS_UMASK = 0o077
/** The port agents listen on for peers (`--p2p-listen` default): `--bootstrap dns:NAME` dials it. */
export const DEFAULT_P2P_PORT = 65002
/** The port a scheduler listens on by default (its `--listen`): `--scheduler dns:NAME` dials it. */
export const DEFAULT_SCHEDULER_PORT = 65003
/**
 * How often `dns:` targets are resolved again: a pod added behind a headless Service is dialled
 * within this, and one removed is no longer dialled. Kubernetes DNS answers with a 30 s TTL by default (CoreDNS `ttl`).
 */
export const DNS_RESOLVE_INTERVAL_MS = 30_000
/** How long one resolution (A and AAAA) of a `dns:` target may take. */
export const DNS_RESOLVE_TIMEOUT_MS = 5_000
/** How long one dial of a `dns:` target's address may take (a handshake on a LAN is milliseconds). */
export const DNS_PEER_DIAL_TIMEOUT_MS = 10_000
/**
 * `--bootstrap dns:NAME`: how many of the peers found there are kept connected. A DaemonSet's
 * headless Service lists every host; a few connections let the agent into the DHT (which finds the
 * rest), where dialling all would make a full mesh of N² connections.
 */
export const DNS_BOOTSTRAP_MAX_PEERS = 8
/**
 * The metrics listener (`--metrics-listen`) answers only /metrics, /healthz and /readyz, for
 * Prometheus and probes: a few connections at a time. Past this many open ones, new ones are
 * closed at once; a request's headers must come within the timeout.
 */
export const METRICS_MAX_CONNECTIONS = 64
export const METRICS_HEADERS_TIMEOUT_MS = 10_000
