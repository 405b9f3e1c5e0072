/**
 * Named errors of the swarm benchmark. Callers match on `err.name`, never on the message.
 */
import { namedError } from '@shoal/proto'

export { BenchUsageError } from '../mirror/errors.ts'
/** A network namespace, link or qdisc could not be made or removed. */
export class NetnsError extends namedError('NetnsError') {}
/** A process the bench runs (origin, scheduler, agent) failed to start or died. */
export class ServiceError extends namedError('ServiceError') {}
/** A host's pull failed or pulled the wrong bytes. */
export class PullError extends namedError('PullError') {}
/** An HTTP call the bench makes (readiness, metrics, prefetch) failed. */
export class BenchHttpError extends namedError('BenchHttpError') {}
