/**
 * Field names of the Kubernetes and Prometheus Operator types the deploy base uses. The schemas in
 * kubernetes-models accept unknown fields, and so does a server without strict field validation:
 * a misspelt `readOnlyRootFilesystem` would be dropped in silence. unknownFields() lists every key
 * that is not a field of its type, for the parts of an object where a typo loses a promise.
 */
import type { K8sObject } from './kustomize.ts'

const fields = (names: string): Set<string> => new Set(names.split(/\s+/).filter(Boolean))

const TOP = fields('apiVersion kind metadata spec data stringData binaryData type immutable')
const METADATA = fields('name namespace labels annotations generateName finalizers ownerReferences')
const DAEMON_SET_SPEC = fields('minReadySeconds revisionHistoryLimit selector template updateStrategy')
const STATEFUL_SET_SPEC = fields(`minReadySeconds ordinals persistentVolumeClaimRetentionPolicy podManagementPolicy replicas
  revisionHistoryLimit selector serviceName template updateStrategy volumeClaimTemplates`)
const POD_SPEC = fields(`activeDeadlineSeconds affinity automountServiceAccountToken containers dnsConfig dnsPolicy
  enableServiceLinks ephemeralContainers hostAliases hostIPC hostNetwork hostPID hostUsers hostname imagePullSecrets
  initContainers nodeName nodeSelector os overhead preemptionPolicy priority priorityClassName readinessGates
  resourceClaims resources restartPolicy runtimeClassName schedulerName schedulingGates securityContext serviceAccount
  serviceAccountName setHostnameAsFQDN shareProcessNamespace subdomain terminationGracePeriodSeconds tolerations
  topologySpreadConstraints volumes`)
const POD_SECURITY = fields(`appArmorProfile fsGroup fsGroupChangePolicy runAsGroup runAsNonRoot runAsUser
  seLinuxChangePolicy seLinuxOptions seccompProfile supplementalGroups supplementalGroupsPolicy sysctls windowsOptions`)
const CONTAINER = fields(`args command env envFrom image imagePullPolicy lifecycle livenessProbe name ports
  readinessProbe resizePolicy resources restartPolicy securityContext startupProbe stdin stdinOnce
  terminationMessagePath terminationMessagePolicy tty volumeDevices volumeMounts workingDir`)
const SECURITY = fields(`allowPrivilegeEscalation appArmorProfile capabilities privileged procMount
  readOnlyRootFilesystem runAsGroup runAsNonRoot runAsUser seLinuxOptions seccompProfile windowsOptions`)
const CAPABILITIES = fields('add drop')
const PROBE = fields(`exec failureThreshold grpc httpGet initialDelaySeconds periodSeconds successThreshold tcpSocket
  terminationGracePeriodSeconds timeoutSeconds`)
const HTTP_GET = fields('host httpHeaders path port scheme')
const CONTAINER_PORT = fields('containerPort hostIP hostPort name protocol')
const ENV_VAR = fields('name value valueFrom')
const ENV_SOURCE = fields('configMapKeyRef fieldRef fileKeyRef resourceFieldRef secretKeyRef')
const FIELD_REF = fields('apiVersion fieldPath')
const RESOURCES = fields('claims limits requests')
const VOLUME_MOUNT = fields('mountPath mountPropagation name readOnly recursiveReadOnly subPath subPathExpr')
/** Only the volume sources the base uses; another one is a change to review. */
const VOLUME = fields('name hostPath configMap secret emptyDir persistentVolumeClaim')
const HOST_PATH = fields('path type')
const KEY_VOLUME = fields('name secretName defaultMode items optional')
const TOLERATION = fields('effect key operator tolerationSeconds value')
const SERVICE_SPEC = fields(`allocateLoadBalancerNodePorts clusterIP clusterIPs externalIPs externalName
  externalTrafficPolicy healthCheckNodePort internalTrafficPolicy ipFamilies ipFamilyPolicy loadBalancerClass
  loadBalancerIP loadBalancerSourceRanges ports publishNotReadyAddresses selector sessionAffinity
  sessionAffinityConfig trafficDistribution type`)
const SERVICE_PORT = fields('appProtocol name nodePort port protocol targetPort')
const SERVICE_MONITOR_SPEC = fields(`attachMetadata bodySizeLimit endpoints fallbackScrapeProtocol jobLabel
  keepDroppedTargets labelLimit labelNameLengthLimit labelValueLengthLimit namespaceSelector
  nativeHistogramBucketLimit nativeHistogramMinBucketFactor podTargetLabels sampleLimit scrapeClass
  scrapeClassicHistograms scrapeProtocols selector selectorMechanism targetLabels targetLimit`)
const ENDPOINT = fields(`authorization basicAuth bearerTokenFile bearerTokenSecret enableHttp2 filterRunning
  followRedirects honorLabels honorTimestamps interval metricRelabelings noProxy oauth2 params path port
  proxyConnectHeader proxyFromEnvironment proxyUrl relabelings scheme scrapeTimeout targetPort tlsConfig
  trackTimestampsStaleness`)
const RULE_GROUP = fields('name interval limit partial_response_strategy query_offset labels rules')
const RULE = fields('alert record expr for keep_firing_for labels annotations')

type Json = Record<string, unknown>

/** Every key of `obj` (a path like `DaemonSet shoal-agent: spec.template.spec.hostNetwrk`) that is no field of its type. */
export function unknownFields (obj: K8sObject): string[] {
  const found: string[] = []
  const check = (path: string, value: unknown, known: Set<string>): Json => {
    const record = (value ?? {}) as Json
    for (const key of Object.keys(record)) if (!known.has(key)) found.push(`${obj.kind} ${obj.metadata.name}: ${path}${key}`)
    return record
  }
  const each = (path: string, list: unknown, visit: (path: string, item: Json) => void): void => {
    for (const [i, item] of ((list ?? []) as Json[]).entries()) visit(`${path}[${i}].`, item)
  }
  check('', obj, TOP)
  check('metadata.', obj.metadata, METADATA)
  const spec = obj.spec as Json | undefined
  if (obj.kind === 'DaemonSet' || obj.kind === 'StatefulSet') {
    check('spec.', spec, obj.kind === 'DaemonSet' ? DAEMON_SET_SPEC : STATEFUL_SET_SPEC)
    checkPodSpec('spec.template.spec.', (spec?.template as Json | undefined)?.spec, check, each)
  } else if (obj.kind === 'Service') {
    check('spec.', spec, SERVICE_SPEC)
    each('spec.ports', spec?.ports, (p, port) => check(p, port, SERVICE_PORT))
  } else if (obj.kind === 'ServiceMonitor') {
    check('spec.', spec, SERVICE_MONITOR_SPEC)
    each('spec.endpoints', spec?.endpoints, (p, endpoint) => check(p, endpoint, ENDPOINT))
  } else if (obj.kind === 'PrometheusRule') {
    each('spec.groups', spec?.groups, (p, group) => {
      check(p, group, RULE_GROUP)
      each(`${p}rules`, group.rules, (q, rule) => check(q, rule, RULE))
    })
  }
  return found
}

type Check = (path: string, value: unknown, known: Set<string>) => Json
type Each = (path: string, list: unknown, visit: (path: string, item: Json) => void) => void

function checkPodSpec (path: string, value: unknown, check: Check, each: Each): void {
  const pod = check(path, value, POD_SPEC)
  const security = check(`${path}securityContext.`, pod.securityContext, POD_SECURITY)
  check(`${path}securityContext.seccompProfile.`, security.seccompProfile, fields('type localhostProfile'))
  each(`${path}tolerations`, pod.tolerations, (p, t) => check(p, t, TOLERATION))
  each(`${path}volumes`, pod.volumes, (p, volume) => {
    check(p, volume, VOLUME)
    check(`${p}hostPath.`, volume.hostPath, HOST_PATH)
    check(`${p}secret.`, volume.secret, KEY_VOLUME)
    check(`${p}configMap.`, volume.configMap, KEY_VOLUME)
  })
  for (const list of ['initContainers', 'containers']) {
    each(`${path}${list}`, pod[list], (p, container) => {
      check(p, container, CONTAINER)
      const security = check(`${p}securityContext.`, container.securityContext, SECURITY)
      check(`${p}securityContext.capabilities.`, security.capabilities, CAPABILITIES)
      check(`${p}resources.`, container.resources, RESOURCES)
      each(`${p}ports`, container.ports, (q, port) => check(q, port, CONTAINER_PORT))
      each(`${p}env`, container.env, (q, env) => {
        const source = check(`${q}valueFrom.`, check(q, env, ENV_VAR).valueFrom, ENV_SOURCE)
        check(`${q}valueFrom.fieldRef.`, source.fieldRef, FIELD_REF)
      })
      each(`${p}volumeMounts`, container.volumeMounts, (q, mount) => check(q, mount, VOLUME_MOUNT))
      for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
        const found = check(`${p}${probe}.`, container[probe], PROBE)
        check(`${p}${probe}.httpGet.`, found.httpGet, HTTP_GET)
      }
    })
  }
}
