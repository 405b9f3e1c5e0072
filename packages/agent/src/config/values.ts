import { isRegistryHost } from '@shoal/proto'
import { ConfigError } from '../errors.ts'

const BYTE_UNITS: Record<string, number> = {
  '': 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40
}
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 }

export interface HostPort { host: string, port: number }

/** `HOST:PORT`, an IPv6 host in brackets. */
export function hostPortText ({ host, port }: HostPort): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`
}

/** `10GiB`, `500MB`, `1048576` -> bytes. */
export function parseBytes (field: string, value: unknown): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(String(value))
  const unit = BYTE_UNITS[match?.[2]?.toLowerCase() ?? 'x']
  if (match == null || unit == null) {
    throw new ConfigError(`${field}: "${String(value)}" is not a size (examples: 1048576, 500MB, 20GiB)`)
  }
  return Math.floor(Number(match[1]) * unit)
}

/** `30s`, `5m`, `7d`, `250ms` -> milliseconds. */
export function parseDuration (field: string, value: unknown): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/i.exec(String(value))
  const unit = DURATION_UNITS[match?.[2]?.toLowerCase() ?? 'x']
  if (match == null || unit == null) {
    throw new ConfigError(`${field}: "${String(value)}" is not a duration (examples: 250ms, 30s, 5m, 7d)`)
  }
  return Math.floor(Number(match[1]) * unit)
}

export function parseRatio (field: string, value: unknown): number {
  const n = Number(value)
  if (String(value).trim() === '' || !Number.isFinite(n) || n <= 0 || n > 1) {
    throw new ConfigError(`${field}: "${String(value)}" must be a number in (0, 1]`)
  }
  return n
}

export function parseBool (field: string, value: unknown): boolean {
  if (typeof value === 'boolean') return value
  const text = String(value).toLowerCase()
  if (['true', '1', 'yes', 'on'].includes(text)) return true
  if (['false', '0', 'no', 'off'].includes(text)) return false
  throw new ConfigError(`${field}: "${String(value)}" must be true or false`)
}

/** `HOST:PORT` with an IPv4 address or name, or `[IPv6]:PORT`; port 0 asks for a free one. */
export function parseHostPort (field: string, value: unknown): HostPort {
  const text = String(value)
  const match = /^(?:\[([0-9a-f:.]+)\]|([a-z0-9.-]+)):(\d{1,5})$/i.exec(text)
  const port = Number(match?.[3])
  if (match == null || port > 65535) {
    throw new ConfigError(`${field}: "${text}" must be HOST:PORT (for example 127.0.0.1:65001 or [::1]:65001)`)
  }
  return { host: match[1] ?? match[2] ?? '', port }
}

/** A registry host as runtimes name it: `name[:port]`, lower case. */
export function parseRegistryHost (field: string, value: unknown): string {
  const text = String(value).trim().toLowerCase()
  if (!isRegistryHost(text)) {
    throw new ConfigError(`${field}: "${String(value)}" is not a registry host (name or name:port)`)
  }
  return text
}
