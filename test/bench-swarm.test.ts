import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import type { SwarmReport } from '../bench/src/swarm/report.ts'
import { Topology, netnsAvailable } from '../bench/src/swarm/netns.ts'
import { tempDir } from './helpers/temp.ts'

const execFileAsync = promisify(execFile)
const BENCH = fileURLToPath(new URL('../bench/src/main.ts', import.meta.url))
const HOSTS = 3
const LINK_MBIT = 400

/** A small `fresh` through the bench's own command line: 3 hosts, 2 layers of 2 MiB, fast links. */
async function runSmallFresh (t: ExecutionContext, mode: 'netns' | 'loopback', extra: string[]): Promise<{ report: SwarmReport, out: string }> {
  const out = await tempDir(t, `bench-swarm-${mode}`)
  const args = [BENCH, 'swarm', '--hosts', String(HOSTS), '--layers', '2', '--layer-mb', '2', '--link-mbit', String(LINK_MBIT), '--mode', mode, '--out', out, ...extra]
  const { stdout } = await execFileAsync(process.execPath, args, { timeout: 90_000, maxBuffer: 16 * 1024 * 1024 })
  t.log(stdout.split('\n').filter(line => line.startsWith('[')).join('\n'))
  return { report: JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as SwarmReport, out }
}

async function checkReport (t: ExecutionContext, mode: 'netns' | 'loopback', warm = false): Promise<void> {
  // netns: every machine's namespace set to reno, which differs from this VM's default (bbr).
  const { report, out } = await runSmallFresh(t, mode, [...(warm ? ['--warm-agents'] : []), ...(mode === 'netns' ? ['--tcp-cc', 'reno'] : [])])
  t.is(report.mode, mode)
  t.is(report.scenario, 'fresh')
  t.is(report.linkBytesPerSecond, LINK_MBIT * 125_000)
  const layerBytes = report.image.layers.reduce((n, l) => n + l.size, 0)
  t.is(layerBytes, 2 * 2 * 1024 * 1024)
  t.true(report.imageBytes > layerBytes, 'image bytes count the config and the manifest too')
  t.is(report.physicalLimitSeconds, report.imageBytes / report.linkBytesPerSecond)

  for (const side of [report.swarm, report.direct]) {
    t.is(side.hosts.length, HOSTS)
    t.deepEqual(side.failed, [])
    for (const host of side.hosts) t.true(host.verified, `${host.host} pulled every digest right: ${host.error ?? ''}`)
    const c = side.completionSeconds
    t.is(c.n, HOSTS)
    t.true(c.min > 0 && c.min <= c.p50 && c.p50 <= c.p90 && c.p90 <= c.max, JSON.stringify(c))
    t.is(side.completionRatio.p50, c.p50 / report.physicalLimitSeconds)
    t.is(side.originEgressRatio, side.originEgressBytes / report.imageBytes)
  }
  // Every direct client took the whole image over the origin's link; the swarm took every byte from it at least once.
  t.true(report.direct.originEgressBytes >= HOSTS * report.imageBytes, `direct egress ${report.direct.originEgressBytes}`)
  t.true(report.swarm.originEgressBytes >= layerBytes, `swarm egress ${report.swarm.originEgressBytes}`)
  // Each agent received each blob (layers and config) once, from the origin or from a peer: counted
  // from the pull's start, so a warm-up's image (three more layers) is not in it.
  const traffic = report.swarm.trafficBySource
  t.is(traffic.perAgent.length, HOSTS)
  const configBytes = report.imageBytes - layerBytes
  t.true(traffic.fromOriginBytes + traffic.fromPeersBytes >= HOSTS * layerBytes)
  t.true(traffic.fromOriginBytes + traffic.fromPeersBytes <= HOSTS * (layerBytes + configBytes))
  t.true(report.goals.length > 0 && report.goals.every(g => typeof g.pass === 'boolean'))
  // Piece latency and waits come from the agents' histograms and counters.
  t.true(traffic.perAgent.every(a => typeof a.waitSeconds['stream-head'] === 'number'))
  const pieces = traffic.perAgent.reduce((n, a) => n + (a.pieceLatency.peer?.pieces ?? 0) + (a.pieceLatency.origin?.pieces ?? 0), 0)
  t.true(pieces > 0, 'pieces were timed')

  if (mode === 'netns') {
    // Every host's link was sampled each second: what came in is at least the layers it pulled.
    const links = report.swarm.links
    t.truthy(links)
    for (let i = 0; i < HOSTS; i++) {
      const host = links?.series.find(s => s.machine === `h${i}`)
      // Each interval's rate times its real length: a sample that came late under load spans more than a second.
      const received = (host?.inBytesPerSecond ?? []).reduce((sum, rate, j) => sum + rate * (links?.secondsPerInterval?.[j] ?? 0), 0)
      t.true(received >= 0.8 * layerBytes, `h${i} received ${received} bytes on its link`)
    }
    t.is(report.swarm.idle?.length, HOSTS)
    // The origin's namespace counts its TCP retransmissions for each phase; the same bytes are in its egress.
    for (const side of [report.swarm, report.direct]) t.true(Number.isSafeInteger(side.originRetransmits) && (side.originRetransmits ?? -1) >= 0, `retransmits ${side.originRetransmits}`)
    t.true((await readFile(join(out, 'links-fresh.svg'), 'utf8')).startsWith('<svg'))
  }

  const markdown = await readFile(join(out, 'report.md'), 'utf8')
  t.regex(markdown, new RegExp(`mode: ${mode}`))
  if (mode === 'netns') {
    t.is(report.tcpCongestionControl, 'reno', 'read back from the origin\'s namespace')
    t.regex(markdown, /TCP congestion control: reno \(--tcp-cc\)/)
  } else {
    t.regex(report.tcpCongestionControl ?? '', /^[a-z]/, 'the bench\'s own namespace\'s')
    t.regex(markdown, /TCP congestion control: [a-z0-9_]+ \(the machine's default\)/)
  }
  if (warm) {
    t.true((report.swarm.warmUp?.bytes ?? 0) > 3 * 1024 * 1024 && (report.swarm.warmUp?.seconds ?? 0) > 0, JSON.stringify(report.swarm.warmUp))
    t.regex(markdown, /\*\*Warm-up\*\*/)
  } else {
    t.is(report.swarm.warmUp, undefined)
  }
  if (mode === 'loopback') t.is(report.swarm.originRetransmits, undefined, 'loopback shares the bench\'s TCP stack: nothing to count')
  const svg = await readFile(join(out, 'chart.svg'), 'utf8')
  t.true(svg.startsWith('<svg'), 'chart.svg is an SVG document')
  t.regex(svg, /host 2/)
}

// Decided before the tests are declared so that a machine without network namespaces reports the
// test as skipped, with the reason, rather than as a pass.
const netns = await netnsAvailable()
if (!netns.ok) console.warn(`bench swarm netns test skipped: ${netns.why}; the loopback test covers the harness`)
const netnsTest = netns.ok ? test.serial : test.serial.skip

netnsTest('bench swarm, a small fresh in network namespaces: every host pulls the right digests and report.json holds consistent figures', async t => {
  await checkReport(t, 'netns')
})

netnsTest('a congestion control the kernel does not offer namespaces stops the set-up with the ones it does', async t => {
  const topology = await Topology.create({ congestionControl: 'nosuchcc' })
  t.teardown(async () => { await topology.remove() })
  await t.throwsAsync(topology.addMachine({ name: 'h0', octet: 10 }), { name: 'NetnsError', message: /"nosuchcc" cannot be set in .*; allowed there: .*reno/ })
})

test.serial('bench swarm, the same small fresh in loopback mode, with the agents warmed first (--warm-agents)', async t => {
  await checkReport(t, 'loopback', true)
})
