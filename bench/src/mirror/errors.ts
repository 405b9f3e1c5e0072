/**
 * Named errors of the mirror benchmark. Callers match on `err.name`, never on the message.
 */
import { namedError } from '@shoal/proto'

/** A command-line option is missing, unknown or out of range; the message names it. */
export class BenchUsageError extends namedError('BenchUsageError') {}
/** A pulled blob had the wrong length, status or digest: the run measured nothing valid. */
export class BlobVerificationError extends namedError('BlobVerificationError') {}
/** Pushing the benchmark blobs to the origin failed. */
export class BlobPushError extends namedError('BlobPushError') {}
/** The agent process could not be started, or died while measured. */
export class AgentProcessError extends namedError('AgentProcessError') {}
/** The shaped origin link (the counting proxy in its worker thread) failed to start, answer or stop. */
export class LinkProxyError extends namedError('LinkProxyError') {}
