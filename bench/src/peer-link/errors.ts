/**
 * Named errors of the peer-link benchmark. Callers match on `err.name`, never on the message.
 */
import { namedError } from '@shoal/proto'

/** A bare libp2p node could not start, or its fetch series failed. */
export class BareNodeError extends namedError('BareNodeError') {}
/** Bytes that should have come over the peer link came from elsewhere: the run measured the wrong path. */
export class PeerPathError extends namedError('PeerPathError') {}
