import { endianness } from 'node:os'
import { InvalidPlatformError } from './errors.ts'
import type { Platform } from './types.ts'

/** One component of a platform as image indexes write them (`linux`, `amd64`, `ppc64le`, `v8`). */
const COMPONENT = /^[a-z0-9][a-z0-9_.-]{0,31}$/

/** Node's `process.arch` names and the OCI (GOARCH) names they stand for. */
const OCI_ARCHITECTURES: Readonly<Record<string, string>> = {
  x64: 'amd64',
  arm64: 'arm64',
  ia32: '386',
  arm: 'arm',
  loong64: 'loong64',
  mips: 'mips',
  mipsel: 'mipsle',
  riscv64: 'riscv64',
  s390x: 's390x',
  s390: 's390'
}

/**
 * The variant an architecture has when an index names none, as containerd normalizes it: an
 * `arm64` entry without a variant is `arm64/v8`, so a wanted `linux/arm64/v8` matches it.
 */
const DEFAULT_VARIANTS: Readonly<Record<string, string>> = { arm64: 'v8', arm: 'v7', amd64: 'v1' }

/** Parses `os/architecture[/variant]` (`linux/amd64`, `linux/arm64/v8`). */
export function parsePlatform (text: string): Platform {
  const parts = text.trim().toLowerCase().split('/')
  if (parts.length < 2 || parts.length > 3 || !parts.every(part => COMPONENT.test(part))) {
    throw new InvalidPlatformError(`"${text.slice(0, 70)}" is not a platform: os/architecture[/variant], such as linux/amd64 or linux/arm64/v8`)
  }
  const [os = '', architecture = '', variant] = parts
  return variant == null ? { os, architecture } : { os, architecture, variant }
}

/** `linux/arm64/v8` */
export function formatPlatform (platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(part => part != null && part !== '').join('/')
}

/** The running host's platform in OCI names (os linux: the agent runs linux containers). */
export function hostPlatform (): Platform {
  const arch = process.arch
  const architecture = arch === 'ppc64' ? (endianness() === 'LE' ? 'ppc64le' : 'ppc64') : OCI_ARCHITECTURES[arch] ?? arch
  if (architecture === 'arm') {
    const version = (process.config.variables as { arm_version?: string }).arm_version
    if (version != null && /^[5-8]$/.test(version)) return { os: 'linux', architecture, variant: `v${version}` }
  }
  return { os: 'linux', architecture }
}

/**
 * Whether an index entry's platform is one that is wanted: the same os and architecture, and the
 * same variant when the wanted platform names one.
 */
export function platformMatches (wanted: Platform, offered: Platform): boolean {
  if (wanted.os !== offered.os || wanted.architecture !== offered.architecture) return false
  if (wanted.variant == null || wanted.variant === '') return true
  return variantOf(wanted) === variantOf(offered)
}

function variantOf (platform: Platform): string | undefined {
  return platform.variant != null && platform.variant !== '' ? platform.variant : DEFAULT_VARIANTS[platform.architecture]
}
