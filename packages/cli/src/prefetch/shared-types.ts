/**
 * The shapes `shoal prefetch` shares with the packages it composes: the scheduler's admin API (jobs)
 * and the agent's prefetch module. Type-only: no scheduler code is loaded by this command.
 */
export type {
  JobState, TargetState, JobScope, JobRequest, FailureView, TargetView, LayerView, ImageView, AgentProgressView, JobView
} from '@shoal/scheduler'
export type {
  PrefetchFailureReason, PrefetchFailure, Platform, ImageRequest, PrefetchLayer, ResolvedImage, LayerOutcome
} from '@shoal/agent/prefetch'
