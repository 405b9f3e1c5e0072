/** report.md of `bench swarm`, and the summary table printed at the end of a run. */
import type { ScenarioReport, SideReport, SwarmReport } from './report.ts'
import { meanLag } from './link-sampler.ts'
import type { OriginLag, SwitchLoss } from './link-sampler.ts'
import { markdownTable } from '../harness.ts'
import { describeMachine } from '../machine.ts'

const secs = (n: number): string => Number.isFinite(n) ? `${n.toFixed(1)} s` : '–'
const x = (n: number): string => Number.isFinite(n) ? `${n.toFixed(2)}×` : '–'
const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`

/** The side-by-side table of one scenario: each figure and its ratio to the physical limit. */
export function scenarioTable (r: ScenarioReport): string {
  const row = (what: string, pick: (s: SideReport) => string): string[] => [what, pick(r.swarm), pick(r.direct)]
  return markdownTable(['', 'swarm (through agents)', 'direct (from the origin)'], [
    row('completion p50', s => `${secs(s.completionSeconds.p50)} (${x(s.completionRatio.p50)} limit)`),
    row('completion p90', s => `${secs(s.completionSeconds.p90)} (${x(s.completionRatio.p90)} limit)`),
    row('completion max', s => `${secs(s.completionSeconds.max)} (${x(s.completionRatio.max)} limit)`),
    row('hosts finished, right digests', s => `${s.completionSeconds.n} of ${s.hosts.length}${s.failed.length > 0 ? ` (failed: ${s.failed.join(', ')})` : ''}`),
    row('origin egress (at its link)', s => `${mb(s.originEgressBytes)} (${x(s.originEgressRatio)} image)`),
    row('origin TCP segments sent again', s => s.originRetransmits == null ? '–' : String(s.originRetransmits)),
    ['origin bytes the agents took (their counters)', `${mb(r.swarm.trafficBySource.fromOriginBytes)} (${x(r.swarm.trafficBySource.fromOriginRatio)} image)`, '–'],
    row('wall time, first start to last end', s => secs(s.wallSeconds))
  ])
}

export function goalsTable (r: ScenarioReport): string {
  if (r.goals.length === 0) return '(no goals for this scenario)'
  return markdownTable(['goal', 'target', 'value', 'result'], r.goals.map(g => [g.what, g.target, typeof g.value === 'number' ? g.value.toFixed(2) : g.value, g.pass ? 'pass' : '**miss**']))
}

const pct = (n: number): string => Number.isFinite(n) ? `${(n * 100).toFixed(0)}%` : '–'

/** Where links sat idle (inbound under half the link rate), per swarm host, from the veth counters. */
function idleSection (r: ScenarioReport): string[] {
  const idle = r.swarm.idle
  if (idle == null) return ['(link utilisation is measured in netns mode only)', '']
  const lag = new Map((r.swarm.lag ?? []).map(l => [l.machine, l]))
  const rows = idle.map(h => [h.machine, secs(h.activeSeconds), pct(h.meanInUtilisation), pct(h.meanOutUtilisation), pct(h.idleShare),
    h.idleStretches.map(([a, b]) => `${a.toFixed(0)}–${b.toFixed(0)} s`).join(', ') || '–',
    ...(r.swarm.lag == null ? [] : [secs(lag.get(h.machine)?.maxSeconds ?? NaN), secs(lag.get(h.machine)?.atOriginEndSeconds ?? NaN)])])
  const lagColumns = r.swarm.lag == null ? [] : ['behind the origin, most', 'when the origin was 95% done']
  return ['### Link utilisation (swarm)', '', `Each link's bytes each second, from its veth counters; idle means inbound under half the link rate. ` +
    `Times are seconds from the phase start. ![link utilisation](links-${r.scenario}.svg)` +
    (r.swarm.lag == null ? '' : ' "Behind the origin": how far the bytes a host had received trailed the bytes the origin had sent, in seconds of its link; a host can finish only that long after the origin\'s last byte.'), '',
  markdownTable(['host', 'active', 'mean in / link', 'mean out / link', 'idle share', 'idle stretches (2 s or more)', ...lagColumns], rows), '',
  ...lagLine(r.swarm.lag),
  ...lossLine(r.swarm.loss)]
}

/** The hosts' mean lag behind the origin each second: built at the start, or on the way. */
function lagLine (lag: OriginLag[] | undefined): string[] {
  if (lag == null || lag.length === 0) return []
  return [`**Behind the origin, hosts' mean, second by second**: ${meanLag(lag).map(s => s.toFixed(1)).join(', ')} s.`, '']
}

/** The bytes the switch dropped: the links carried them twice. */
function lossLine (loss: SwitchLoss | undefined): string[] {
  if (loss == null) return []
  const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`
  return [`**Dropped at the switch**: ${mb(loss.sentBytes - loss.deliveredBytes)} of the ${mb(loss.sentBytes)} the machines sent ` +
    `(${(loss.lostShare * 100).toFixed(1)}%), at full downlink queues; TCP sent those bytes again, so the senders' links carried them twice.`, '']
}

const ms = (s: number): string => Number.isFinite(s) ? `${(s * 1000).toFixed(0)} ms` : '–'

/** What each agent's downloads waited on, and how long pieces took to start and to arrive, from its /metrics. */
function pieceSection (r: ScenarioReport): string[] {
  const agents = r.swarm.trafficBySource.perAgent
  if (agents.length === 0) return []
  const causes = [...new Set(agents.flatMap(a => Object.keys(a.waitSeconds)))]
  const waits = agents.map(a => [a.host, ...causes.map(c => secs(a.waitSeconds[c] ?? 0))])
  const latency = agents.flatMap(a => Object.entries(a.pieceLatency).filter(([, l]) => l.pieces > 0).map(([source, l]) =>
    [a.host, source, String(l.pieces), `${ms(l.firstByte.p50)} / ${ms(l.firstByte.p90)} / ${ms(l.firstByte.p99)}`, `${ms(l.transfer.p50)} / ${ms(l.transfer.p90)} / ${ms(l.transfer.p99)}`]))
  return ['### Piece waits (swarm)', '',
    'Seconds each agent\'s downloads spent waiting, summed over its pieces (several wait at once), by cause: no-holder (no live peer held the ' +
    'piece yet), holder-busy (every holder had answered BUSY a moment ago), download-limit, origin-slot (all origin reads busy), ' +
    'scheduler-answer (announce to first word), stream-head (the client\'s ' +
    'in-order stream waiting for its next piece: everything else as the client sees it).', '',
    markdownTable(['host', ...causes], waits), '',
    '### Piece latency (swarm)', '', 'Request to first byte, and first byte to last, p50 / p90 / p99 from the agents\' histograms (interpolated within buckets).', '',
    markdownTable(['host', 'source', 'pieces', 'first byte', 'transfer'], latency), '']
}

/** How long after its first copy each further copy of a piece arrived (relay-spread.ts), with `--logs`. */
function relaySection (r: ScenarioReport): string[] {
  const relay = r.swarm.relay
  if (relay == null) return []
  const rows = relay.copies.map(c => [String(c.copy), String(c.count), secs(c.p50), secs(c.p90)])
  const second = relay.second
  return ['### Relay spread (swarm)', '',
    `How long after a piece's first copy (one agent read it from the origin) each further copy arrived, over ${relay.pieces} pieces, ` +
    'from the agents\' debug lines: the first byte of a piece goes on only once the whole piece is checked, so each hop costs at least ' +
    'a piece\'s time on a link.', '',
    markdownTable(['copy', 'pieces', 'p50', 'p90'], rows), '',
    ...(second == null
      ? []
      : [`The second copy's wait, p50 / p90: first copy to request ${ms(second.toRequest.p50)} / ${ms(second.toRequest.p90)} ` +
        `(learning of the holder, or a request slot), request to first byte ${ms(second.firstByte.p50)} / ${ms(second.firstByte.p90)} ` +
        `(behind the uploader's other sends), transfer ${ms(second.transfer.p50)} / ${ms(second.transfer.p90)}.`, ''])]
}

/**
 * Each agent's CPU and V8's collections, from its /metrics: with the phase's wall time and the
 * machine's cores, whether the swarm had CPU to spare (on a small machine the agents share it).
 */
function cpuSection (r: ScenarioReport, cores: number): string[] {
  const agents = r.swarm.trafficBySource.perAgent
  if (agents.length === 0) return []
  const total = agents.reduce((n, a) => n + a.cpu.seconds, 0)
  const rows = agents.map(a => [a.host, secs(a.cpu.seconds), secs(Object.values(a.cpu.gcSeconds).reduce((n, s) => n + s, 0)),
    Object.entries(a.cpu.gcSeconds).map(([kind, s]) => `${kind} ${s.toFixed(1)}`).join(', '), String(a.cpu.majorGcs)])
  return ['### Agents\' CPU (swarm)', '',
    'CPU seconds of each agent process in the phase (its hashing thread included), and V8\'s garbage collection pauses as Node observes ' +
    'them (wall time: on a busy machine it includes waiting for a core). ' +
    `All agents together: ${secs(total)} in a phase of ${secs(r.swarm.wallSeconds)} on ${cores} cores ` +
    `(${pct(total / (r.swarm.wallSeconds * cores))} of the machine, beside the clients, the origin and the kernel's network path).`, '',
    markdownTable(['host', 'CPU', 'GC pauses', 'pauses by kind, s', 'major collections'], rows), '',
    ...machineCpuLine(r.swarm.links?.cpuBusy, cores)]
}

/** The machine's CPU second by second: where it sits near 100%, the hosts waited on the CPU, not on their links. */
function machineCpuLine (busy: readonly number[] | undefined, cores: number): string[] {
  if (busy == null || busy.length === 0) return []
  return [`**The machine's CPU, busy second by second** (all ${cores} cores, every process; from /proc/stat): ${busy.map(pct).join(', ')}. ` +
    'Where it sits near 100%, the hosts waited on the CPU, not on their links.', '']
}

export function renderMarkdown (report: SwarmReport): string {
  const e = report.environment
  const o = report.options
  const lines = [
    '# shoal swarm benchmark',
    '',
    `${report.startedAt} – ${report.finishedAt}; **mode: ${report.mode}** (${report.modeReason}); ${describeMachine(e)}; ` +
      `load average ${e.loadAverageStart.map(n => n.toFixed(2)).join(' ')} at start, ${e.loadAverageEnd.map(n => n.toFixed(2)).join(' ')} at end.`,
    '',
    `${o.hosts} hosts; image ${report.image.reference}: ${report.image.layers.length} layers of random bytes, ${mb(report.imageBytes)} with config and manifest. ` +
      `Host links ${o.linkMbit} Mbit/s each way (${mb(report.linkBytesPerSecond)}/s), origin link ${o.originLinkMbit} Mbit/s${o.originRttMs > 0 ? ` and ${o.originRttMs} ms away (a delaying proxy in front of the registry, swarm and direct pulls alike)` : ''}. ` +
      `**Physical limit** (image bytes / host link rate): ${secs(report.physicalLimitSeconds)}; every time below is also shown as a multiple of it, ` +
      'and origin egress as a multiple of the image bytes.' +
      (report.tcpCongestionControl == null ? '' : ` TCP congestion control: ${report.tcpCongestionControl} (${o.tcpCongestionControl == null ? 'the machine\'s default' : '--tcp-cc'}).`),
    '',
    `Origin egress is counted at the origin's link: ${report.egressCountedBy}; segments TCP sent again (after drops at a full downlink queue) ` +
      'count too, and in netns mode their number is shown on its own line. Traffic by source is what each agent counts on its /metrics during the pull. ' +
      'Each host pulls with `skopeo copy` into a dir, through its own agent (registries.conf names it as the mirror of a registry on a closed port, so ' +
      'skopeo cannot fall back to the origin past a failing agent), and every digest is checked after. The direct pull runs right after, with new ' +
      'clients on new links of the same rate, pulling the same image from the origin itself.',
    ''
  ]
  for (const r of report.scenarios) {
    lines.push(`## ${r.scenario}`, '', r.description + '.', '', scenarioTable(r), '')
    if (r.direct.hosts.length > 0) lines.push(`Swarm p50 is ${x(r.speedupP50)} faster than direct p50.`, '')
    const t = r.swarm.trafficBySource
    lines.push(`**Traffic by source** (agents' own counters, ${t.perAgent.length} agents): ${mb(t.fromOriginBytes)} from the origin, ` +
      `${mb(t.fromPeersBytes)} from peers (${(t.peerShare * 100).toFixed(1)}% from peers).`, '')
    if (r.swarm.prefetch != null) {
      const p = r.swarm.prefetch
      lines.push(`**Prefetch** (shoal prefetch, untimed, before the pull): ${placementText(p.spread)}; ` +
        `${secs(p.seconds)}, origin egress ${mb(p.originEgressBytes)}.`, '')
    }
    if (r.swarm.warmUp != null) {
      lines.push(`**Warm-up** (--warm-agents, untimed, before the pull): every agent pulled an image of ${mb(r.swarm.warmUp.bytes)} of other bytes ` +
        `through the swarm in ${secs(r.swarm.warmUp.seconds)}, as agents that have run before; the figures here count from the pull's start.`, '')
    }
    if (r.swarm.killed != null) {
      const k = r.swarm.killed
      lines.push(`**Churn**: the agents and pulls of ${k.hosts.join(', ')} were SIGKILLed ${secs(k.atSeconds)} in, with ${mb(k.atBytes)} of all hosts' bytes moved; ` +
        'the quantiles are over the hosts left.', '')
    }
    lines.push(goalsTable(r), '', `![completion per host](chart-${r.scenario}.svg)`, '', '### Per host', '')
    const rows = r.swarm.hosts.map((h, i) => {
      const d = r.direct.hosts[i]
      const traffic = t.perAgent.find(a => a.host === h.host)
      return [h.host, h.seconds == null ? (h.error ?? 'killed') : `${secs(h.seconds)}${h.verified ? '' : ` ${h.error ?? ''}`}`,
        traffic == null ? '–' : mb(traffic.fromOriginBytes), traffic == null ? '–' : mb(traffic.fromPeersBytes), traffic == null ? '–' : mb(traffic.toPeersBytes),
        d?.host ?? '', d?.seconds == null ? (d?.error ?? '–') : secs(d.seconds)]
    })
    lines.push(markdownTable(['host', 'swarm time', 'from origin', 'from peers', 'to peers', 'client', 'direct time'], rows), '')
    lines.push(...idleSection(r), ...pieceSection(r), ...relaySection(r), ...cpuSection(r, e.cpus))
  }
  return lines.join('\n')
}

/** report.md over several runs (the default 100 Mbit and 25 Mbit lines): each run's goals, and where its report is. */
export function renderLinesMarkdown (reports: SwarmReport[], dirs: string[]): string {
  const lines = ['# shoal swarm benchmark: the runs', '']
  reports.forEach((report, i) => {
    const o = report.options
    lines.push(`## ${o.linkMbit} Mbit, ${o.layers} × ${(o.layerBytes / 1024 / 1024).toFixed(0)} MiB ([report](${dirs[i] ?? ''}/report.md))`, '',
      `Physical limit ${secs(report.physicalLimitSeconds)}; load average ${report.environment.loadAverageStart.map(n => n.toFixed(2)).join(' ')} at start.`, '')
    for (const r of report.scenarios) lines.push(`### ${r.scenario}`, '', scenarioTable(r), '', goalsTable(r), '')
  })
  return lines.join('\n')
}

/** Where a prefetch put each layer: `sha256:abc… on h3` for a whole copy, `sha256:abc… in 8 stripes on h0, h1, …` by pieces. */
export function placementText (spread: Array<{ layer: string, host: string, stripe?: { index: number, count: number } }>): string {
  const byLayer = new Map<string, typeof spread>()
  for (const s of spread) byLayer.set(s.layer, [...byLayer.get(s.layer) ?? [], s])
  return [...byLayer].map(([layer, shares]) => {
    const count = shares[0]?.stripe?.count
    const hosts = [...new Set(shares.map(s => s.host))].sort().join(', ')
    return `${layer.slice(0, 19)}… ${count == null ? 'whole' : `in ${count} stripes`} on ${hosts}`
  }).join('; ')
}
