/**
 * @packageDocumentation
 *
 * The shoal scheduler knows which agent holds which pieces of which blob, tells each agent whom to
 * fetch the pieces it lacks from, decides which of the first agents reads which piece of a cold blob
 * from the origin, and ejects parents that fail or send bad pieces. Its state is soft: agents
 * announce again after a restart.
 *
 * This package holds the scheduler's bookkeeping and policy as pure modules: no I/O, no libp2p, no
 * timers (the clock comes in as `now`, in milliseconds). The server that speaks the protocol to the
 * agents composes them.
 *
 * - `types.ts`: `PeerKey` (a parsed libp2p peer id) and `PeerInfo` (site, zone, upload slots).
 *   A task is named by the blob's `Digest` from @shoal/proto.
 * - `availability.ts`: `TaskAvailability` (a bitfield per peer, a holder count per piece, rarest
 *   missing pieces) and `AvailabilityRegistry` (every task, and the tasks of every peer).
 * - `parent-selection.ts`: `selectParents`, the ordered parents for a child: same site, then zone,
 *   then the rest; by useful pieces, free upload slots and recent failures.
 * - `parent-pool.ts`: `ParentPool`, the same answers as `selectParents` for every downloader of one task
 *   in one decision round, from one snapshot of the candidates indexed by site and zone.
 * - `parent-health.ts`: `ParentHealth`, failures within a window and bad pieces, and the ejections
 *   they lead to.
 * - `origin-split.ts`: `assignOrigin` and `reassign`, the cooperative split of a cold blob's pieces
 *   among the agents that read it from the origin.
 * - `task-state.ts`, `service.ts`: `SchedulerService`, the decisions apart from any transport:
 *   agents connect and send parsed messages; each decision round (`tick`) tells the downloaders of
 *   changed tasks their parents, their origin pieces and the piece table.
 * - `frames.ts`: `encodeSchedulerMessage`, a message's frame, encoded once however many agents it
 *   goes to.
 * - `server.ts`: `SchedulerServer`, the protocol on a libp2p node given to it (one stream per agent)
 *   and the timer of the decision rounds.
 * - `membership/`: who belongs to the swarm (`Membership`): agents admitted by join token
 *   (`JoinTokens`), kept in level (`MemberStore`), removed through the admin API's `/members`;
 *   the server pushes the member set to every agent (docs/membership.md).
 * - `jobs/`: prefetch jobs (`PrefetchJobs`): resolved by an agent of the scope, placed (`placeBlobs`),
 *   ordered from agents and followed to the end; stored in level (`JobStore`); the admin API's
 *   `/jobs` routes and the JSON shapes (`JobView`, `JobRequest`).
 * - `preheat/`: Dragonfly's preheat API (Harbor's P2P provider: `/healthy`, `/oapi/v1/jobs`,
 *   Dragonfly 1's `/_ping`, `/preheats`) and the push webhook (`/webhooks/push`: Distribution's
 *   notifications, Harbor's webhook) translated onto prefetch jobs; the `--config` file's `preheat`
 *   and `webhooks` sections (docs/harbor.md).
 * - `constants.ts`, `errors.ts`: defaults with units in their names; named errors.
 */
export { parsePeerKey, isPeerKey, parsePeerInfo, peerKeyBytes } from './types.ts'
export type { PeerKey, PeerInfo } from './types.ts'
export { TaskAvailability, AvailabilityRegistry } from './availability.ts'
export type {
  ReadonlyBitfield, TaskAvailabilityView, TaskAvailabilityInit, TaskAnnouncement, RarestMissingOptions
} from './availability.ts'
export { selectParents, localityOf, compareChoices } from './parent-selection.ts'
export type { SelectParentsInput, ParentState, ParentView, ParentChoice, Locality } from './parent-selection.ts'
export { ParentPool } from './parent-pool.ts'
export type { ParentPoolInput } from './parent-pool.ts'
export { ParentHealth } from './parent-health.ts'
export type { ParentHealthInit, FailureReason, EjectionReason, Ejection } from './parent-health.ts'
export { assignOrigin, reassign, rebalance, OriginAssignment } from './origin-split.ts'
export { SchedulerService } from './service.ts'
export { SchedulerServer } from './server.ts'
export { encodeSchedulerMessage } from './frames.ts'
export type { AgentChannel, SchedulerServerComponents, SchedulerServerInit } from './server.ts'
export type { AgentLink, AgentRegistration, SchedulerEvents, SchedulerServiceInit } from './service.ts'
export type { OriginAssignedEvent } from './origin-round.ts'
export { TaskState } from './task-state.ts'
export { Membership } from './membership/membership.ts'
export type { MemberView, MembershipEvents } from './membership/membership.ts'
export { JoinTokens } from './membership/join-tokens.ts'
export { MemberStore } from './membership/member-store.ts'
export type { MemberRecord } from './membership/member-store.ts'
export { handleMemberRoute } from './membership/admin-routes.ts'
export type { AgentObserver } from './service.ts'
export { PrefetchJobs } from './jobs/prefetch-jobs.ts'
export type { PrefetchJobsInit } from './jobs/prefetch-jobs.ts'
export { JobStore } from './jobs/job-store.ts'
export { parseJobRequest, parseScope, JOB_DEFAULTS } from './jobs/job-request.ts'
export type { ParsedJobRequest } from './jobs/job-request.ts'
export { placeBlobs } from './jobs/placement.ts'
export { handleJobRoute } from './jobs/admin-routes.ts'
export type {
  JobRequest, JobView, JobState, JobScope, TargetState, TargetView, LayerView, ImageView, AgentProgressView, FailureView
} from './jobs/types.ts'
export type { AssignOriginInput, ReassignInput, RebalanceInput } from './origin-split.ts'
export {
  InvalidPeerKeyError, InvalidPeerInfoError, UnknownTaskError, TaskSizeMismatchError, InvalidOriginAssignmentError,
  NoOriginAssigneeError, JobRequestError, UnknownJobError, BodyTooLargeError, NotAdmittedError, UnknownMemberError,
  DataDirInUseError
} from './errors.ts'
export {
  PARENT_FAILURE_WINDOW_MS, PARENT_EJECTION_FAILURES, PARENT_FAILURE_EJECTION_MS, PARENT_BAD_PIECE_EJECTION_MS,
  DEFAULT_ORIGIN_READERS_PER_PIECE, MAX_LABEL_LENGTH, MAX_UPLOAD_SLOTS, SCHEDULER_PARENTS_PER_CHILD, SCHEDULER_REPORT_INTERVAL_MS,
  SCHEDULER_ASSIGNEE_STALL_MS, SCHEDULER_TICK_MS, SCHEDULER_MAX_AGENTS
} from './constants.ts'
