/**
 * Inbound connections libp2p accepts per second from one IP (its default is 5). Many agents can
 * share an address (a test host, a site behind one NAT), and a rollout makes them all dial at once.
 */
export const P2P_INBOUND_CONNECTIONS_PER_IP_PER_S = 100
/** How long the swarm-key nonce exchange of a new connection may take when libp2p gives no signal. */
export const P2P_PSK_HANDSHAKE_TIMEOUT_MS = 5_000
/** How long each `--bootstrap` dial at start may take. */
export const P2P_BOOTSTRAP_DIAL_TIMEOUT_MS = 10_000
/**
 * Largest Yamux receive window per stream (the default grows to 16 MiB). Kept at the read buffer
 * cap, so that a stream paused for back-pressure is never reset for overflowing its buffer.
 */
export const P2P_STREAM_WINDOW_BYTES = 4 * 1024 * 1024
/**
 * How long a provider record stays valid on the peers that store it. kad-dht has no message that
 * withdraws a record from other peers, so this is how long a withdrawn blob, or one of an agent
 * that died, can still be found: three of the agent's 5-minute re-provide intervals, which
 * survives two missed announcements.
 */
export const DHT_PROVIDER_RECORD_VALIDITY_MS = 15 * 60_000
/** How often the DHT drops expired provider records it keeps for other peers. */
export const DHT_PROVIDER_CLEANUP_INTERVAL_MS = 60_000
/** Mode of the data dir of an agent or a scheduler and of every directory under it: its owner's alone. */
export const DATA_DIR_DIR_MODE = 0o700
/** Mode of every file under a data dir (blobs hold private layers; keys and tokens are secrets). */
export const DATA_DIR_FILE_MODE = 0o600
/** How many lstat calls the start-time walk of a data dir keeps in flight. */
export const DATA_DIR_STAT_CONCURRENCY = 64
/**
 * The least time libp2p's connection monitor gives its ping (every 10 s) before it aborts the
 * connection; libp2p's default is 5 s. A ping's bytes queue behind the piece bytes already sent on
 * the connection: on a busy 25 Mbit link that is seconds, and a connection aborted for it took
 * every transfer on it along (the peer was dropped for those blobs, pieces went to the origin). In a
 * swarm bench run the monitor aborted 2-8 live connections mid-rollout. A peer that answers no ping
 * for this long is gone for our purposes (piece requests time out at 30 s too).
 */
export const P2P_PING_MIN_TIMEOUT_MS = 30_000
/**
 * Ping streams each way per connection. The monitor pings every 10 s and waits up to
 * P2P_PING_MIN_TIMEOUT_MS, so on a slow, full link three of its pings can be open at once, besides
 * one of ours. With libp2p's limits (one out, two in) the next was refused or reset, and the
 * monitor aborted the connection for it: 85 connections in one 2 Mbit bench run.
 */
export const P2P_PING_STREAMS = 4
/**
 * Streams a peer may open on a new connection before libp2p has handed the connection to this
 * node's protocol handlers (yamux's default is 10, past which it aborts the whole connection).
 * A client opens one stream per request, and a rollout from a site that holds the blobs starts with
 * a dozen or more requests to each holder at once: in `bench swarm --scenario prefetched` 11 of
 * the new connections were aborted so, every request on them failed, and the clients dropped the
 * only holders of their blobs for seconds. Every stream is still held to its protocol's own limit
 * once handed over (the piece server's 64 per connection).
 */
export const P2P_MAX_EARLY_STREAMS = 128
