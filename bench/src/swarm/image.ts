/**
 * The image every host pulls: K layers of random bytes (deterministic per seed), pushed with the
 * registry API to a registry on loopback whose storage the origin then serves from.
 */
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { layerFixture, pushImage, startRegistry } from '@shoal/test/fixtures/index.ts'
import type { PushedImage } from '@shoal/test/fixtures/index.ts'
import { IMAGE_REPOSITORY, IMAGE_TAG, PUSH_TIMEOUT_MS, WARM_UP_LAYER_BYTES, WARM_UP_LAYERS, WARM_UP_REPOSITORY } from './constants.ts'

export interface BenchImage {
  pushed: PushedImage
  /** repository:tag */
  reference: string
  /** Every byte a pull moves: layers, config and manifest. */
  bytes: number
  layers: Array<{ digest: string, size: number }>
}

export interface GenerateImageInit {
  layers: number
  layerBytes: number
  /** Registry storage root; the origin serves from it later. */
  registryDataDir: string
  /** Also push the small warm-up image (`--warm-agents`), of other bytes than the image's. */
  warmUp?: boolean
  /** Called with the pushing registry's process, so that an exit that skips its stop still kills it. */
  track?: (child: ChildProcess) => void
  signal: AbortSignal
}

/** Generates and pushes the image (and the warm-up image); the registry it pushed to is stopped again (its storage stays). */
export async function generateImage (init: GenerateImageInit): Promise<{ image: BenchImage, warmUp?: BenchImage }> {
  const signal = AbortSignal.any([init.signal, AbortSignal.timeout(PUSH_TIMEOUT_MS)])
  const registry = await startRegistry({ dataDir: init.registryDataDir, track: init.track, signal: AbortSignal.any([signal, AbortSignal.timeout(30_000)]) })
  try {
    // Seeds from the run's time: a fresh image each run, so no cache anywhere knows it.
    const base = Date.now() % 1_000_000
    const push = async (name: string, layers: Buffer[]): Promise<BenchImage> => {
      const pushed = await pushImage(registry, { name, tag: IMAGE_TAG, format: 'oci', layers, signal })
      const bytes = pushed.layers.reduce((n, l) => n + l.size, 0) + pushed.config.byteLength + pushed.manifest.byteLength
      return { pushed, reference: `${name}:${IMAGE_TAG}`, bytes, layers: pushed.layers }
    }
    const image = await push(IMAGE_REPOSITORY, Array.from({ length: init.layers }, (_, i) => layerFixture({ size: init.layerBytes, seed: base * 16 + i })))
    if (init.warmUp !== true) return { image }
    // Seeds past the image's: no layer of the warm-up is one of the image's.
    const warmUp = await push(WARM_UP_REPOSITORY, Array.from({ length: WARM_UP_LAYERS }, (_, i) => layerFixture({ size: WARM_UP_LAYER_BYTES, seed: base * 16 + init.layers + i })))
    return { image, warmUp }
  } finally {
    await registry.stop()
  }
}

export const registryDataDirOf = (workDir: string): string => join(workDir, 'origin-data')
