/**
 * The origin: the CNCF Distribution registry (`docker-registry serve`), run by the bench in a place
 * of its choosing (the origin's namespace, or loopback) on storage the image was pushed to.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { registryConfig } from '@shoal/test/fixtures/index.ts'
import { SERVICE_READY_TIMEOUT_MS } from './constants.ts'
import { ServiceError } from './errors.ts'
import { spawnAt, waitForHttp } from './places.ts'
import type { Place, PlacedProcess } from './places.ts'

export interface OriginProcess {
  /** http://ADDR */
  url: string
  /** ADDR (host:port), as in image references */
  host: string
  process: PlacedProcess
}

export interface StartOriginInit {
  /** host:port to listen on, as seen in `place`. */
  addr: string
  /** Registry storage root, holding the pushed image. */
  dataDir: string
  /** Where config.yml is written. */
  configDir: string
  track?: (child: ChildProcess) => void
  signal?: AbortSignal
}

export async function startOrigin (place: Place, init: StartOriginInit): Promise<OriginProcess> {
  await mkdir(init.configDir, { recursive: true })
  const configFile = join(init.configDir, 'config.yml')
  await writeFile(configFile, registryConfig({ addr: init.addr, dataDir: init.dataDir, httpSecret: randomBytes(16).toString('hex') }))
  // REGISTRY_* variables override the config file: none from the caller's environment.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('REGISTRY_')))
  const proc = spawnAt(place, 'docker-registry', ['serve', configFile], { env, track: init.track })
  const url = `http://${init.addr}`
  try {
    await waitForHttp(place, `${url}/v2/`, { signal: init.signal ?? AbortSignal.timeout(SERVICE_READY_TIMEOUT_MS), process: proc, what: `docker-registry in ${place.name}` })
  } catch (err) {
    await proc.stop()
    throw new ServiceError(`the origin registry did not start in ${place.name}`, { cause: err })
  }
  return { url, host: init.addr, process: proc }
}

