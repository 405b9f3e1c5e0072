/**
 * chart-<scenario>.svg: completion time per host, swarm against direct, as grouped bars with the
 * physical limit as a rule; a Vega-Lite spec rendered to SVG headless by Vega.
 */
import { writeFile } from 'node:fs/promises'
import * as vega from 'vega'
import * as vegaLite from 'vega-lite'
import type { ScenarioReport } from './report.ts'

export async function writeChart (file: string, r: ScenarioReport, physicalLimitSeconds: number): Promise<void> {
  const values: Array<{ host: string, pull: string, seconds: number }> = []
  r.swarm.hosts.forEach((h, i) => {
    if (h.seconds != null) values.push({ host: `host ${i}`, pull: 'swarm', seconds: h.seconds })
    const d = r.direct.hosts[i]
    if (d?.seconds != null) values.push({ host: `host ${i}`, pull: 'direct', seconds: d.seconds })
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
          color: { field: 'pull', type: 'nominal', sort: ['swarm', 'direct'], title: 'pull', scale: { range: ['#1f77b4', '#ff7f0e'] } }
        }
      },
      {
        data: { values: [{ limit: physicalLimitSeconds }] },
        mark: { type: 'rule', strokeDash: [4, 4], color: 'black' },
        encoding: { x: { field: 'limit', type: 'quantitative' } }
      }
    ]
  }
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' })
  try {
    await writeFile(file, await view.toSVG())
  } finally {
    view.finalize()
  }
}
