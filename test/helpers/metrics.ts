import { request } from 'undici'

/** One scrape of an agent's `/metrics`: `value(name, labels)` reads a sample (0 when absent). */
export interface Scrape {
  text: string
  value: (name: string, labels?: Record<string, string>) => number
}

export async function scrapeMetrics (agentUrl: string): Promise<Scrape> {
  const res = await request(`${agentUrl}/metrics`, { signal: AbortSignal.timeout(20_000) })
  const text = await res.body.text()
  if (res.statusCode !== 200) throw new Error(`GET ${agentUrl}/metrics: ${res.statusCode}`)
  return {
    text,
    value: (name, labels = {}) => {
      const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
      for (const line of text.split('\n')) {
        const match = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line)
        if (match?.[1] !== name) continue
        const have = (match[2] ?? '').split(',').filter(s => s !== '')
        if (wanted.length === have.length && wanted.every(w => have.includes(w))) return Number(match[3])
      }
      return 0
    }
  }
}
