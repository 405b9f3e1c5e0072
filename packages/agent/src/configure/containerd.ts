/**
 * containerd: one `certs.d/<registry>/hosts.toml` per registry (the `config_path` layout of
 * containerd 1.5+ and 2.x). containerd tries the `[host."..."]` entries in file order, then
 * `server`; the agent's entry is put first so that every pull goes through it.
 */
import { stringify, type TomlTable } from 'smol-toml'
import { CONTAINERD_CERTS_DIR, CONTAINERD_CONFIG, DOCKER_HUB_SERVER } from './constants.ts'
import { ConfigureError } from './errors.ts'
import { isTable, lookup, parseTomlFile } from './toml.ts'
import { mirrorUrl } from './endpoint.ts'
import type { Endpoint, MirrorEndpoint } from './endpoint.ts'
import type { RegistryOrigin } from './origins.ts'

export interface ContainerdHostsOptions {
  registry: Endpoint
  mirror: MirrorEndpoint
  /**
   * How the agent reaches the registry (from its settings). It sets `server`, so that containerd
   * uses the same scheme when the agent is down, and `skip_verify` for an insecure https registry.
   * Unknown: an existing `server` is kept, else https.
   */
  origin?: RegistryOrigin
  /** The file's path, for error messages. */
  file?: string
}

/** `/etc/containerd/certs.d/<host[:port]>/hosts.toml`, the directory containerd looks up for a registry. */
export function containerdHostsPath (registry: Endpoint): string {
  return `${CONTAINERD_CERTS_DIR}/${registry.authority}/hosts.toml`
}

/** What `server` defaults to when the file has none and the registry's origin is not known. */
export function containerdServer (registry: Endpoint): string {
  return registry.authority === 'docker.io' ? DOCKER_HUB_SERVER : `https://${registry.authority}`
}

const sameUrl = (a: string, b: string): boolean => a.replace(/\/+$/, '') === b.replace(/\/+$/, '')

/**
 * Returns the new hosts.toml: the existing `server` (unless the origin is known) and `[host.*]`
 * entries kept, the agent's `[host."http://<mirror>"]` first with `capabilities = ["pull", "resolve"]`
 * (`https://` and `ca = <--mirror-ca>` for an agent with TLS; its entry under the other scheme goes).
 * When the file already says that, it is returned unchanged (byte for byte).
 */
export function renderContainerdHosts (existing: string | undefined, opts: ContainerdHostsOptions): string {
  const file = opts.file ?? containerdHostsPath(opts.registry)
  const doc = parseTomlFile(existing, file)
  const hosts = doc.host ?? {}
  if (!isTable(hosts)) {
    throw new ConfigureError(`${file}: "host" must be a table of [host."<url>"] entries; fix it by hand and run again`)
  }
  const agentUrl = mirrorUrl(opts.mirror)
  const agentKey = Object.keys(hosts).find(key => sameUrl(key, agentUrl)) ?? agentUrl
  // The agent under the other scheme (before or after it got TLS) is the same agent: that entry goes.
  const otherScheme = `${opts.mirror.tls == null ? 'https' : 'http'}://${opts.mirror.authority}`
  const previous = hosts[agentKey]
  if (previous !== undefined && !isTable(previous)) {
    throw new ConfigureError(`${file}: host."${agentKey}" must be a table; fix it by hand and run again`)
  }
  const { ca: _ca, ...kept } = previous ?? {}
  const caFile = opts.mirror.tls?.caFile
  const agentHost: TomlTable = { ...kept, capabilities: ['pull', 'resolve'], ...(caFile == null ? {} : { ca: caFile }) }
  const server = opts.origin?.server ?? doc.server ?? containerdServer(opts.registry)
  // containerd verifies the server's certificate unless told not to; plain HTTP has none.
  const skipVerify = opts.origin?.insecure === true && opts.origin.server.startsWith('https:') ? [['skip_verify', true]] : []
  const merged: TomlTable = Object.fromEntries([
    ['server', server],
    ...skipVerify,
    ...Object.entries(doc).filter(([key]) => key !== 'server' && key !== 'host' && (skipVerify.length === 0 || key !== 'skip_verify')),
    ['host', Object.fromEntries([
      [agentKey, agentHost],
      ...Object.entries(hosts).filter(([key]) => key !== agentKey && !sameUrl(key, otherScheme))
    ])]
  ])
  const rendered = stringify(merged)
  if (existing !== undefined && stringify(doc) === rendered) return existing
  return rendered
}

/** Where CRI reads `config_path`, by containerd config layout. */
const CONFIG_PATH_TABLES = [
  { release: '2.x', key: ['plugins', 'io.containerd.cri.v1.images', 'registry'] },
  { release: '1.x', key: ['plugins', 'io.containerd.grpc.v1.cri', 'registry'] },
  { release: '1.x, config version 1', key: ['plugins', 'cri', 'registry'] }
] as const

const SNIPPETS = {
  '2.x': `[plugins."io.containerd.cri.v1.images".registry]\n  config_path = "${CONTAINERD_CERTS_DIR}"`,
  '1.x': `[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "${CONTAINERD_CERTS_DIR}"`
}

/**
 * Lines telling whether containerd's CRI plugin reads the hosts.toml files, given the content of
 * /etc/containerd/config.toml (undefined when it does not exist). Nothing is edited.
 */
export function containerdConfigPathHint (config: string | undefined, file = CONTAINERD_CONFIG): string[] {
  const howTo = (releases: Array<keyof typeof SNIPPETS>): string[] => [
    `add to ${file} and restart containerd (systemctl restart containerd):`,
    ...releases.flatMap(release => [`  # containerd ${release}`, ...SNIPPETS[release].split('\n').map(line => `  ${line}`)])
  ]
  if (config === undefined) {
    return [`${file} does not exist: CRI (kubelet, crictl) uses the hosts.toml files only when config_path names ${CONTAINERD_CERTS_DIR};`, ...howTo(['2.x', '1.x'])]
  }
  let doc: TomlTable
  try {
    doc = parseTomlFile(config, file)
  } catch (err) {
    return [`could not check config_path: ${(err as Error).message}`]
  }
  const lines: string[] = []
  for (const { release, key } of CONFIG_PATH_TABLES) {
    const value = lookup(doc, [...key, 'config_path'])
    const table = `[${key.map(k => k.includes('.') ? `"${k}"` : k).join('.')}]`
    if (lookup(doc, [...key, 'mirrors']) !== undefined) {
      lines.push(`warning: ${file} sets ${table} mirrors (deprecated); containerd does not combine it with config_path: move those mirrors to hosts.toml files`)
    }
    if (typeof value !== 'string' || value === '') continue
    if (value.split(':').includes(CONTAINERD_CERTS_DIR)) {
      return [...lines, `${file}: config_path under ${table} includes ${CONTAINERD_CERTS_DIR} (containerd ${release}): CRI pulls use the agent; hosts.toml changes apply without a restart`]
    }
    return [...lines, `warning: ${file}: config_path under ${table} is "${value}", not ${CONTAINERD_CERTS_DIR}: add ${CONTAINERD_CERTS_DIR} to it (entries are separated by ":") and restart containerd`]
  }
  const version = lookup(doc, ['version'])
  const releases: Array<keyof typeof SNIPPETS> = version === 3 ? ['2.x'] : version === 2 ? ['1.x'] : ['2.x', '1.x']
  return [...lines, `${file} does not set config_path: CRI (kubelet, crictl) reads the hosts.toml files only when it names ${CONTAINERD_CERTS_DIR};`, ...howTo(releases)]
}
