import { tagGlobMatcher } from '@shoal/proto'
import { parseJobRequest } from '../jobs/job-request.ts'
import type { ParsedJobRequest } from '../jobs/job-request.ts'
import type { PushRule } from './config.ts'
import type { PushEvent } from './push-events.ts'

export interface MatchedPush {
  event: PushEvent
  /** the index of the rule in the config */
  rule: number
  request: ParsedJobRequest
}

/**
 * Which pushes start prefetch jobs: the first rule whose repository glob and tag glob match a push
 * decides its scope and replicas; a push no rule matches, or one without a tag, starts nothing.
 * The job names the image by tag and digest (the content pushed, even if the tag moves on).
 */
export function matchPushes (events: PushEvent[], rules: readonly PushRule[]): MatchedPush[] {
  const compiled = rules.map(rule => ({ rule, repository: repositoryMatcher(rule.repository), tags: rule.tags == null ? () => true : tagGlobMatcher(rule.tags) }))
  const seen = new Set<string>()
  const matched: MatchedPush[] = []
  for (const event of events) {
    if (event.tag == null) continue
    const index = compiled.findIndex(c => c.repository(event.repository) && c.tags(event.tag ?? ''))
    const found = compiled[index]
    if (found == null) continue
    const registry = found.rule.registry ?? event.registry
    const reference = `${registry}/${event.repository}:${event.tag}${event.digest == null ? '' : `@${event.digest}`}`
    if (seen.has(reference)) continue
    seen.add(reference)
    matched.push({ event, rule: index, request: parseJobRequest({ images: [{ reference }], scope: found.rule.scope, replicas: found.rule.replicas, spread: found.rule.spread }) })
  }
  return matched
}

/** `*` matches any run of characters, `/` included; the rest matches itself. */
function repositoryMatcher (glob: string): (repository: string) => boolean {
  const pattern = new RegExp(`^${glob.split('*').map(part => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`)
  return repository => pattern.test(repository)
}
