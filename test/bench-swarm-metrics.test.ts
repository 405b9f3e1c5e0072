import test from 'ava'
import { agentTraffic } from '../bench/src/swarm/metrics.ts'

/** An agent's /metrics text with these counters (and first-byte histogram buckets for peers). */
function metrics (m: { origin: number, peer: number, served: number, wait: number, cpu: number, majors: number, buckets: [number, number, number] }): string {
  return [
    `shoal_agent_blob_received_bytes_total{source="origin"} ${m.origin}`,
    `shoal_agent_blob_received_bytes_total{source="peer"} ${m.peer}`,
    `shoal_agent_peer_served_bytes_total ${m.served}`,
    `shoal_agent_piece_wait_seconds_total{cause="holder-busy"} ${m.wait}`,
    `shoal_agent_piece_first_byte_seconds_bucket{le="0.1",source="peer"} ${m.buckets[0]}`,
    `shoal_agent_piece_first_byte_seconds_bucket{le="1",source="peer"} ${m.buckets[1]}`,
    `shoal_agent_piece_first_byte_seconds_bucket{le="+Inf",source="peer"} ${m.buckets[2]}`,
    `shoal_agent_piece_first_byte_seconds_count{source="peer"} ${m.buckets[2]}`,
    `shoal_agent_process_cpu_user_seconds_total ${m.cpu}`,
    'shoal_agent_process_cpu_system_seconds_total 1',
    `shoal_agent_nodejs_gc_duration_seconds_count{kind="major"} ${m.majors}`,
    ''
  ].join('\n')
}

test('an agent\'s figures count from the phase\'s start: a prefetch or a warm-up before it is not the pull\'s', t => {
  // Before the pull: a prefetch read 50 bytes from the origin; its 100 pieces all came within 100 ms.
  const before = metrics({ origin: 50, peer: 10, served: 5, wait: 2, cpu: 3, majors: 4, buckets: [100, 100, 100] })
  // The pull: 40 more from peers, 20 pieces, all slower than 100 ms.
  const now = metrics({ origin: 50, peer: 50, served: 25, wait: 2.5, cpu: 7, majors: 6, buckets: [100, 120, 120] })
  const pull = agentTraffic('h0', now, before)
  t.is(pull.fromOriginBytes, 0)
  t.is(pull.fromPeersBytes, 40)
  t.is(pull.toPeersBytes, 20)
  t.is(pull.waitSeconds['holder-busy'], 0.5)
  t.is(pull.cpu.seconds, 4)
  t.is(pull.cpu.majorGcs, 2)
  t.is(pull.pieceLatency.peer?.pieces, 20)
  // Over the pull alone every piece took 0.1-1 s; with the prefetch's counted, the median was under 0.1 s.
  const p50 = pull.pieceLatency.peer?.firstByte.p50 ?? NaN
  t.true(p50 > 0.1 && p50 <= 1, `p50 ${p50}`)
  t.true((agentTraffic('h0', now).pieceLatency.peer?.firstByte.p50 ?? NaN) <= 0.1, 'since the agent started')
  t.is(agentTraffic('h0', now).fromOriginBytes, 50)
})
