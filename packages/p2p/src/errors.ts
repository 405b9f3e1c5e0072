import { namedError } from '@shoal/proto'

/** A p2p option that cannot work (a bad multiaddr); the name matches the agent's own, so the CLI exits 2. */
export class ConfigError extends namedError('ConfigError') {}
export class AbortError extends namedError('AbortError') {}
/** The swarm key file is missing or malformed. */
export class SwarmKeyError extends namedError('SwarmKeyError') {}
/** The persistent peer identity cannot be read or written. */
export class PeerIdentityError extends namedError('PeerIdentityError') {}
/** A data dir that cannot be made the process's alone (owned by another user, chmod refused). */
export class DataDirPermissionError extends namedError('DataDirPermissionError') {}
