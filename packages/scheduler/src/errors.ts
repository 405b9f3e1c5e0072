/**
 * Named errors of the scheduler. Callers match on `err.name`; the RPC edge turns them into
 * answers to the agent that sent the offending message.
 */
import { namedError } from '@shoal/proto'

/** A peer id that is not a libp2p peer id in its base58btc text form. */
export class InvalidPeerKeyError extends namedError('InvalidPeerKeyError') {}
/** A peer's registration (labels, upload slots) that the scheduler cannot use. */
export class InvalidPeerInfoError extends namedError('InvalidPeerInfoError') {}
/** A message about a task (blob digest) that no peer has announced. */
export class UnknownTaskError extends namedError('UnknownTaskError') {}
/** A peer announced a task with a size other than the one the task already has. */
export class TaskSizeMismatchError extends namedError('TaskSizeMismatchError') {}
/** An origin split asked of no assignees, of repeated assignees or of a bad piece or reader count. */
export class InvalidOriginAssignmentError extends namedError('InvalidOriginAssignmentError') {}
/** Unfinished origin pieces are left and no assignee remains to read them. */
export class NoOriginAssigneeError extends namedError('NoOriginAssigneeError') {}
/** A `shoal scheduler` option is invalid; the message names the field. */
export class SchedulerConfigError extends namedError('SchedulerConfigError') {}
/** An address the scheduler was told to listen on that it cannot have (in use, not this host's, not allowed). */
export class SchedulerListenError extends namedError('SchedulerListenError') {}
/** A prefetch job request (POST /jobs) that cannot be run; the message names the field. */
export class JobRequestError extends namedError('JobRequestError') {}
/** No prefetch job has that id. */
export class UnknownJobError extends namedError('UnknownJobError') {}
/** A request body larger than the admin API takes. */
export class BodyTooLargeError extends namedError('BodyTooLargeError') {}
/** A registration the scheduler does not admit: no valid join token, or a member the operator removed. */
export class NotAdmittedError extends namedError('NotAdmittedError') {}
/** No member has that peer id. */
export class UnknownMemberError extends namedError('UnknownMemberError') {}
/** The data dir's stores are held open by another process (a second scheduler on the same --data-dir). */
export class DataDirInUseError extends namedError('DataDirInUseError') {}
