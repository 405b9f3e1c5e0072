import { formatPlatform, parseImageReference as parseAgentReference, parsePlatform, parseTagFilter } from '@shoal/agent/prefetch'
import type { ImageReference } from '@shoal/agent/prefetch'
import { isPlacementLabel } from '@shoal/proto'
import { isPeerKey } from '@shoal/scheduler'
import { PrefetchUsageError } from './errors.ts'

/**
 * Parsers of single values of `shoal prefetch`: each takes the field (the flag, or the file and line)
 * that the value came from and throws PrefetchUsageError naming it. Image references, tag globs and
 * platforms are checked by the agent's own parsers (the agent resolves them, with either back end).
 */

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 }

/** `30s`, `10m`, `1h`, `1h30m`, `250ms` -> milliseconds, greater than 0 and at most `maxMs`. */
export function parseDuration (field: string, text: string, maxMs: number): number {
  const trimmed = text.trim().toLowerCase()
  let ms = 0
  let rest = trimmed
  const part = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)/
  for (let match = part.exec(rest); match != null && rest !== ''; match = part.exec(rest)) {
    ms += Number(match[1]) * (DURATION_UNITS_MS[match[2] ?? ''] ?? Number.NaN)
    rest = rest.slice(match[0].length)
  }
  if (trimmed === '' || rest !== '' || !Number.isFinite(ms)) {
    throw new PrefetchUsageError(`${field}: "${text}" is not a duration (examples: 30s, 10m, 1h, 1h30m)`)
  }
  if (ms < 1 || ms > maxMs) throw new PrefetchUsageError(`${field}: "${text}" must be more than 0 and at most ${formatLimit(maxMs)}`)
  return Math.round(ms)
}

function formatLimit (ms: number): string {
  return ms % 86_400_000 === 0 ? `${ms / 86_400_000}d` : `${ms / 1000}s`
}

/** A whole number in [min, max]. */
export function parseIntegerIn (field: string, text: string, range: { min: number, max: number }): number {
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN
  if (!Number.isSafeInteger(n) || n < range.min || n > range.max) {
    throw new PrefetchUsageError(`${field}: "${text}" must be a whole number from ${range.min} to ${range.max}`)
  }
  return n
}

/** `os/arch[/variant]` (`linux/amd64`, `linux/arm64/v8`), as the scheduler takes it: lower case, checked. */
export function parsePlatformText (field: string, text: string): string {
  return formatPlatform(checked(field, () => parsePlatform(text)))
}

/** The scope as the command line names it; `agent` alone means "the agent given by --agent". */
export type ScopeArg =
  | { kind: 'agent', agent?: string }
  | { kind: 'site', site: string }
  | { kind: 'all' }


/** `agent`, `agent:<peer id>`, `site:NAME` or `all`. */
export function parseScope (field: string, text: string): ScopeArg {
  const value = text.trim()
  if (value === 'all') return { kind: 'all' }
  if (value === 'agent') return { kind: 'agent' }
  const colon = value.indexOf(':')
  const kind = colon < 0 ? value : value.slice(0, colon)
  const name = value.slice(colon + 1)
  if (kind === 'agent' && colon > 0) {
    if (!isPeerKey(name)) throw new PrefetchUsageError(`${field}: "${name}" is not an agent's peer id (12D3KooW...; the agent prints it at start)`)
    return { kind: 'agent', agent: name }
  }
  if (kind === 'site' && colon > 0) {
    if (!isPlacementLabel(name)) throw new PrefetchUsageError(`${field}: "${name}" is not a site name (letters, digits, '.', '_' and '-', at most 63, as given to shoal agent --site)`)
    return { kind: 'site', site: name }
  }
  throw new PrefetchUsageError(`${field}: "${text}" is not a scope; write agent, agent:<peer id>, site:NAME or all`)
}

/** The scope as the admin API carries it. */
export function scopeOnWire (scope: ScopeArg): string {
  switch (scope.kind) {
    case 'agent': return `agent:${scope.agent ?? ''}`
    case 'site': return `site:${scope.site}`
    case 'all': return 'all'
  }
}

export type { ImageReference }

/** `[registry/]repository[:tag][@digest]` by the mirror's grammar; `registry` is '' for the agent's default upstream. */
export function parseImageReference (field: string, text: string): ImageReference {
  return checked(field, () => parseAgentReference(text.trim()))
}

/** A glob over tags, as the agent's resolver takes it: a tag's characters and the wildcards `*` and `?` (`v1.*`, `*-latest`). */
export function parseTagGlob (field: string, text: string): string {
  return checked(field, () => parseTagFilter(text.trim())).glob
}

function checked<T> (field: string, parse: () => T): T {
  try {
    return parse()
  } catch (err) {
    throw new PrefetchUsageError(`${field}: ${(err as Error).message}`, { cause: err })
  }
}
