/**
 * The shapes `shoal prefetch` shares with the packages it composes: the scheduler's admin API (jobs)
 * and the agent's prefetch module. One file, so that the import paths change in one place.
 *
 * TODO(exports): @shoal/scheduler does not export `jobs/types.ts` and @shoal/agent does not export
 * `prefetch/types.ts` yet; until they do, these are type-only imports by path (erased at run time,
 * so no code crosses the package boundary).
 */
export type {
  JobState, TargetState, JobScope, JobRequest, FailureView, TargetView, LayerView, ImageView, AgentProgressView, JobView
} from '../../../scheduler/src/jobs/types.ts'
export type {
  PrefetchFailureReason, PrefetchFailure, Platform, ImageRequest, PrefetchLayer, ResolvedImage, LayerOutcome
} from '../../../agent/src/prefetch/types.ts'
