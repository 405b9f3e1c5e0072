import { isDigest, isRegistryHost, isRepositoryName, isTag } from '@shoal/proto'
import { JobRequestError } from '../errors.ts'

/** One pushed image, from whichever registry's notification. */
export interface PushEvent {
  /** host[:port] as the event names the registry */
  registry: string
  repository: string
  /** the pushed tag; pushes by digest alone carry none and start nothing */
  tag?: string
  digest?: string
}

/** Manifest and index media types: a push of one of these is an image push (blobs are not). */
const MANIFEST_TYPES = new Set([
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json'
])
const HARBOR_PUSH_TYPES = new Set(['PUSH_ARTIFACT', 'harbor.artifact.pushed'])
const MAX_EVENTS = 256

/**
 * The image pushes in a notification body: the Distribution registry's envelope (`{ events: [...] }`,
 * v1 and v2 media types, also with Kraken's capitalised keys: action `push` and a manifest media
 * type), Harbor's webhook (`type: PUSH_ARTIFACT`, the Default payload) or Harbor's CloudEvents
 * (`type: harbor.artifact.pushed`). Anything else in the body (pulls, deletes, blob pushes,
 * other Harbor events) yields nothing; a body that is none of these is a JobRequestError.
 */
export function pushEvents (body: unknown): PushEvent[] {
  const doc = object(body)
  const events = field(doc, 'events')
  if (events != null) {
    if (!Array.isArray(events) || events.length > MAX_EVENTS) throw new JobRequestError(`events: a list of at most ${MAX_EVENTS} events`)
    return events.flatMap(distributionPush)
  }
  const type = field(doc, 'type')
  if (typeof type === 'string' && (field(doc, 'event_data') != null || field(doc, 'data') != null)) {
    if (!HARBOR_PUSH_TYPES.has(type)) return []
    return harborPushes(object(field(doc, 'event_data') ?? field(doc, 'data')))
  }
  throw new JobRequestError('the body is neither a registry notification envelope ({"events": [...]}) nor a Harbor webhook event ({"type": "PUSH_ARTIFACT", "event_data": ...})')
}

function distributionPush (value: unknown): PushEvent[] {
  const event = object(value)
  if (field(event, 'action') !== 'push') return []
  const target = object(field(event, 'target') ?? {})
  const mediaType = field(target, 'mediaType')
  if (typeof mediaType !== 'string' || !MANIFEST_TYPES.has(mediaType)) return []
  const url = field(target, 'url')
  let registry: string | undefined
  if (typeof url === 'string') {
    try {
      registry = new URL(url).host
    } catch {}
  }
  registry ??= stringField(object(field(event, 'request') ?? {}), 'host')
  return checked({ registry: registry ?? '', repository: stringField(target, 'repository') ?? '', tag: stringField(target, 'tag'), digest: stringField(target, 'digest') })
}

function harborPushes (data: Record<string, unknown>): PushEvent[] {
  const repository = stringField(object(field(data, 'repository') ?? {}), 'repo_full_name') ?? ''
  const resources = field(data, 'resources') ?? []
  if (!Array.isArray(resources) || resources.length > MAX_EVENTS) throw new JobRequestError(`event_data.resources: a list of at most ${MAX_EVENTS}`)
  return resources.flatMap(value => {
    const resource = object(value)
    // `harbor.example.com/library/app:1.0`: the host Harbor is reached at (its external URL has no scheme here).
    const registry = stringField(resource, 'resource_url')?.split('/')[0] ?? ''
    const tag = stringField(resource, 'tag')
    return checked({ registry, repository, tag: tag != null && isTag(tag) ? tag : undefined, digest: stringField(resource, 'digest') })
  })
}

/** The event if every part of it is a valid name (nothing of it reaches a job otherwise). */
function checked (event: PushEvent): PushEvent[] {
  const registry = event.registry.toLowerCase()
  if (!isRegistryHost(registry) || !isRepositoryName(event.repository)) return []
  if (event.tag != null && !isTag(event.tag)) return []
  if (event.digest != null && !isDigest(event.digest)) return []
  return [{ registry, repository: event.repository, tag: event.tag === '' ? undefined : event.tag, digest: event.digest }]
}

/** A key matched case-insensitively: Kraken's driver sends Go's default capitalised keys. */
function field (value: Record<string, unknown>, name: string): unknown {
  if (name in value) return value[name]
  const key = Object.keys(value).find(k => k.toLowerCase() === name.toLowerCase())
  return key == null ? undefined : value[key]
}

function stringField (value: Record<string, unknown>, name: string): string | undefined {
  const found = field(value, name)
  return typeof found === 'string' && found !== '' ? found : undefined
}

function object (value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value == null || Array.isArray(value)) throw new JobRequestError('a notification\'s events and their parts must be JSON objects')
  return value as Record<string, unknown>
}
