/**
 * chart-<scenario>.svg: completion time per host, swarm against direct, as grouped bars with the
 * physical limit as a rule; links-<scenario>.svg: each swarm host's inbound rate and the origin's
 * outbound rate each second, against the link rate. Vega-Lite specs rendered to SVG headless by Vega.
 */
import { writeFile } from 'node:fs/promises'
import * as vega from 'vega'
import * as vegaLite from 'vega-lite'
import type { ScenarioReport } from './report.ts'

export async function writeChart (file: string, r: ScenarioReport, physicalLimitSeconds: number): Promise<void> {
  const values: Array<{ host: string, pull: string, seconds: number, failed?: string }> = []
  const killed = new Set(r.swarm.killed?.hosts ?? [])
  r.swarm.hosts.forEach((h, i) => {
    values.push(bar(`host ${i}`, 'swarm', h, killed.has(h.host)))
    const d = r.direct.hosts[i]
    if (d != null) values.push(bar(`host ${i}`, 'direct', d, false))
  })
  const spec: vegaLite.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `${r.scenario}: completion time per host`, subtitle: `dashed: physical limit (image bytes / link rate) ${physicalLimitSeconds.toFixed(1)} s` },
    width: 480,
    background: 'white',
    layer: [
      {
        data: { values },
        mark: 'bar',
        encoding: {
          y: { field: 'host', type: 'nominal', title: null, sort: null },
          yOffset: { field: 'pull', sort: ['swarm', 'direct'] },
          x: { field: 'seconds', type: 'quantitative', title: 'seconds from the host\'s start to a verified image' },
          color: { field: 'pull', type: 'nominal', sort: ['swarm', 'direct'], title: 'pull', scale: { range: ['#1f77b4', '#ff7f0e'] } },
          // A failed pull is drawn to the moment it failed, hatched grey, and labelled.
          opacity: { condition: { test: 'datum.failed != null', value: 0.35 }, value: 1 }
        }
      },
      {
        data: { values: values.filter(v => v.failed != null) },
        mark: { type: 'text', align: 'left', dx: 4, fontSize: 10, color: '#b00' },
        encoding: {
          y: { field: 'host', type: 'nominal', sort: null },
          yOffset: { field: 'pull', sort: ['swarm', 'direct'] },
          x: { field: 'seconds', type: 'quantitative' },
          text: { field: 'failed' }
        }
      },
      {
        data: { values: [{ limit: physicalLimitSeconds }] },
        mark: { type: 'rule', strokeDash: [4, 4], color: 'black' },
        encoding: { x: { field: 'limit', type: 'quantitative' } }
      }
    ]
  }
  await render(file, spec)
}

/** A host's bar: to its end, labelled when the pull failed or churn killed it (the report's list, not its error text). */
function bar (host: string, pull: string, result: ScenarioReport['swarm']['hosts'][number], killed: boolean): { host: string, pull: string, seconds: number, failed?: string } {
  if (result.verified && result.seconds != null) return { host, pull, seconds: result.seconds }
  return { host, pull, seconds: result.seconds ?? result.endedSeconds ?? 0, failed: killed ? 'killed' : 'failed' }
}

/** Inbound Mbit/s of each swarm host and outbound of the origin, each second; nothing when links were not sampled. */
export async function writeLinkChart (file: string, r: ScenarioReport): Promise<boolean> {
  const links = r.swarm.links
  if (links == null) return false
  const values: Array<{ link: string, seconds: number, mbit: number }> = []
  for (const s of links.series) {
    const isHost = /^h\d+$/.test(s.machine)
    if (!isHost && s.machine !== 'origin') continue
    const rates = isHost ? s.inBytesPerSecond : s.outBytesPerSecond
    rates.forEach((rate, i) => values.push({ link: isHost ? `${s.machine} in` : 'origin out', seconds: (i + 1) * links.intervalSeconds, mbit: rate * 8 / 1e6 }))
  }
  const spec: vegaLite.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `${r.scenario}: link use each second (swarm)`, subtitle: `dashed: the link rate, ${(links.linkBytesPerSecond * 8 / 1e6).toFixed(0)} Mbit/s` },
    width: 560,
    height: 240,
    background: 'white',
    layer: [
      {
        data: { values },
        mark: { type: 'line', strokeWidth: 1.2, interpolate: 'step-before' },
        encoding: {
          x: { field: 'seconds', type: 'quantitative', title: 'seconds from the phase start' },
          y: { field: 'mbit', type: 'quantitative', title: 'Mbit/s' },
          color: { field: 'link', type: 'nominal', title: null }
        }
      },
      {
        data: { values: [{ rate: links.linkBytesPerSecond * 8 / 1e6 }] },
        mark: { type: 'rule', strokeDash: [4, 4], color: 'black' },
        encoding: { y: { field: 'rate', type: 'quantitative' } }
      }
    ]
  }
  await render(file, spec)
  return true
}

async function render (file: string, spec: vegaLite.TopLevelSpec): Promise<void> {
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' })
  try {
    await writeFile(file, await view.toSVG())
  } finally {
    view.finalize()
  }
}
