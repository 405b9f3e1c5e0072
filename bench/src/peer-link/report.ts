import { renderProfile } from '../mirror/report.ts'
import type { ProfileSummary } from '../mirror/profile.ts'
import { summarize } from '../mirror/stats.ts'
import type { Summary } from '../mirror/stats.ts'
import type { KeyMode, PeerLinkOptions } from './args.ts'
import { GOAL_PEAK_RSS_MIB_MAX, GOAL_THROUGHPUT_RATIO_MIN, MIB } from './constants.ts'
import type { RssCase } from './sections.ts'
import { markdownTable } from '../harness.ts'
import { describeMachine } from '../machine.ts'
import type { MachineFacts } from '../machine.ts'

/** One swarm-key mode: per round, bare and shoal MB/s (10^6 bytes per second) and shoal/bare. */
export interface LinkResult {
  keyMode: KeyMode
  bareMBps: number[]
  /** Node's own TLS over TCP, no libp2p (the native reference: what a byte costs below libp2p's stack). */
  tlsMBps: number[]
  shoalMBps: number[]
  ratio: number[]
  /**
   * CPU seconds per GiB moved, per round: the bare and TLS servers and fetchers (their warm-up
   * counted in both bytes and time), and agents A (uploader) and B (receiver) during the timed pull.
   */
  cpuSecondsPerGiB: { bareServer: number[], bareFetcher: number[], tlsServer: number[], tlsFetcher: number[], a: number[], b: number[] }
  rss?: RssCase
}

export interface PeerLinkReport {
  startedAt: string
  finishedAt: string
  options: Omit<PeerLinkOptions, 'outDir'>
  environment: MachineFacts & { loadAverageEnd: number[] }
  links: LinkResult[]
  profiles?: Record<string, ProfileSummary>
}

const KEY_LABEL: Record<KeyMode, string> = { off: 'no swarm key', on: 'swarm key (bare: pnet; shoal: its own protector)' }

const spread = (s: Summary, digits: number): string => Number.isNaN(s.median)
  ? '–'
  : `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`
const verdict = (pass: boolean | undefined): string => pass == null ? 'not run' : pass ? 'PASS' : 'MISS'

/** The table printed at the end: medians (min–max) over the rounds, the ratios and the goals. */
export function resultsTable (report: PeerLinkReport): string {
  const mb = report.options.blobBytes / MIB
  const rows: string[][] = []
  for (const link of report.links) {
    const key = KEY_LABEL[link.keyMode]
    if (link.bareMBps.length > 0 || link.tlsMBps.length > 0 || link.shoalMBps.length > 0) {
      const ratio = summarize(link.ratio)
      rows.push([`${mb} MiB over one link, ${key}`, spread(summarize(link.bareMBps), 0), spread(summarize(link.tlsMBps), 0), spread(summarize(link.shoalMBps), 0),
        spread(ratio, 2), `shoal/bare >= ${GOAL_THROUGHPUT_RATIO_MIN}`, verdict(link.ratio.length === 0 ? undefined : ratio.median >= GOAL_THROUGHPUT_RATIO_MIN)])
    }
    if (link.rss != null) {
      const r = link.rss
      const peak = r.peakRssBytes / MIB
      rows.push([`A's peak RSS, ${mb} MiB to ${r.peers} peers at once, ${key}${r.peakReset ? '' : ' (lifetime peak)'}`, '–', '–',
        `${peak.toFixed(0)} MiB (${(r.startRssBytes / MIB).toFixed(0)} MiB as they started); peers ${summarize(r.perPeerMBps).median.toFixed(0)} MB/s each`, '–', `<= ${GOAL_PEAK_RSS_MIB_MAX} MiB`, verdict(peak <= GOAL_PEAK_RSS_MIB_MAX)])
    }
  }
  return markdownTable(['measure', 'bare MB/s: median (min–max)', 'TLS MB/s', 'shoal MB/s', 'shoal/bare', 'goal', 'result'], rows)
}

export function renderMarkdown (report: PeerLinkReport): string {
  const e = report.environment
  const o = report.options
  const lines = [
    '# shoal peer-link benchmark',
    '',
    `${report.startedAt} – ${report.finishedAt}; ${describeMachine(e)}; load average at end ${e.loadAverageEnd.map(n => n.toFixed(2)).join(' ')}.`,
    `${o.runs} rounds per swarm-key mode; each round is one bare js-libp2p series and one TLS series (Node's own TLS 1.3 over TCP, ` +
      'ChaCha20-Poly1305, no libp2p; with no swarm key in either mode), each with fresh server and fetcher processes and an untimed warm-up, and ' +
      'one fresh agent B pulling the blob from agent A through its mirror port (after an untimed primer blob), back to back. ' +
      'MB/s are 10^6 bytes per second; the shoal client reads and sha256-verifies every byte, and B\'s metrics must show every byte came from the peer.',
    '',
    resultsTable(report),
    '',
    '## Rounds',
    '',
    markdownTable(['swarm key', 'round', 'bare MB/s', 'TLS MB/s', 'shoal MB/s', 'shoal/bare', 'CPU s/GiB: bare server', 'bare fetcher', 'TLS server', 'TLS fetcher', 'agent A', 'agent B'],
      // A round of any side (`--only` may run one), a missing one as "–".
      report.links.flatMap(l => Array.from({ length: Math.max(l.bareMBps.length, l.tlsMBps.length, l.shoalMBps.length) }, (_, i) => {
        const c = l.cpuSecondsPerGiB
        const cell = (list: number[], digits: number): string => list[i] == null ? '–' : list[i].toFixed(digits)
        return [l.keyMode, String(i + 1), cell(l.bareMBps, 0), cell(l.tlsMBps, 0), cell(l.shoalMBps, 0), cell(l.ratio, 2),
          ...[c.bareServer, c.bareFetcher, c.tlsServer, c.tlsFetcher, c.a, c.b].map(list => cell(list, 2))]
      }))),
    ''
  ]
  for (const [role, p] of Object.entries(report.profiles ?? {})) lines.push(renderProfile(role, p), '')
  return lines.join('\n')
}
