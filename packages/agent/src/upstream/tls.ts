import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { rootCertificates, getCACertificates } from 'node:tls'
import { Agent } from 'undici'
import { UPSTREAM_BODY_IDLE_TIMEOUT_MS, UPSTREAM_CONNECT_TIMEOUT_MS, UPSTREAM_HEADERS_TIMEOUT_MS } from '../constants.ts'

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

/** An undici dispatcher for one registry, with its CAs, client cert and timeouts. */
export function createDispatcher (tls: RegistryTls, insecure: boolean): Agent {
  return new Agent({
    connect: {
      ca: tls.extraCas.length > 0 ? [...systemCas(), ...tls.extraCas] : undefined,
      cert: tls.cert,
      key: tls.key,
      rejectUnauthorized: !insecure,
      timeout: UPSTREAM_CONNECT_TIMEOUT_MS
    },
    headersTimeout: UPSTREAM_HEADERS_TIMEOUT_MS,
    bodyTimeout: UPSTREAM_BODY_IDLE_TIMEOUT_MS,
    connections: 16
  })
}
