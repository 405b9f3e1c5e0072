import test from 'ava'
import { LinkSampler } from '../bench/src/swarm/link-sampler.ts'
import { busyShares, parseProcStat, readCpuTimes } from '../bench/src/swarm/machine-cpu.ts'
import type { CpuTimes } from '../bench/src/swarm/machine-cpu.ts'

test('the cpu line of /proc/stat: steal counts as busy, iowait as idle; per-core lines and a bad line are not read', t => {
  const text = [
    'cpu  100 10 50 800 20 5 15 30 7 0',
    'cpu0 50 5 25 400 10 2 7 15 3 0',
    'intr 12345'
  ].join('\n')
  t.deepEqual(parseProcStat(text), { busy: 100 + 10 + 50 + 5 + 15 + 30, total: 210 + 800 + 20 })
  t.is(parseProcStat('cpu0 1 2 3 4\n'), undefined, 'no aggregate line')
  t.is(parseProcStat('cpu  1 2 x 4\n'), undefined)
  t.is(parseProcStat(''), undefined)
})

test('busy shares between readings; a missing reading or no tick is NaN, not a guess', t => {
  const r = (busy: number, total: number): CpuTimes => ({ busy, total })
  const shares = busyShares([r(0, 0), r(50, 100), r(150, 200), undefined, r(400, 500), r(400, 500)])
  t.deepEqual(shares.slice(0, 2), [0.5, 1])
  t.true(Number.isNaN(shares[2]) && Number.isNaN(shares[3]), 'an interval touching a missing reading')
  t.true(Number.isNaN(shares[4]), 'no tick passed')
  t.deepEqual(busyShares([r(1, 1)]), [])
})

test('on Linux the machine\'s own /proc/stat reads, and it only grows', async t => {
  const a = await readCpuTimes()
  if (a == null) return t.pass('no /proc/stat here')
  const b = await readCpuTimes()
  t.true(b != null && b.total >= a.total && b.busy >= a.busy && a.busy <= a.total)
})

test('the link sampler reads the CPU at the moments it reads the links: one share per interval', async t => {
  let ticks = 0
  const counters = async (): Promise<Map<string, { inBytes: number, outBytes: number }>> => new Map([['h0', { inBytes: ticks * 10, outBytes: 0 }]])
  // Each reading adds 100 ticks, 75 of them busy.
  const cpu = async (): Promise<CpuTimes> => { ticks++; return { busy: 75 * ticks, total: 100 * ticks } }
  const sampler = new LinkSampler(counters, { intervalMs: 20, linkBytesPerSecond: 1_000, cpu })
  sampler.start()
  await new Promise(resolve => setTimeout(resolve, 90))
  const u = await sampler.stop()
  t.true((u.cpuBusy?.length ?? 0) >= 2)
  t.is(u.cpuBusy?.length, u.series[0]?.inBytesPerSecond.length, 'as many CPU intervals as link intervals')
  t.true(u.cpuBusy?.every(share => share === 0.75))
  const plain = new LinkSampler(counters, { intervalMs: 20, linkBytesPerSecond: 1_000 })
  plain.start()
  t.is((await plain.stop()).cpuBusy, undefined, 'not sampled: no field')
})
