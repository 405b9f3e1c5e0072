/**
 * Writes deploy/kubernetes/prometheusrule.yaml from deploy/prometheus/shoal-rules.yml, the one
 * source of shoal's alert and recording rules: kustomize reads no file outside its base, so the
 * PrometheusRule carries a copy. `pnpm gen:k8s-rules` after editing the rules; a test fails when
 * the copy drifts.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

export const RULES_FILE = fileURLToPath(new URL('../deploy/prometheus/shoal-rules.yml', import.meta.url))
export const PROMETHEUS_RULE_FILE = fileURLToPath(new URL('../deploy/kubernetes/prometheusrule.yaml', import.meta.url))

/** The PrometheusRule whose spec is the rules file from its `groups:` on, comments included. */
export function renderPrometheusRule (rules: string): string {
  const start = rules.search(/^groups:/m)
  if (start < 0) throw new Error('the rules file has no top-level groups:')
  const spec = rules.slice(start).trimEnd().split('\n').map(line => line === '' ? '' : `  ${line}`).join('\n')
  return [
    '# Generated from deploy/prometheus/shoal-rules.yml by `pnpm gen:k8s-rules`: edit that file.',
    '# The rules select the jobs shoal-agent and shoal-scheduler, which the ServiceMonitors here make',
    '# (the Prometheus Operator names a job after the Service it scrapes).',
    'apiVersion: monitoring.coreos.com/v1',
    'kind: PrometheusRule',
    'metadata:',
    '  name: shoal',
    '  labels:',
    '    app.kubernetes.io/name: shoal',
    'spec:',
    spec,
    ''
  ].join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await writeFile(PROMETHEUS_RULE_FILE, renderPrometheusRule(await readFile(RULES_FILE, 'utf8')))
  console.log(`wrote ${PROMETHEUS_RULE_FILE}`)
}
