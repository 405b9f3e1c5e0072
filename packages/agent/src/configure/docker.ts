/**
 * dockerd: `/etc/docker/daemon.json` `registry-mirrors`. dockerd consults mirrors for Docker Hub
 * only, in order, then falls back to Docker Hub itself. A plain-HTTP mirror needs no
 * `insecure-registries` entry when it is in 127.0.0.0/8 (dockerd's default insecure range).
 */
import { DAEMON_JSON } from './constants.ts'
import { isDockerDefaultInsecure, mirrorUrl, type MirrorEndpoint } from './endpoint.ts'
import { ConfigureError } from './errors.ts'

export interface DaemonJsonOptions {
  mirror: MirrorEndpoint
  /** The file's path, for error messages. */
  file?: string
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

function parseDaemonJson (existing: string | undefined, file: string): Record<string, Json> {
  if (existing === undefined || existing.trim() === '') return {}
  let config: Json
  try {
    config = JSON.parse(existing) as Json
  } catch (err) {
    throw new ConfigureError(`${file} is not valid JSON (${(err as Error).message}); dockerd would not start with it either: fix it and run again`, { cause: err })
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new ConfigureError(`${file} must hold a JSON object ({ ... }); fix it and run again`)
  }
  return config
}

function stringList (config: Record<string, Json>, key: string, file: string): string[] {
  const value = config[key] ?? []
  if (!Array.isArray(value) || !value.every(item => typeof item === 'string')) {
    throw new ConfigureError(`${file}: "${key}" must be a list of strings; fix it and run again`)
  }
  return value as string[]
}

const sameUrl = (a: string, b: string): boolean => a.replace(/\/+$/, '') === b.replace(/\/+$/, '')

/**
 * Returns the new daemon.json: all other keys and mirrors kept, `http://<mirror>` (`https://` for an
 * agent with TLS) first in `registry-mirrors`, and a plain-HTTP `<mirror>` in `insecure-registries`
 * when it is outside 127.0.0.0/8.
 * When the file already says that, it is returned unchanged (byte for byte).
 */
export function renderDaemonJson (existing: string | undefined, opts: DaemonJsonOptions): string {
  const file = opts.file ?? DAEMON_JSON
  const config = parseDaemonJson(existing, file)
  const agentUrl = mirrorUrl(opts.mirror)
  const otherScheme = `${opts.mirror.tls == null ? 'https' : 'http'}://${opts.mirror.authority}`
  const mirrors = stringList(config, 'registry-mirrors', file)
  const agentMirror = mirrors.find(url => sameUrl(url, agentUrl)) ?? agentUrl
  const updated: Record<string, Json> = {
    ...config,
    'registry-mirrors': [agentMirror, ...mirrors.filter(url => !sameUrl(url, agentUrl) && !sameUrl(url, otherScheme))]
  }
  // An agent with TLS is verified (its CA in /etc/docker/certs.d/<mirror>/ca.crt or the system's).
  if (opts.mirror.tls == null && !isDockerDefaultInsecure(opts.mirror)) {
    const insecure = stringList(config, 'insecure-registries', file)
    if (!insecure.includes(opts.mirror.authority)) {
      updated['insecure-registries'] = [...insecure, opts.mirror.authority]
    }
  }
  if (existing !== undefined && JSON.stringify(updated) === JSON.stringify(config)) return existing
  return `${JSON.stringify(updated, null, 2)}\n`
}
