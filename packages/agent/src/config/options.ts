/**
 * The options of `shoal agent`: the flags, their YAML keys and the usage text. Parsing and checking
 * them is index.ts's (resolveAgentConfig).
 */
import * as C from '../constants.ts'

/** Flags of `shoal agent`; each is also `SHOAL_<NAME>` in the environment and a key of the YAML file. */
export const OPTIONS = {
  config: { type: 'string' },
  listen: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-client-ca': { type: 'string' },
  'insecure-listen': { type: 'boolean' },
  'metrics-listen': { type: 'string' },
  'data-dir': { type: 'string' },
  upstream: { type: 'string', multiple: true },
  'insecure-registry': { type: 'string', multiple: true },
  'allow-any-registry': { type: 'boolean' },
  'public-repository': { type: 'string', multiple: true },
  'docker-config': { type: 'string' },
  'certs-dir': { type: 'string' },
  'manifest-ttl': { type: 'string' },
  'drain-timeout': { type: 'string' },
  'storage-quota': { type: 'string' },
  'gc-high-watermark': { type: 'string' },
  'gc-low-watermark': { type: 'string' },
  'gc-max-age': { type: 'string' },
  'p2p-listen': { type: 'string', multiple: true },
  bootstrap: { type: 'string', multiple: true },
  announce: { type: 'string', multiple: true },
  'swarm-key': { type: 'string' },
  'join-token': { type: 'string' },
  members: { type: 'string' },
  'share-private': { type: 'string' },
  'no-p2p': { type: 'boolean' },
  scheduler: { type: 'string', multiple: true },
  'embedded-scheduler': { type: 'boolean' },
  site: { type: 'string' },
  zone: { type: 'string' },
  'no-origin-fallback': { type: 'boolean' },
  'upload-limit': { type: 'string' },
  'download-limit': { type: 'string' },
  'origin-limit': { type: 'string' },
  'access-check-ttl': { type: 'string' },
  'offline-access': { type: 'string' },
  'offline-access-window': { type: 'string' },
  'upstream-endpoint': { type: 'string', multiple: true },
  'upstream-connect-timeout': { type: 'string' },
  'upstream-response-timeout': { type: 'string' },
  'upstream-idle-timeout': { type: 'string' },
  'upstream-failures': { type: 'string' },
  'upstream-cooldown': { type: 'string' },
  'no-access-log': { type: 'boolean' },
  'max-client-connections': { type: 'string' },
  'max-connections': { type: 'string' },
  'client-idle-timeout': { type: 'string' }
} as const

export type OptionName = keyof typeof OPTIONS

/** The YAML key of each option: camelCase of the flag (`data-dir` -> `dataDir`), lists plural. */
export const YAML_KEYS: Record<OptionName, string> = {
  config: 'config',
  listen: 'listen',
  'tls-cert': 'tlsCert',
  'tls-key': 'tlsKey',
  'tls-client-ca': 'tlsClientCa',
  'insecure-listen': 'insecureListen',
  'metrics-listen': 'metricsListen',
  'data-dir': 'dataDir',
  upstream: 'upstreams',
  'insecure-registry': 'insecureRegistries',
  'allow-any-registry': 'allowAnyRegistry',
  'public-repository': 'publicRepositories',
  'docker-config': 'dockerConfig',
  'certs-dir': 'certsDir',
  'manifest-ttl': 'manifestTtl',
  'drain-timeout': 'drainTimeout',
  'storage-quota': 'storageQuota',
  'gc-high-watermark': 'gcHighWatermark',
  'gc-low-watermark': 'gcLowWatermark',
  'gc-max-age': 'gcMaxAge',
  'p2p-listen': 'p2pListen',
  bootstrap: 'bootstrap',
  announce: 'announce',
  'swarm-key': 'swarmKey',
  'join-token': 'joinToken',
  members: 'members',
  'share-private': 'sharePrivate',
  'no-p2p': 'noP2p',
  scheduler: 'schedulers',
  'embedded-scheduler': 'embeddedScheduler',
  site: 'site',
  zone: 'zone',
  'no-origin-fallback': 'noOriginFallback',
  'upload-limit': 'uploadLimit',
  'download-limit': 'downloadLimit',
  'origin-limit': 'originLimit',
  'access-check-ttl': 'accessCheckTtl',
  'offline-access': 'offlineAccess',
  'offline-access-window': 'offlineAccessWindow',
  'upstream-endpoint': 'upstreamEndpoints',
  'upstream-connect-timeout': 'upstreamConnectTimeout',
  'upstream-response-timeout': 'upstreamResponseTimeout',
  'upstream-idle-timeout': 'upstreamIdleTimeout',
  'upstream-failures': 'upstreamFailures',
  'upstream-cooldown': 'upstreamCooldown',
  'no-access-log': 'noAccessLog',
  'max-client-connections': 'maxClientConnections',
  'max-connections': 'maxConnections',
  'client-idle-timeout': 'clientIdleTimeout'
}

export const AGENT_USAGE = `usage: shoal agent [options]
  --listen HOST:PORT            registry mirror listener (default ${C.DEFAULT_LISTEN})
  --tls-cert FILE, --tls-key FILE  serve the mirror over HTTPS with this PEM certificate (chain) and key
  --tls-client-ca FILE          require client certificates signed by this CA (with --tls-cert)
  --insecure-listen             allow a --listen other hosts reach without TLS: anyone reaching it can pull
  --metrics-listen HOST:PORT    a second, plain-HTTP listener with only /metrics, /healthz and /readyz, for
                                Prometheus and probes on other hosts; no registry API (default: none)
  --data-dir DIR                pieces, blobs and index (default ${C.DEFAULT_DATA_DIR})
  --upstream URL                a registry to mirror, repeatable (default docker.io); a request naming no
                                registry (no ?ns=, no registry path component) is served only with one
  --insecure-registry HOST      allow plain HTTP / unverified TLS to HOST[:PORT], repeatable
  --allow-any-registry          follow ?ns= to registries not configured (trusted listeners only)
  --public-repository GLOB       REGISTRY/REPO glob (docker.io/library/*) served from the cache without
                                asking the origin whether the client may read it, repeatable
  --docker-config FILE          docker config.json whose auths hold the agent's credentials
  --certs-dir DIR               per-registry CAs as DIR/<host:port>/ca.crt (default ${C.DEFAULT_CERTS_DIR})
  --manifest-ttl DURATION       how long a tag->digest answer is reused (default 30s)
  --drain-timeout DURATION      on SIGTERM/SIGINT, how long pulls in flight may take to finish (default 20s)
  --storage-quota SIZE          bytes the store may use (default: the disk's size)
  --gc-high-watermark RATIO     start evicting above this share of the quota (default ${C.DEFAULT_GC_HIGH_WATERMARK})
  --gc-low-watermark RATIO      evict down to this share (default ${C.DEFAULT_GC_LOW_WATERMARK})
  --gc-max-age DURATION         evict blobs unused for this long (default 7d)
  --p2p-listen MULTIADDR        where the peer network listens, repeatable (default /ip4/0.0.0.0/tcp/65002; /ip6/::/tcp/65002 for IPv6)
  --no-p2p                      no peer network: a mirror of the origin only
  --bootstrap PEER              a peer to join, repeatable: a multiaddr (/ip4/10.0.0.5/tcp/65002/p2p/<peer id>,
                                /ip6/fd00::5/tcp/65002/p2p/<peer id>) or dns:NAME[:PORT] (default port ${C.DEFAULT_P2P_PORT}):
                                NAME's A/AAAA addresses (full name), peer ids learned on connecting, up to
                                ${C.DNS_BOOTSTRAP_MAX_PEERS} kept connected, resolved again every ${C.DNS_RESOLVE_INTERVAL_MS / 1000}s
  --announce MULTIADDR          an address to tell peers instead of the listen ones (NAT), repeatable
  --swarm-key FILE              libp2p private-network key: hosts without it cannot connect
  --join-token FILE             a join token from the scheduler operator: the scheduler admits this agent
                                and tells it the members, the only peers it talks to (docs/membership.md)
  --members FILE                peer ids of the swarm, one a line (DHT only, no scheduler); re-read on change
  --share-private POLICY        which blobs peers get: members (default: all), anonymous (only blobs the
                                origin serves without credentials) or none (no blob; this agent only takes)
  --scheduler SCHEDULER         a scheduler, repeatable; none: DHT only. A multiaddr (/ip4/10.0.0.2/tcp/65003/p2p/<peer id>)
                                or dns:NAME[:PORT] (default port ${C.DEFAULT_SCHEDULER_PORT}): whoever answers at NAME's A/AAAA
                                addresses is a scheduler (needs --swarm-key; docs/membership.md), resolved again every ${C.DNS_RESOLVE_INTERVAL_MS / 1000}s
  --site NAME, --zone NAME      where this host is, told to the scheduler (same site, then zone, preferred)
  --embedded-scheduler          run a scheduler in this agent too (a small site); others give its address as --scheduler
  --no-origin-fallback          never fetch blob bytes from the origin: peers only (manifests still come from it)
  --upload-limit RATE           piece bytes per second sent to peers (100MB, 1GiB; default no limit)
  --download-limit RATE         piece bytes per second received from peers (default no limit)
  --origin-limit RATE           blob bytes per second received from origin registries (default no limit)
  --access-check-ttl DURATION   how long the origin's yes to a client's credentials is reused (default 30s)
  --offline-access POLICY       origin unreachable: who gets cached content of non-public repositories:
                                deny, recent (a client the origin said yes to within the window; default), allow
  --offline-access-window DURATION  how recent that yes must be (default 24h)
  --upstream-endpoint REGISTRY=URL  a mirror endpoint of REGISTRY, tried in the given order before it, repeatable
  --upstream-connect-timeout DURATION   to connect to an upstream (default 3s)
  --upstream-response-timeout DURATION  to an upstream's response headers (default 5s)
  --upstream-idle-timeout DURATION      a body with no byte arriving (default 30s)
  --upstream-failures N         consecutive failures that make an endpoint fail fast (default ${C.DEFAULT_UPSTREAM_FAILURE_THRESHOLD})
  --upstream-cooldown DURATION  how long it fails fast before one request probes it (default 30s)
  --no-access-log               no info line per blob and manifest request
  --max-client-connections N    connections one client address may keep open (default ${C.MIRROR_MAX_CONNECTIONS_PER_CLIENT}); past it, 503
  --max-connections N           connections in all (default ${C.MIRROR_MAX_CONNECTIONS}); past it, 503
  --client-idle-timeout DURATION  cut off a client that accepts no byte of a blob for this long (default 120s)
  --config FILE                 YAML file with the same keys in camelCase (dataDir, upstreams, credentials...)
Every flag is also an environment variable: SHOAL_DATA_DIR, SHOAL_UPSTREAM (comma-separated), ...`
