import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ExecutionContext } from 'ava'
import { generateSwarmKey } from '@shoal/p2p'
import { findKubectl, renderKustomization } from './kustomize.ts'
import { tempDir } from './temp.ts'
import type { K8sObject } from './kustomize.ts'
import type { Container, PodSpec } from './pod-view.ts'

/** deploy/kubernetes, the kustomize base. */
export const BASE_DIR = fileURLToPath(new URL('../../deploy/kubernetes', import.meta.url))

/** Why the manifests cannot be checked here, or undefined when kubectl is on PATH. */
export async function kubectlMissing (): Promise<string | undefined> {
  return await findKubectl() == null
    ? 'kubectl is not on PATH (Debian: kubernetes-client; scripts/ensure-test-deps.sh installs it): deploy/kubernetes is not checked'
    : undefined
}

export interface Workload extends K8sObject {
  spec: {
    selector: { matchLabels: Record<string, string> }
    serviceName?: string
    template: { metadata: { labels: Record<string, string> }, spec: PodSpec }
    volumeClaimTemplates?: Array<{ metadata: { name: string } }>
  }
}

export interface ServiceObject extends K8sObject {
  spec: { clusterIP?: string, selector?: Record<string, string>, ports: Array<{ name?: string, port: number, targetPort?: number | string }> }
}

export function container (pod: PodSpec, name: string, init = false): Container {
  const found = (init ? pod.initContainers : pod.containers)?.find(c => c.name === name)
  if (found == null) throw new Error(`no ${init ? 'init ' : ''}container ${name}`)
  return found
}

/** The value of `--NAME=VALUE` among a container's args (the base writes every flag that way). */
export function flagValue (args: string[], name: string): string | undefined {
  return args.find(a => a.startsWith(`--${name}=`))?.slice(name.length + 3)
}

/** Whether a Service (or ServiceMonitor) label selector picks objects with these labels. */
export function selects (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  return selector != null && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v)
}

/** The TCP port of a multiaddr like /ip4/0.0.0.0/tcp/65002. */
export function tcpPort (addr: string): number | undefined {
  const match = /\/tcp\/(\d+)/.exec(addr)
  return match == null ? undefined : Number(match[1])
}

/** The Service a `dns:NAME` target names (NAME.NAMESPACE.svc.cluster.local), or undefined. */
export function serviceForDnsName (objects: K8sObject[], name: string): ServiceObject | undefined {
  const [service, namespace, svc, ...rest] = name.split('.')
  if (svc !== 'svc' || rest.join('.') !== 'cluster.local') return undefined
  return objects.find(o => o.kind === 'Service' && o.metadata.name === service && o.metadata.namespace === namespace) as ServiceObject | undefined
}

export async function loadBase (): Promise<K8sObject[]> {
  return await renderKustomization(BASE_DIR)
}

export interface Overlay {
  objects: K8sObject[]
  joinToken: string
  swarmKey: string
}

/**
 * The base through an overlay as the README has operators write it: the membership Secret
 * replaced with a fresh join token and swarm key. `bases:`, which kustomize v2 (Debian's kubectl
 * 1.20) needs for a directory; v5 takes it with a warning.
 */
export async function renderOverlay (t: ExecutionContext): Promise<Overlay> {
  const dir = await tempDir(t, 'overlay')
  const joinToken = randomBytes(32).toString('base64')
  const swarmKey = generateSwarmKey()
  await writeFile(join(dir, 'join-token'), joinToken)
  await writeFile(join(dir, 'swarm.key'), swarmKey)
  await writeFile(join(dir, 'kustomization.yaml'), [
    'bases:', `  - ${relative(dir, BASE_DIR)}`,
    'secretGenerator:', '  - name: shoal-membership', '    behavior: replace', '    files: [join-token, swarm.key]', ''
  ].join('\n'))
  return { objects: await renderKustomization(dir), joinToken, swarmKey }
}
