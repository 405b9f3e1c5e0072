import { readFile } from 'node:fs/promises'
import type { Credential } from '../config/index.ts'
import { ConfigError } from '../errors.ts'

export interface SourcedCredential extends Credential {
  /** Where it came from, for error messages (never the secret). */
  source: string
}

/** Docker writes Docker Hub's entry under its v1 index URL. */
function registryKey (key: string): string {
  const host = key.replace(/^https?:\/\//, '').replace(/\/.*$/, '').toLowerCase()
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host
}

/**
 * The agent's own credentials per registry host: the config file's `credentials` first, then the
 * `auths` of a docker config.json (as `docker login` writes it). A missing config.json is fine;
 * an unreadable or malformed one is an error naming the file.
 */
export async function loadCredentials (configured: Record<string, Credential>, dockerConfig?: string): Promise<Map<string, SourcedCredential>> {
  const out = new Map<string, SourcedCredential>()
  if (dockerConfig != null) {
    let text: string | undefined
    try {
      text = await readFile(dockerConfig, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError(`dockerConfig: cannot read ${dockerConfig}: ${(err as Error).message}`, { cause: err })
    }
    if (text != null) {
      let auths: Record<string, { auth?: string, username?: string, password?: string }>
      try {
        auths = (JSON.parse(text) as { auths?: typeof auths }).auths ?? {}
      } catch (err) {
        throw new ConfigError(`dockerConfig: ${dockerConfig} is not valid JSON`, { cause: err })
      }
      for (const [key, entry] of Object.entries(auths)) {
        const decoded = entry.auth != null ? Buffer.from(entry.auth, 'base64').toString('utf8') : undefined
        const colon = decoded?.indexOf(':') ?? -1
        const username = decoded != null && colon > 0 ? decoded.slice(0, colon) : entry.username
        const password = decoded != null && colon > 0 ? decoded.slice(colon + 1) : entry.password
        if (username != null && password != null) out.set(registryKey(key), { username, password, source: `${dockerConfig} (auths."${key}")` })
      }
    }
  }
  for (const [host, credential] of Object.entries(configured)) {
    out.set(registryKey(host), { ...credential, source: `the agent config (credentials."${host}")` })
  }
  return out
}
