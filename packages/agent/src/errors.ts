/**
 * Named errors of the agent. Callers match on `err.name`; the HTTP edge maps them to OCI error
 * bodies. Messages say what happened and what to do, as the seed's troubleshooting table does.
 */
import { namedError } from '@shoal/proto'
import type { Status } from '@shoal/proto'

/** A configuration value is invalid; the message names the field. */
export class ConfigError extends namedError('ConfigError') {}
/** The data dir's index is locked by another process (another agent on the same --data-dir). */
export class DataDirInUseError extends namedError('DataDirInUseError') {}
/** A listener could not take its address at start (in use, not an address of this host); the message names the flag. */
export class ListenError extends namedError('ListenError') {}
/** The DNS servers did not answer for a `dns:` target (timeout, SERVFAIL, refused); the last addresses stay. */
export class DnsResolveError extends namedError('DnsResolveError') {}
/** A repository name does not match the distribution spec grammar. */
export class InvalidNameError extends namedError('InvalidNameError') {}
/** A Range header cannot be satisfied for this blob. */
export class RangeNotSatisfiableError extends namedError('RangeNotSatisfiableError') {}
/** The upstream registry could not be reached, timed out or failed with a 5xx. */
export class UpstreamUnavailableError extends namedError('UpstreamUnavailableError') {}
/** The upstream is unreachable and no cached manifest of the tag has a media type the client's Accept admits. */
export class UnacceptableCachedManifestError extends namedError('UnacceptableCachedManifestError') {}
/** The upstream registry's TLS certificate could not be verified. */
export class UpstreamTlsError extends namedError('UpstreamTlsError') {}
/** The upstream registry refused the credentials (or asked for some). */
export class UpstreamUnauthorizedError extends namedError('UpstreamUnauthorizedError') {}
/** The hashing thread stopped (the agent is stopping, or the thread failed): the downloads it hashed for fail and are fetched again. */
export class HashThreadError extends namedError('HashThreadError') {}
/** The upstream registry answered something a registry should not (bad length, bad digest header). */
export class UpstreamProtocolError extends namedError('UpstreamProtocolError') {}
/** No upstream is configured for a `?ns=` host and the agent does not allow any registry. */
export class UnknownRegistryError extends namedError('UnknownRegistryError') {}
/** A request names no registry (no `?ns=`, no registry path component) and the agent mirrors several. */
export class UnroutableRequestError extends namedError('UnroutableRequestError') {}
/** The bytes of a blob or manifest do not hash to the digest they were asked for by. */
export class DigestMismatchError extends namedError('DigestMismatchError') {}
/** The piece store cannot hold a blob (quota too small, disk full). */
export class StorageFullError extends namedError('StorageFullError') {}
/** An operation was aborted by its signal. */
export class AbortError extends namedError('AbortError') {}
/** A complete blob on disk does not hash to its digest: the store dropped it, the next request fetches it again. */
export class CorruptBlobError extends namedError('CorruptBlobError') {}
/** A stored piece is short or does not hash to the CID the index recorded for it. */
export class CorruptPieceError extends namedError('CorruptPieceError') {}
/** A peer answered a request with NOT_FOUND, BUSY, ERROR or CANCELLED; `status` says which. */
export class PeerRefusedError extends namedError('PeerRefusedError') {
  readonly status: Status
  constructor (status: Status, message: string, options?: ErrorOptions) {
    super(message, options)
    this.status = status
  }
}
/** A peer sent a piece of the wrong length or hash: count it against the peer and ban it. */
export class BadPieceError extends namedError('BadPieceError') {}
/** A peer sent a malformed frame or a response that does not answer the request. */
export class PeerProtocolError extends namedError('PeerProtocolError') {}
/** A peer could not be reached, or its stream broke off before the answer was complete. */
export class PeerUnavailableError extends namedError('PeerUnavailableError') {}
/** A peer did not answer within the request's default timeout (PIECE_TIMEOUT_MS). */
export class PeerTimeoutError extends namedError('PeerTimeoutError') {}
/** A peer opened more piece streams than one peer may have at once: the new one is reset. */
export class PeerStreamLimitError extends namedError('PeerStreamLimitError') {}
/** A banned peer opened a stream: it is reset without an answer until the ban ends. */
export class BannedPeerError extends namedError('BannedPeerError') {}
/** A DHT announcement of a blob failed; the blob stays in the set re-announced every interval. */
export class ProvideFailedError extends namedError('ProvideFailedError') {}

/** A piece the origin sent does not match the piece table a peer gave: the table (or the origin) is wrong. */
export class PieceTableMismatchError extends namedError('PieceTableMismatchError') {}
/** No peer could give a piece and fetching it from the origin is turned off (--no-origin-fallback). */
export class NoPeerSourceError extends namedError('NoPeerSourceError') {}
/** A stripe's partial file was closed under it by a download of the same blob that ended (see LayerFetcher.fetchStripe). */
export class StripeInterruptedError extends namedError('StripeInterruptedError') {}
/** A stripe of a blob this agent keeps from peers (`--share-private`): nobody could be given it. */
export class StripeKeptPrivateError extends namedError('StripeKeptPrivateError') {}
/** No scheduler took the agent's registration (unreachable, no answer, or a broken answer). */
export class SchedulerUnavailableError extends namedError('SchedulerUnavailableError') {}
/** A piece read waiting for the server's memory was given up for other peers' share of the read slots (answered BUSY). */
export class ReadPreemptedError extends namedError('ReadPreemptedError') {}
