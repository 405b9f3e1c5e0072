import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { BlockList, isIP, isIPv6 } from 'node:net'
import { resolve } from 'node:path'
import { ConfigError } from '../errors.ts'
import type { HostPort } from './values.ts'

/** TLS of the mirror listener (`--tls-cert`, `--tls-key`, `--tls-client-ca`): paths, read at start and on SIGHUP. */
export interface ListenerTlsConfig {
  certFile: string
  keyFile: string
  /** Client certificates are required and verified against this CA bundle. */
  clientCaFile?: string
}

/** The PEM contents of a ListenerTlsConfig, checked: what the HTTPS listener is given. */
export interface ListenerTlsMaterial {
  cert: Buffer
  key: Buffer
  ca?: Buffer
}

/** A setting as found: the field that gave it (flag, variable or YAML key) and its value. */
export interface Found<T> { field: string, value: T }

export interface ListenerValues {
  listen: HostPort
  /** The field that gave `listen` (absent: the default). */
  listenField?: string
  cert?: Found<string>
  key?: Found<string>
  clientCa?: Found<string>
  insecureListen?: Found<boolean>
}

export interface ListenerSettings {
  tls?: ListenerTlsConfig
  insecureListen: boolean
  /** For the operator at start: a non-loopback listener without TLS. */
  warning?: string
}

const LOOPBACK = new BlockList()
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4')
LOOPBACK.addAddress('::1', 'ipv6')

/** 127.0.0.0/8, ::1 (in any spelling, IPv4-mapped too) and `localhost`: a listener only this host reaches. */
export function isLoopbackHost (host: string): boolean {
  const h = host.toLowerCase()
  if (h === 'localhost') return true
  return isIP(h) !== 0 && LOOPBACK.check(h, isIPv6(h) ? 'ipv6' : 'ipv4')
}

const HOW_TO_TLS = 'give --tls-cert FILE and --tls-key FILE (and --tls-client-ca FILE to admit only hosts with a client certificate), see "TLS for a site cache" in the README'

/**
 * The TLS and exposure settings of the mirror listener: TLS needs both a certificate and its key
 * (a client CA only with them); a listener other hosts can reach (not loopback) without TLS is
 * refused unless `insecureListen` says so, and then comes with a warning.
 */
export function parseListenerSettings (values: ListenerValues): ListenerSettings {
  const { cert, key, clientCa } = values
  if (cert != null && key == null) throw new ConfigError(`tlsKey: ${cert.field} is given, but not the certificate's private key (--tls-key FILE)`)
  if (key != null && cert == null) throw new ConfigError(`tlsCert: ${key.field} is given, but not the certificate (--tls-cert FILE)`)
  if (clientCa != null && cert == null) throw new ConfigError(`${clientCa.field}: client certificates are asked for only over TLS: give --tls-cert FILE and --tls-key FILE too`)
  const tls = cert == null || key == null
    ? undefined
    : { certFile: resolve(cert.value), keyFile: resolve(key.value), clientCaFile: clientCa == null ? undefined : resolve(clientCa.value) }
  const insecureListen = values.insecureListen?.value === true
  const { host, port } = values.listen
  if (tls != null || isLoopbackHost(host)) return { tls, insecureListen }
  const listenField = values.listenField ?? 'listen'
  if (!insecureListen) {
    throw new ConfigError(`${listenField}: ${host}:${port} is reachable from other hosts, and without TLS anyone who reaches it can pull through the agent (with its credentials); ${HOW_TO_TLS}, or give --insecure-listen to run it open on a trusted network`)
  }
  return {
    tls,
    insecureListen,
    warning: `${listenField}: the mirror listens on ${host}:${port} without TLS (${values.insecureListen?.field ?? 'insecureListen'}): anyone who reaches the port can pull through it, with the agent's credentials; to add TLS, ${HOW_TO_TLS}`
  }
}

/**
 * Reads the listener's certificate, key and client CA and checks them: each a PEM of its kind,
 * the key the certificate's. A ConfigError names the file and what is wrong with it.
 */
export async function loadListenerTls (tls: ListenerTlsConfig): Promise<ListenerTlsMaterial> {
  const cert = await readPem('tlsCert', tls.certFile)
  const key = await readPem('tlsKey', tls.keyFile)
  let x509: X509Certificate
  try {
    x509 = new X509Certificate(cert)
  } catch (err) {
    throw new ConfigError(`tlsCert: ${tls.certFile} is not a PEM certificate: ${(err as Error).message}`, { cause: err })
  }
  let privateKey
  try {
    privateKey = createPrivateKey(key)
  } catch (err) {
    throw new ConfigError(`tlsKey: ${tls.keyFile} is not a PEM private key (unencrypted): ${(err as Error).message}`, { cause: err })
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new ConfigError(`tlsKey: ${tls.keyFile} is not the private key of the certificate in ${tls.certFile} (${x509.subject.replaceAll('\n', ', ')})`)
  }
  if (new Date(x509.validTo).getTime() < Date.now()) {
    throw new ConfigError(`tlsCert: the certificate in ${tls.certFile} expired on ${x509.validTo}`)
  }
  if (tls.clientCaFile == null) return { cert, key }
  const ca = await readPem('tlsClientCa', tls.clientCaFile)
  try {
    // The first certificate of the bundle; the others are parsed by the TLS stack.
    const ca509 = new X509Certificate(ca)
    if (!ca509.ca) throw new Error(`${ca509.subject.replaceAll('\n', ', ')} is not a CA certificate (basicConstraints CA:TRUE)`)
  } catch (err) {
    throw new ConfigError(`tlsClientCa: ${tls.clientCaFile} is not a PEM CA certificate: ${(err as Error).message}`, { cause: err })
  }
  return { cert, key, ca }
}

async function readPem (field: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path)
  } catch (err) {
    throw new ConfigError(`${field}: cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
}
