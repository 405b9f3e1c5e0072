import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { parseAllDocuments } from 'yaml'
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'
import { DaemonSet, StatefulSet } from 'kubernetes-models/apps/v1'
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1'

const run = promisify(execFile)

/** A rendered Kubernetes object, as kustomize printed it. */
export interface K8sObject {
  apiVersion: string
  kind: string
  metadata: { name: string, namespace?: string, labels?: Record<string, string> }
  [key: string]: unknown
}

/** The kubectl on PATH (its built-in kustomize renders the base), or undefined. */
export async function findKubectl (): Promise<string | undefined> {
  try {
    await run('kubectl', ['version', '--client'])
    return 'kubectl'
  } catch {
    return undefined
  }
}

/** `kubectl kustomize DIR`, every document parsed; a YAML error or a kustomize error throws. */
export async function renderKustomization (dir: string): Promise<K8sObject[]> {
  const { stdout } = await run('kubectl', ['kustomize', dir], { maxBuffer: 16 * 1024 * 1024 })
  return parseAllDocuments(stdout).map((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`document ${i}: ${doc.errors.map(e => e.message).join('; ')}`)
    return doc.toJSON() as K8sObject
  })
}

/** The kubernetes-models class for every kind the base ships. */
const MODELS: Record<string, new (data: never) => { validate: () => void }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/DaemonSet': DaemonSet,
  'apps/v1/StatefulSet': StatefulSet,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule
}

/** Validates against the Kubernetes (or Prometheus Operator) schema; throws naming the object and field. */
export function validateObject (obj: K8sObject): void {
  const Model = MODELS[`${obj.apiVersion}/${obj.kind}`]
  if (Model == null) throw new Error(`${obj.apiVersion} ${obj.kind} ${obj.metadata.name}: no schema known to the test; add its model`)
  try {
    new Model(obj as never).validate()
  } catch (err) {
    throw new Error(`${obj.kind} ${obj.metadata.name}: ${(err as Error).message}`, { cause: err })
  }
}

/** The one object of this kind and name; throws when there is none. */
export function findObject<T = K8sObject> (objects: K8sObject[], kind: string, name: string): T & K8sObject {
  const found = objects.find(o => o.kind === kind && o.metadata.name === name)
  if (found == null) throw new Error(`no ${kind} ${name} in the render`)
  return found as T & K8sObject
}
