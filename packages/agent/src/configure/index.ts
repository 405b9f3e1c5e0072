/**
 * `shoal configure containerd|podman|docker`: writes the container runtime's registry mirror
 * configuration so that it pulls through the shoal agent (127.0.0.1:65001 by default).
 *
 * Each runtime module renders a file from its existing content (pure, idempotent: a second run
 * returns the content unchanged); files.ts does the I/O (backup of a changed file, atomic
 * replace). Every file is rendered before any is written, so a file that cannot be merged leaves
 * all of them untouched.
 *
 * Exit codes: 0 done (or nothing to change), 1 ConfigureError, 2 UsageError.
 */
import { parseConfigureArgs, USAGE, type ConfigureOptions } from './args.ts'
import { readFile } from 'node:fs/promises'
import { CONTAINERD_CONFIG, CONTAINERS_CERTS_DIR, DAEMON_JSON, DOCKER_CERTS_DIR, REGISTRIES_CONF } from './constants.ts'
import { containerdConfigPathHint, containerdHostsPath, renderContainerdHosts } from './containerd.ts'
import { renderDaemonJson } from './docker.ts'
import { parseRegistry, type Endpoint, type MirrorEndpoint } from './endpoint.ts'
import { ConfigureError } from './errors.ts'
import { readOptional, underRoot, writeConfig } from './files.ts'
import { hasAgentSettings, isMirrored, loadAgentRegistries, registryOrigin, type RegistryOrigin } from './origins.ts'
import { renderRegistriesConf } from './podman.ts'
import { TOML_COMMENTS_NOTE } from './toml.ts'

export { parseConfigureArgs, USAGE, RUNTIMES } from './args.ts'
export type { ConfigureOptions, Runtime } from './args.ts'
export { parseMirror, parseRegistry } from './endpoint.ts'
export type { Endpoint, MirrorEndpoint } from './endpoint.ts'
export { renderContainerdHosts, containerdHostsPath, containerdConfigPathHint } from './containerd.ts'
export type { ContainerdHostsOptions } from './containerd.ts'
export { renderRegistriesConf } from './podman.ts'
export type { RegistriesConfOptions } from './podman.ts'
export { renderDaemonJson } from './docker.ts'
export type { DaemonJsonOptions } from './docker.ts'
export { ConfigureError, UsageError } from './errors.ts'
export { loadAgentRegistries, registryOrigin } from './origins.ts'
export type { AgentRegistries, AgentSettings, RegistryOrigin } from './origins.ts'

export interface ConfigureIo {
  stdout: (line: string) => void
  stderr: (line: string) => void
  /** The clock for backup names; tests inject it. */
  now?: () => Date
}

/** One file to write: its system path and how to render it from its existing content. */
interface Target {
  path: string
  render: (existing: string | undefined, file: string) => string
  toml: boolean
}

interface Plan {
  targets: Target[]
  /** Printed before the files (stderr). */
  warnings: string[]
  /** Printed after the files (stderr) when something changed or would change. */
  afterChange: string[]
}

/** The registries to configure (the agent's upstreams unless `--registry` names some), and where each really is. */
interface Registries {
  /** The agent's address; with TLS when `--mirror-ca` or the agent's settings say so. */
  mirror: MirrorEndpoint
  registries: Endpoint[]
  origins: Map<string, RegistryOrigin>
  /** Lines about registries the agent will not serve. */
  warnings: string[]
}

/** podman and dockerd read the agent's CA from `<certs dir>/<mirror>/ca.crt`: a copy of `--mirror-ca` is written there. */
async function caTargets (mirror: MirrorEndpoint, certsDir: string): Promise<Target[]> {
  const caFile = mirror.tls?.caFile
  if (caFile == null) return []
  let pem: string
  try {
    pem = await readFile(caFile, 'utf8')
  } catch (err) {
    throw new ConfigureError(`--mirror-ca: cannot read ${caFile}: ${(err as Error).message}`, { cause: err })
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigureError(`--mirror-ca: ${caFile} is not a PEM certificate`)
  return [{ path: `${certsDir}/${mirror.authority}/ca.crt`, render: () => pem, toml: false }]
}

async function resolveRegistries (opts: ConfigureOptions): Promise<Registries> {
  if (!hasAgentSettings(opts.agent)) return { mirror: opts.mirror, registries: opts.registries, origins: new Map(), warnings: [] }
  const agent = await loadAgentRegistries(opts.agent)
  const mirror = agent.tls && opts.mirror.tls == null ? { ...opts.mirror, tls: {} } : opts.mirror
  const registries = opts.registries.length > 0 ? opts.registries : agent.upstreams.map(u => parseRegistry(u.host))
  const origins = new Map(registries.map(registry => [registry.authority, registryOrigin(registry, agent)]))
  // containerd names the registry with ?ns=, which --allow-any-registry follows; podman's path does not.
  const followed = opts.runtime === 'containerd' && agent.allowAnyRegistry
  const warnings = registries
    .filter(registry => !followed && !isMirrored(registry, agent))
    .map(registry => `warning: ${registry.authority} is not an upstream of the agent: the agent answers 404 for it and the runtime pulls from ${registry.authority} itself (add --upstream to the agent)`)
  return { mirror, registries, origins, warnings }
}

function plan (opts: ConfigureOptions, { mirror, registries, origins }: Registries): Plan {
  switch (opts.runtime) {
    case 'containerd':
      return {
        targets: registries.map(registry => ({
          path: containerdHostsPath(registry),
          render: (existing, file) => renderContainerdHosts(existing, { registry, mirror, origin: origins.get(registry.authority), file }),
          toml: true
        })),
        warnings: [],
        afterChange: []
      }
    case 'podman':
      return {
        targets: [{ path: REGISTRIES_CONF, render: (existing, file) => renderRegistriesConf(existing, { registries, mirror, origins, file }), toml: true }],
        warnings: [],
        afterChange: [
          'podman, skopeo and buildah read it at every command; CRI-O: systemctl reload crio',
          'rootless podman reads ~/.config/containers/registries.conf instead when that file exists, and files in /etc/containers/registries.conf.d/ override this one'
        ]
      }
    case 'docker': {
      const skipped = registries.filter(registry => registry.authority !== 'docker.io')
      const warnings = skipped.map(registry => `warning: dockerd uses registry-mirrors for Docker Hub only and cannot mirror ${registry.authority}: skipped (use containerd or podman for other registries)`)
      if (skipped.length === registries.length) {
        throw new ConfigureError(`nothing to configure for docker: dockerd can only mirror docker.io; run with --registry docker.io (or without --registry)`)
      }
      return {
        targets: [{ path: DAEMON_JSON, render: (existing, file) => renderDaemonJson(existing, { mirror, file }), toml: false }],
        warnings,
        afterChange: ['restart dockerd to apply: systemctl restart docker (registry-mirrors is also applied by systemctl reload docker)']
      }
    }
  }
}

interface Rendered { path: string, previous: string | undefined, content: string, toml: boolean }

async function run (opts: ConfigureOptions, io: ConfigureIo): Promise<void> {
  const resolved = await resolveRegistries(opts)
  const { targets, warnings, afterChange } = plan(opts, resolved)
  if (opts.runtime !== 'containerd') targets.push(...await caTargets(resolved.mirror, opts.runtime === 'podman' ? CONTAINERS_CERTS_DIR : DOCKER_CERTS_DIR))
  for (const line of [...resolved.warnings, ...warnings]) io.stderr(line)
  const rendered: Rendered[] = []
  for (const target of targets) {
    const path = underRoot(opts.root, target.path)
    const previous = await readOptional(path)
    rendered.push({ path, previous, content: target.render(previous, path), toml: target.toml })
  }
  const changed = rendered.filter(file => file.content !== file.previous)
  for (const file of rendered) {
    if (file.content === file.previous) {
      io.stdout(`unchanged ${file.path}`)
    } else if (opts.dryRun) {
      const backup = file.previous === undefined
        ? 'new file'
        : `the current file would be saved as ${file.path}.shoal-backup-<timestamp>${file.toml ? `; ${TOML_COMMENTS_NOTE}` : ''}`
      io.stdout(`--- would write ${file.path} (${backup})`)
      file.content.replace(/\n$/, '').split('\n').forEach(line => { io.stdout(line) })
      io.stdout('')
    } else {
      const { backup } = await writeConfig(file.path, file.content, { previous: file.previous, root: opts.root, now: (io.now ?? (() => new Date()))() })
      io.stdout(`wrote ${file.path} (${backup === undefined ? 'new file' : `backup: ${backup}`})`)
    }
  }
  if (opts.dryRun) io.stdout(changed.length === 0 ? 'dry run: nothing would change' : 'dry run: nothing was written')
  if (changed.length > 0) afterChange.forEach(line => { io.stderr(line) })
  if (opts.runtime === 'containerd') {
    const configFile = underRoot(opts.root, CONTAINERD_CONFIG)
    containerdConfigPathHint(await readOptional(configFile), configFile).forEach(line => { io.stderr(line) })
  }
}

/** The `configure` subcommand; `args` are the words after `configure`. Returns the exit code. */
export async function configureCommand (args: string[], io: ConfigureIo): Promise<number> {
  try {
    const opts = parseConfigureArgs(args)
    if (opts === 'help') {
      USAGE.split('\n').forEach(line => { io.stdout(line) })
      return 0
    }
    await run(opts, io)
    return 0
  } catch (err) {
    const name = (err as Error).name
    if (name === 'UsageError') {
      io.stderr(`shoal configure: ${(err as Error).message}`)
      io.stderr('run shoal configure --help for usage')
      return 2
    }
    if (name === 'ConfigureError') {
      io.stderr(`shoal configure: ${(err as Error).message}`)
      return 1
    }
    throw err
  }
}
