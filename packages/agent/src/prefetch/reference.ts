import type { ImageReference } from '@shoal/proto'

// The grammar lives in proto, shared with the CLI and the scheduler's jobs API.
export { parseImageReference } from '@shoal/proto'
export type { ImageReference } from '@shoal/proto'

/** `registry/repository:tag`, `registry/repository@digest` (both when both), without the registry for the default upstream. */
export function formatImageReference (reference: ImageReference): string {
  let text = reference.registry === '' ? reference.repository : `${reference.registry}/${reference.repository}`
  if (reference.tag != null) text += `:${reference.tag}`
  if (reference.digest != null) text += `@${reference.digest}`
  return text
}

/** `registry/repository`, or the repository and "(the default upstream)". */
export function formatRepository (reference: { registry: string, repository: string }): string {
  return reference.registry === '' ? `${reference.repository} (the agent's default upstream)` : `${reference.registry}/${reference.repository}`
}
