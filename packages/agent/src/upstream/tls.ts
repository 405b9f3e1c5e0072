import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { rootCertificates, getCACertificates } from 'node:tls'
import { Agent } from 'undici'
import type { UpstreamTimeouts } from '../config/index.ts'
import { DEFAULT_UPSTREAM_BODY_IDLE_TIMEOUT_MS, DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS, DEFAULT_UPSTREAM_RESPONSE_TIMEOUT_MS } from '../constants.ts'

export interface RegistryTls {
  /** CA certificates from `<certsDir>/<host>/*.crt`, added to the system's. */
  extraCas: string[]
  /** Client certificate and key (`client.cert` / `client.key`), as Docker reads them. */
  cert?: string
  key?: string
  /** Where the agent looked, for error messages. */
  dir: string
}

/** Reads a registry's certs.d directory the way dockerd does: `*.crt` are CAs, `*.cert` + `*.key` a client pair. */
export async function readCertsDir (certsDir: string, host: string): Promise<RegistryTls> {
  const dir = join(certsDir, host)
  const names = await readdir(dir).catch(() => [] as string[])
  const tls: RegistryTls = { extraCas: [], dir }
  for (const name of names.sort()) {
    if (name.endsWith('.crt')) tls.extraCas.push(await readFile(join(dir, name), 'utf8'))
    else if (name.endsWith('.cert')) tls.cert = await readFile(join(dir, name), 'utf8')
    else if (name.endsWith('.key')) tls.key = await readFile(join(dir, name), 'utf8')
  }
  return tls
}

function systemCas (): string[] {
  try {
    return [...getCACertificates('default'), ...getCACertificates('system')]
  } catch {
    return [...rootCertificates]
  }
}

/** Timeouts of patient requests (UpstreamRequest.patient), marked so that their errors name the setting that bounds them. */
export interface PatientTimeouts extends UpstreamTimeouts {
  patient: true
}

/** Connecting and the response headers may take as long as a body may stall, when that is longer. */
export function patientTimeouts (timeouts: UpstreamTimeouts): PatientTimeouts {
  return {
    connectMs: Math.max(timeouts.connectMs, timeouts.bodyIdleMs),
    responseMs: Math.max(timeouts.responseMs, timeouts.bodyIdleMs),
    bodyIdleMs: timeouts.bodyIdleMs,
    patient: true
  }
}

export function defaultTimeouts (): UpstreamTimeouts {
  return { connectMs: DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS, responseMs: DEFAULT_UPSTREAM_RESPONSE_TIMEOUT_MS, bodyIdleMs: DEFAULT_UPSTREAM_BODY_IDLE_TIMEOUT_MS }
}

/**
 * An undici dispatcher for one endpoint, with its CAs, client cert and timeouts: connecting, and
 * waiting for the response headers, are bounded; a body is bounded only by how long it may stall,
 * never by how long it takes while bytes flow.
 */
export function createDispatcher (tls: RegistryTls, insecure: boolean, timeouts: UpstreamTimeouts = defaultTimeouts()): Agent {
  return new Agent({
    connect: {
      ca: tls.extraCas.length > 0 ? [...systemCas(), ...tls.extraCas] : undefined,
      cert: tls.cert,
      key: tls.key,
      rejectUnauthorized: !insecure,
      timeout: timeouts.connectMs
    },
    headersTimeout: timeouts.responseMs,
    bodyTimeout: timeouts.bodyIdleMs,
    connections: 16
  })
}
