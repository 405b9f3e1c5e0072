import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'
import { tempDir } from './temp.ts'
import type { K8sObject } from './kustomize.ts'

export interface Container {
  name: string
  args?: string[]
  env?: EnvVar[]
  ports?: Array<{ name?: string, containerPort: number }>
  volumeMounts?: Array<{ name: string, mountPath: string, readOnly?: boolean }>
  livenessProbe?: Probe
  readinessProbe?: Probe
  resources?: { requests?: Record<string, string>, limits?: Record<string, string> }
  securityContext?: Record<string, unknown> & { capabilities?: { drop?: string[], add?: string[] } }
}

/** A container's variable: a value, or a field of the pod from the downward API (`status.podIP`). */
export interface EnvVar { name: string, value?: string, valueFrom?: { fieldRef?: { fieldPath: string } } }

export interface Probe { httpGet?: { host?: string, path: string, port: number | string } }

export interface Volume {
  name: string
  hostPath?: { path: string, type?: string }
  configMap?: { name: string }
  secret?: { secretName: string }
}

export interface PodSpec {
  containers: Container[]
  initContainers?: Container[]
  volumes?: Volume[]
  [key: string]: unknown
}

export interface Mount { mountPath: string, readOnly: boolean, volume?: Volume, volumeClaim?: string, dir: string }

/**
 * What a container sees, on this machine: each volume mount is a temp dir, filled with the keys of
 * its ConfigMap or Secret from the render; `args` are the container's with every path under a mount
 * moved to that dir, so the real parsers read the real files.
 */
export interface ContainerView {
  args: string[]
  /** The mount that holds `path` in the container (the longest mount path that is a prefix), or undefined. */
  mountOf: (path: string) => Mount | undefined
}

export interface ContainerViewOptions {
  /** Volume claim templates of a StatefulSet (a mount may name one). */
  claims?: string[]
  /** What stands in for the pod's fields on this machine (`{ 'status.podIP': '127.0.0.1' }`). */
  fields?: Record<string, string>
}

export async function containerView (t: ExecutionContext, objects: K8sObject[], pod: PodSpec, container: Container, opts: ContainerViewOptions = {}): Promise<ContainerView> {
  const claims = opts.claims ?? []
  const root = await tempDir(t, 'pod-view')
  const mounts: Mount[] = []
  for (const [i, m] of (container.volumeMounts ?? []).entries()) {
    const volume = pod.volumes?.find(v => v.name === m.name)
    const volumeClaim = claims.find(c => c === m.name)
    if (volume == null && volumeClaim == null) throw new Error(`${container.name}: volume mount ${m.name} names no volume`)
    const dir = join(root, String(i))
    await mkdir(dir)
    const source = volume?.configMap != null
      ? objects.find(o => o.kind === 'ConfigMap' && o.metadata.name === volume.configMap?.name)
      : volume?.secret != null ? objects.find(o => o.kind === 'Secret' && o.metadata.name === volume.secret?.secretName) : undefined
    if ((volume?.configMap != null || volume?.secret != null) && source == null) throw new Error(`${container.name}: volume ${m.name} names no object of the render`)
    for (const [key, value] of Object.entries((source?.data ?? {}) as Record<string, string>)) {
      await writeFile(join(dir, key), source?.kind === 'Secret' ? Buffer.from(value, 'base64') : value)
    }
    mounts.push({ mountPath: m.mountPath.replace(/\/$/, ''), readOnly: m.readOnly === true, volume, volumeClaim, dir })
  }
  const mountOf = (path: string): Mount | undefined => mounts
    .filter(m => path === m.mountPath || path.startsWith(`${m.mountPath}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0]
  const vars = containerVariables(container, opts.fields ?? {})
  const args = (container.args ?? []).map(arg => expandVariables(arg, vars)).map(arg => {
    const match = /^(--[a-z-]+=)(\/.*)$/.exec(arg)
    const mount = match == null ? undefined : mountOf(match[2] ?? '')
    return match == null || mount == null ? arg : `${match[1] ?? ''}${mount.dir}${(match[2] ?? '').slice(mount.mountPath.length)}`
  })
  return { args, mountOf }
}

/** The container's env as the kubelet gives it: values, and pod fields from `fields`; a field the test does not give throws. */
function containerVariables (container: Container, fields: Record<string, string>): Map<string, string> {
  const vars = new Map<string, string>()
  for (const v of container.env ?? []) {
    const path = v.valueFrom?.fieldRef?.fieldPath
    const value = path == null ? expandVariables(v.value ?? '', vars) : fields[path]
    if (value == null) throw new Error(`${container.name}: env ${v.name} is the pod's ${path ?? '?'}, which the test gives no value for`)
    vars.set(v.name, value)
  }
  return vars
}

/** `$(NAME)` replaced as the kubelet does in args: by a variable of the container, else left as is; `$$` is `$`. */
export function expandVariables (text: string, vars: Map<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => match === '$$' ? '$' : vars.get(name ?? '') ?? match)
}

/** The container port a probe or Service targets: a number, or the name of one of its ports. */
export function resolvePort (container: Container, port: number | string): number | undefined {
  return typeof port === 'number' ? port : container.ports?.find(p => p.name === port)?.containerPort
}
